//! Where the API is and who is calling, and the private files that say so. The URL: `--url`, then
//! `CIB_URL`. The token: `CIB_TOKEN`, then one line of standard input (`--token-stdin`), never argv
//! (`ps` and shell history show it to others). Then the config file
//! (`$XDG_CONFIG_HOME/cloud-iam-broker/config.toml`, or `~/.config/…`), profile by profile (`--profile`,
//! `CIB_PROFILE`), as the AWS CLI and Granted do:
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
use std::path::{Path, PathBuf};

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

/// The environment variable the token is read from.
pub const TOKEN_ENV: &str = "CIB_TOKEN";

pub fn load() -> Result<File, String> {
    match config_path() {
        Some(path) => load_from(&path),
        None => Ok(File::default()),
    }
}

fn load_from(path: &Path) -> Result<File, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes a profile, keeping the others; the file holds a token, so it is private (0600).
pub fn save(profile_name: Option<&str>, profile: Profile) -> Result<PathBuf, String> {
    let path = config_path().ok_or("no home directory to keep the config in")?;
    save_to(&path, profile_name, profile)?;
    Ok(path)
}

fn save_to(path: &Path, profile_name: Option<&str>, profile: Profile) -> Result<(), String> {
    let mut file = load_from(path)?;
    match profile_name {
        None | Some("default") => file.default = profile,
        Some(name) => {
            file.profiles.insert(name.to_string(), profile);
        }
    }
    let text = toml::to_string(&file).map_err(|e| e.to_string())?;
    write_private(path, text.as_bytes())
}

/// Creates `dir` (and missing parents) and makes `dir` itself 0700, also when it already existed
/// with a looser mode: it holds tokens or credentials. Parents are left as they are (`~/.config`
/// is the user's to set).
pub fn private_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Writes a file only its owner can read (0600) in a folder only its owner can enter (0700).
/// The bytes go to a new temporary file, created 0600, that is then renamed over `path`: the
/// mode never comes from an older file (open with `mode` only applies on creation, so an existing
/// 0644 file stayed 0644), and a reader never sees half a file.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    // Always a folder of our own (never the working directory, which is not ours to chmod).
    let (Some(dir), Some(name)) = (path.parent().filter(|d| !d.as_os_str().is_empty()), path.file_name()) else {
        return Err(format!("{}: not a file in a folder", path.display()));
    };
    private_dir(dir)?;
    // One name per write, even two at once in one process (tests run in threads).
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{}.{}.{n}.tmp", name.to_string_lossy(), std::process::id()));
    // Left by a crashed run that had this process id, if anything.
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        // The umask can only take bits away from 0600, but say it outright.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(tmp.as_path(), e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(path, e)
    })
}

/// Refusing `--token` on argv: every user of the machine can read it in `ps`, and it stays in
/// shell history.
pub const TOKEN_ON_ARGV: &str = "--token on the command line is refused: other users see it in `ps` and it stays in \
shell history. Set CIB_TOKEN, pass --token-stdin (one line on standard input), or save it in the config file \
with `cib configure`";

/// The token from outside the config file, first that has one: the environment (`CIB_TOKEN`),
/// then one line of standard input when `stdin` (`--token-stdin`). `None` leaves it to the
/// profile (`resolve`). A token given on argv (`on_argv`) is refused whatever else there is.
pub fn token(
    on_argv: bool,
    env: Option<String>,
    stdin: bool,
    read_line: impl FnOnce() -> Result<String, String>,
) -> Result<Option<String>, String> {
    if on_argv {
        return Err(TOKEN_ON_ARGV.into());
    }
    if let Some(t) = env.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
        return Ok(Some(t));
    }
    if stdin {
        return read_line().map(Some);
    }
    Ok(None)
}

/// Resolves url and token: the flag or environment (`token`), then the named profile, or the
/// default one.
pub fn resolve(
    flag_url: Option<String>,
    token: Option<String>,
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
    let token = token
        .or(chosen.token)
        .ok_or("no token: set CIB_TOKEN, pass --token-stdin, or run `cib configure`")?;
    Ok((url.trim_end_matches('/').to_string(), token))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh folder of its own under the system's temporary one.
    pub(crate) fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cib-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    fn loosen(p: &Path, m: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        assert_eq!(mode(p), m);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600_in_0700_folders_even_when_they_existed_looser() {
        let root = scratch("private");
        let dir = root.join("cloud-iam-broker");
        std::fs::create_dir_all(&dir).unwrap();
        loosen(&dir, 0o755);
        let path = dir.join("config.toml");
        std::fs::write(&path, "[default]\nurl = \"http://old\"\n").unwrap();
        loosen(&path, 0o644);

        save_to(
            &path,
            Some("staging"),
            Profile {
                url: Some("http://127.0.0.1:3000".into()),
                token: Some("eyJ.secret.sig".into()),
            },
        )
        .unwrap();
        assert_eq!(mode(&path), 0o600, "the config file");
        assert_eq!(mode(&dir), 0o700, "the config folder");
        let file = load_from(&path).unwrap();
        assert_eq!(file.default.url.as_deref(), Some("http://old"), "other profiles kept");
        assert_eq!(file.profiles["staging"].token.as_deref(), Some("eyJ.secret.sig"));
        let left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["config.toml"], "no temporary file left behind");

        // A file and folder that do not exist yet are made private too.
        let fresh = root.join("cache").join("credentials").join("x.json");
        write_private(&fresh, b"{}").unwrap();
        assert_eq!(mode(&fresh), 0o600);
        assert_eq!(mode(fresh.parent().unwrap()), 0o700);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_token_on_argv_is_refused_and_the_environment_comes_before_stdin() {
        let never = || -> Result<String, String> { panic!("standard input is not read") };
        for env in [None, Some("eyJ.env.sig".to_string())] {
            let refused = token(true, env, true, never).unwrap_err();
            for hint in ["CIB_TOKEN", "--token-stdin", "config file"] {
                assert!(refused.contains(hint), "{refused}");
            }
        }
        assert_eq!(
            token(false, Some("eyJ.env.sig".into()), true, never)
                .unwrap()
                .as_deref(),
            Some("eyJ.env.sig")
        );
        assert_eq!(
            token(false, Some(String::new()), true, || Ok("eyJ.stdin.sig".into()))
                .unwrap()
                .as_deref(),
            Some("eyJ.stdin.sig"),
            "an empty CIB_TOKEN is no token"
        );
        assert_eq!(
            token(false, None, false, never).unwrap(),
            None,
            "left to the config file"
        );
    }
}
