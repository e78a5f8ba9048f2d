//! Where the API is and who is calling: flags, then environment (`CIB_URL`, `CIB_TOKEN`,
//! `CIB_PROFILE`), then the config file (`$XDG_CONFIG_HOME/cloud-iam-broker/config.toml`, or
//! `~/.config/…`), profile by profile, as the AWS CLI and Granted do:
//!
//! ```toml
//! [default]
//! url = "https://abc123.execute-api.eu-west-1.amazonaws.com"
//! token = "eyJ…"
//!
//! [profiles.staging]
//! url = "http://127.0.0.1:3000"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub url: Option<String>,
    pub token: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct File {
    #[serde(default)]
    pub default: Profile,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

pub fn config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))?;
    Some(base.join("cloud-iam-broker").join("config.toml"))
}

pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".cache")))?;
    Some(base.join("cloud-iam-broker"))
}

pub fn load() -> Result<File, String> {
    let Some(path) = config_path() else {
        return Ok(File::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes a profile, keeping the others; the file holds a token, so it is private (0600).
pub fn save(profile_name: Option<&str>, profile: Profile) -> Result<PathBuf, String> {
    let path = config_path().ok_or("no home directory to keep the config in")?;
    let mut file = load()?;
    match profile_name {
        None | Some("default") => file.default = profile,
        Some(name) => {
            file.profiles.insert(name.to_string(), profile);
        }
    }
    let dir = path.parent().expect("the config path has a folder");
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = toml::to_string(&file).map_err(|e| e.to_string())?;
    write_private(&path, text.as_bytes())?;
    Ok(path)
}

/// Writes a file only its owner can read.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Resolves url and token: flag, environment, named profile, default profile.
pub fn resolve(
    flag_url: Option<String>,
    flag_token: Option<String>,
    profile: Option<&str>,
) -> Result<(String, String), String> {
    let file = load()?;
    let chosen = match profile {
        Some(name) if name != "default" => file
            .profiles
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no profile {name} in the config file"))?,
        _ => file.default.clone(),
    };
    let url = flag_url
        .or(chosen.url)
        .ok_or("no API URL: pass --url, set CIB_URL, or run `cib configure`")?;
    let token = flag_token
        .or(chosen.token)
        .ok_or("no token: pass --token, set CIB_TOKEN, or run `cib configure`")?;
    Ok((url.trim_end_matches('/').to_string(), token))
}
