//! The private credential cache behind `cib credential-process`: where an entry lives, whose it
//! is, what to do with it (serve it while fresh, extend its session near its end, start anew once
//! it has run out: `Plan`), and dropping a session's entries when `cib sessions end` ends it.
//!
//! One file per profile, API URL, caller, account, role and duration, named by a SHA-256 of all
//! of them: a token for another caller, another API or another profile never finds someone
//! else's credentials, and no e-mail, subject or account id appears in a path. Each entry records
//! the session its credentials came from, and the reason it was started with (an extension gives
//! it again). Files are 0600 in 0700 folders (`config::write_private`).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config;

/// Credentials are reused until this long before they expire, then their session is extended.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// The reason an extension gives when its entry recorded none (entries older than extensions).
pub const EXTENSION_REASON: &str = "credential_process extension";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The caller a token names: its `iss` and `sub`, read from the JWT payload WITHOUT checking the
/// signature. That is enough to keep callers apart in one user's own cache (the API checks the
/// token when a session starts); a new token for the same caller reuses the cache. A token that
/// is not a readable JWT stands for itself (its hash).
pub fn identity(token: &str) -> String {
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    match claims {
        Some(c) if !c["sub"].is_null() => json!({ "iss": c["iss"], "sub": c["sub"] }).to_string(),
        _ => format!("token:{}", hex(&sha2::Sha256::digest(token.as_bytes()))),
    }
}

/// An entry's name: the hash of everything whose change must not find the same credentials.
pub fn key(profile: Option<&str>, url: &str, token: &str, account: &str, role: &str, duration: i64) -> String {
    let scope = json!({
        "profile": profile.unwrap_or("default"),
        "url": url,
        "identity": identity(token),
        "account": account,
        "role": role,
        "duration": duration,
    });
    hex(&sha2::Sha256::digest(scope.to_string().as_bytes()))
}

/// What credential-process does with what the cache holds for it.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// More than five minutes left: hand these out again.
    Serve(Value),
    /// Near their end but not past it: extend the session they came from, giving this reason;
    /// they have `left_seconds` left.
    Extend {
        session_id: String,
        reason: String,
        left_seconds: i64,
    },
    /// Nothing usable (no entry, unreadable, or run out): start a new session.
    Start,
}

/// The plan for one entry (`{session_id, reason, credentials}`) at `now`.
pub fn plan_for(entry: &Value, now: OffsetDateTime) -> Plan {
    let credentials = &entry["credentials"];
    let Some(expires) = credentials["Expiration"]
        .as_str()
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
    else {
        return Plan::Start;
    };
    let left = expires - now;
    if left > REFRESH_BEFORE {
        return Plan::Serve(credentials.clone());
    }
    match entry["session_id"].as_str() {
        Some(session) if left.is_positive() => Plan::Extend {
            session_id: session.to_string(),
            reason: entry["reason"]
                .as_str()
                .filter(|r| !r.trim().is_empty())
                .unwrap_or(EXTENSION_REASON)
                .to_string(),
            left_seconds: left.whole_seconds(),
        },
        _ => Plan::Start,
    }
}

pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// `~/.cache/cloud-iam-broker/credentials` (or under `$XDG_CACHE_HOME`), when there is a home.
    pub fn open() -> Option<Cache> {
        config::cache_dir().map(|d| Cache::at(d.join("credentials")))
    }

    pub fn at(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// What to do with the entry under `key` at `now` (`plan_for`); `Start` when there is none.
    pub fn plan(&self, key: &str, now: OffsetDateTime) -> Plan {
        std::fs::read_to_string(self.path(key))
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .map_or(Plan::Start, |entry| plan_for(&entry, now))
    }

    /// The credential_process JSON cached under `key`, while more than five minutes are left.
    #[cfg(test)]
    pub fn fresh(&self, key: &str, now: OffsetDateTime) -> Option<Value> {
        match self.plan(key, now) {
            Plan::Serve(credentials) => Some(credentials),
            _ => None,
        }
    }

    /// Keeps `credentials` under `key`, with the session they came from and the reason it was
    /// started with.
    pub fn store(&self, key: &str, session_id: &str, reason: &str, credentials: &Value) -> Result<(), String> {
        // The cache's own folder holds nothing else, so it is private too.
        if let Some(parent) = self.dir.parent() {
            config::private_dir(parent)?;
        }
        let entry = json!({ "session_id": session_id, "reason": reason, "credentials": credentials });
        config::write_private(&self.path(key), entry.to_string().as_bytes())
    }

    /// Drops every entry whose credentials came from session `id`, whichever profile or caller it
    /// was cached for: an ended session's credentials are refused by AWS, and handing them out
    /// until they expire would stop credential-process from starting a new session. Returns how
    /// many were dropped.
    pub fn forget_session(&self, id: &str) -> Result<usize, String> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(format!("{}: {e}", self.dir.display())),
        };
        let mut dropped = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let from_session = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .is_some_and(|e| e["session_id"] == id);
            if from_session {
                std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::scratch;

    /// An unsigned JWT: only the payload matters here.
    fn jwt(claims: Value) -> String {
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.sig", b64(&json!({ "alg": "RS256" })), b64(&claims))
    }

    fn credentials(access_key: &str, left: i64) -> Value {
        let expiration = (OffsetDateTime::now_utc() + time::Duration::seconds(left))
            .format(&Rfc3339)
            .unwrap();
        json!({ "Version": 1, "AccessKeyId": access_key, "SecretAccessKey": "s", "SessionToken": "t", "Expiration": expiration })
    }

    const URL: &str = "https://api.example.com";
    const ACCOUNT: &str = "01J0000000000000000000ACCT";
    const ROLE: &str = "arn:aws:iam::123456789012:role/OnCall";

    #[test]
    fn cached_credentials_are_only_served_to_the_same_caller_api_and_profile() {
        let root = scratch("cache-scope");
        let cache = Cache::at(root.join("credentials"));
        let alice = jwt(json!({ "iss": "https://idp", "sub": "alice@example.com", "exp": 1 }));
        let alice_renewed = jwt(json!({ "iss": "https://idp", "sub": "alice@example.com", "exp": 2 }));
        let bob = jwt(json!({ "iss": "https://idp", "sub": "bob@example.com", "exp": 1 }));
        let alice_elsewhere = jwt(json!({ "iss": "https://other-idp", "sub": "alice@example.com" }));
        fn k(profile: Option<&str>, url: &str, token: &str) -> String {
            key(profile, url, token, ACCOUNT, ROLE, 3600)
        }

        let mine = k(None, URL, &alice);
        cache
            .store(&mine, "01JSESSIONALICE", "why", &credentials("AKIAALICE", 3600))
            .unwrap();
        let now = OffsetDateTime::now_utc();
        assert_eq!(cache.fresh(&mine, now).unwrap()["AccessKeyId"], "AKIAALICE");
        assert_eq!(
            k(Some("default"), URL, &alice_renewed),
            mine,
            "a renewed token for the same caller and the default profile by name reuse it"
        );

        for (what, other) in [
            ("another user", k(None, URL, &bob)),
            ("another issuer's user of the same name", k(None, URL, &alice_elsewhere)),
            ("another API", k(None, "http://127.0.0.1:3000", &alice)),
            ("another profile", k(Some("staging"), URL, &alice)),
            ("a token that is no JWT", k(None, URL, "opaque")),
            ("another account", key(None, URL, &alice, "01JOTHER", ROLE, 3600)),
        ] {
            assert_ne!(other, mine, "{what}");
            assert!(cache.fresh(&other, now).is_none(), "{what} is served nothing");
        }
        assert_ne!(
            k(None, URL, "opaque-1"),
            k(None, URL, "opaque-2"),
            "opaque tokens stand for themselves"
        );

        // No one's identity, nor the account, in a path.
        for entry in std::fs::read_dir(&cache.dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert_eq!(name, format!("{mine}.json"));
            assert!(!name.contains("alice") && !name.contains(ACCOUNT), "{name}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn credentials_are_refreshed_five_minutes_before_they_expire() {
        let root = scratch("cache-fresh");
        let cache = Cache::at(root.join("credentials"));
        let now = OffsetDateTime::now_utc();
        cache.store("a", "01JA", "why", &credentials("AKIAA", 301)).unwrap();
        cache.store("b", "01JB", "why", &credentials("AKIAB", 299)).unwrap();
        assert!(cache.fresh("a", now).is_some());
        assert!(cache.fresh("b", now).is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn near_their_end_credentials_extend_their_session_and_once_run_out_a_new_one_starts() {
        let now = OffsetDateTime::now_utc();
        let entry = |left: i64, reason: Value| json!({ "session_id": "01JS", "reason": reason, "credentials": credentials("AKIA", left) });
        assert!(matches!(plan_for(&entry(301, json!("deploy")), now), Plan::Serve(c) if c["AccessKeyId"] == "AKIA"));
        assert!(
            matches!(plan_for(&entry(299, json!("deploy")), now),
                Plan::Extend { session_id, reason, left_seconds } if session_id == "01JS" && reason == "deploy" && (297..=299).contains(&left_seconds)),
            "the reason it was started with is given again"
        );
        assert!(
            matches!(plan_for(&entry(10, Value::Null), now),
                Plan::Extend { reason, .. } if reason == EXTENSION_REASON),
            "an entry from before extensions recorded no reason"
        );
        assert_eq!(
            plan_for(&entry(-1, json!("deploy")), now),
            Plan::Start,
            "run out: its session is over"
        );
        let mut anonymous = entry(10, json!("deploy"));
        anonymous.as_object_mut().unwrap().remove("session_id");
        assert_eq!(plan_for(&anonymous, now), Plan::Start, "no session to extend");
        assert_eq!(plan_for(&json!({ "credentials": {} }), now), Plan::Start);

        let root = scratch("cache-plan");
        let cache = Cache::at(root.join("credentials"));
        assert_eq!(cache.plan("none", now), Plan::Start, "nothing cached");
        cache.store("k", "01JS", "deploy", &credentials("AKIA", 120)).unwrap();
        assert!(
            matches!(cache.plan("k", now), Plan::Extend { session_id, reason, .. } if session_id == "01JS" && reason == "deploy")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn ending_a_session_drops_its_cached_credentials_and_only_those() {
        let root = scratch("cache-end");
        let cache = Cache::at(root.join("credentials"));
        let now = OffsetDateTime::now_utc();
        let alice = jwt(json!({ "iss": "https://idp", "sub": "alice@example.com" }));
        let ended = key(None, URL, &alice, ACCOUNT, ROLE, 3600);
        let same_session_other_profile = key(Some("staging"), URL, &alice, ACCOUNT, ROLE, 3600);
        let other = key(None, URL, &alice, ACCOUNT, ROLE, 900);
        cache
            .store(&ended, "01JENDED", "why", &credentials("AKIA1", 3600))
            .unwrap();
        cache
            .store(
                &same_session_other_profile,
                "01JENDED",
                "why",
                &credentials("AKIA1", 3600),
            )
            .unwrap();
        cache
            .store(&other, "01JLIVE", "why", &credentials("AKIA2", 3600))
            .unwrap();
        std::fs::write(root.join("credentials").join("notes.txt"), "01JENDED").unwrap();

        assert_eq!(cache.forget_session("01JENDED").unwrap(), 2);
        assert!(cache.fresh(&ended, now).is_none());
        assert!(cache.fresh(&same_session_other_profile, now).is_none());
        assert_eq!(
            cache.fresh(&other, now).unwrap()["AccessKeyId"],
            "AKIA2",
            "another session's stay"
        );
        assert!(
            root.join("credentials").join("notes.txt").exists(),
            "only cache entries are read"
        );
        assert_eq!(cache.forget_session("01JENDED").unwrap(), 0);
        assert_eq!(
            Cache::at(root.join("none")).forget_session("01JENDED").unwrap(),
            0,
            "no cache yet: nothing to drop"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn cache_entries_are_private_even_over_looser_ones() {
        use std::os::unix::fs::PermissionsExt;
        let root = scratch("cache-mode");
        let dir = root.join("credentials");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("k.json");
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        Cache::at(dir.clone())
            .store("k", "01JS", "why", &credentials("AKIA", 3600))
            .unwrap();
        fn mode(p: &std::path::Path) -> u32 {
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        }
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root), 0o700);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
