//! The AWS CLI's credential_process: JSON on standard output, nothing else (progress, while an
//! approval is awaited, goes to standard error). What the private cache (`cache`) holds decides
//! what is done: served again while fresh, its session extended near its end, a new session
//! once it has run out or cannot be extended.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::approval::{self, wait_timeout};
use crate::args::JitArgs;
use crate::cache::{self, Cache, Plan};
use crate::client::{Client, Failure, exit};
use crate::sessions::start_jit;
use crate::{progress, seconds};

/// An extension refused with one of these calls for a new session rather than a failure: the
/// session is gone (404), no longer active (409), or would end beyond the grant's maximum (422).
/// An extension already waiting for approval (409 `extension-pending`) is waited for instead:
/// a new start would be a second request beside it.
fn starts_anew(extension: &Failure) -> bool {
    match extension.status {
        Some(409) => extension.problem.as_deref() != Some("extension-pending"),
        Some(404 | 422) => true,
        _ => false,
    }
}

/// How far to move the session's end so that the fresh credentials last about `duration` from
/// now, as a new session would: an extension moves the end, which is `left` away (at least the
/// 900 s an extension must be).
fn extension_seconds(duration: i64, left: i64) -> i64 {
    (duration - left.max(0)).max(900)
}

/// The AWS CLI's credential_process JSON from the credentials a grant handed out.
fn process_json(credentials: &Value) -> Value {
    json!({
        "Version": 1,
        "AccessKeyId": credentials["access_key_id"],
        "SecretAccessKey": credentials["secret_access_key"],
        "SessionToken": credentials["session_token"],
        "Expiration": credentials["expiration"],
    })
}

/// A live session's credentials are reused from a private cache, kept apart per profile, API URL
/// and caller (the token's `iss` and `sub`), until five minutes before they expire; then the
/// same session is extended by `--duration` (fresh credentials until its new end), and a new
/// session is started where it cannot be. Either may wait for approval.
pub(crate) async fn credential_process(
    api: &Client,
    profile: Option<&str>,
    url: &str,
    token: &str,
    jit: &JitArgs,
) -> Result<(), Failure> {
    let duration = seconds(&jit.duration)?;
    let timeout = wait_timeout(&jit.wait_timeout)?;
    let key = cache::key(profile, url, token, &jit.account, &jit.role, duration);
    let cache = Cache::open();
    let plan = match &cache {
        Some(cache) => cache.plan(&key, OffsetDateTime::now_utc()),
        None => Plan::Start,
    };
    // The grant, and the reason its session was started with (kept for its next extension).
    let (granted, reason) = match plan {
        Plan::Serve(cached) => {
            println!("{cached}");
            return Ok(());
        }
        Plan::Extend {
            session_id,
            reason,
            left_seconds,
        } => {
            progress("extending the cached session…");
            let body = json!({ "duration_seconds": extension_seconds(duration, left_seconds), "reason": reason });
            match api
                .call_status("POST", &format!("/sessions/{session_id}/extensions"), Some(body))
                .await
            {
                Ok((202, reply)) => (
                    approval::await_extension(api, &reply["session"], timeout).await?,
                    reason,
                ),
                Ok((_, extended)) => (extended, reason),
                Err(f) if f.problem.as_deref() == Some("extension-pending") => {
                    let session = api.call("GET", &format!("/sessions/{session_id}"), None).await?;
                    (approval::await_extension(api, &session, timeout).await?, reason)
                }
                Err(f) if starts_anew(&f) => {
                    progress(&format!("{} (starting a new session)", f.message));
                    (start_jit(api, jit).await?, jit.reason.clone())
                }
                Err(f) => return Err(f),
            }
        }
        Plan::Start => (start_jit(api, jit).await?, jit.reason.clone()),
    };
    let credentials = &granted["credentials"];
    if !credentials.is_object() {
        return Err(Failure::new(
            exit::UNAVAILABLE,
            "the API handed out no credentials (they are given once: were they read elsewhere?)",
        ));
    }
    let out = process_json(credentials);
    if let Some(cache) = &cache {
        // An entry `cib sessions end` could not find by its session is not kept.
        let stored = match granted["session"]["id"].as_str() {
            Some(session) => cache.store(&key, session, &reason, &out),
            None => Err("the API named no session".to_string()),
        };
        if let Err(e) = stored {
            eprintln!("cib: not caching: {e}");
        }
    }
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_session_that_cannot_be_extended_is_started_anew() {
        let refused = |status: Option<u16>| Failure {
            code: exit::REFUSED,
            message: String::new(),
            status,
            problem: None,
        };
        for status in [404, 409, 422] {
            assert!(starts_anew(&refused(Some(status))), "{status}");
        }
        for status in [Some(400), Some(401), Some(403), Some(429), Some(503), None] {
            assert!(!starts_anew(&refused(status)), "{status:?}: a failure to report");
        }
        let pending = Failure {
            problem: Some("extension-pending".into()),
            ..refused(Some(409))
        };
        assert!(!starts_anew(&pending), "an extension already asked for is waited for");
    }

    #[test]
    fn an_extension_tops_the_session_up_to_its_duration() {
        assert_eq!(extension_seconds(3600, 240), 3360);
        assert_eq!(extension_seconds(900, 240), 900, "never under the minimum");
        assert_eq!(extension_seconds(3600, -5), 3600);
    }

    #[test]
    fn credentials_become_the_aws_cli_json() {
        let out = process_json(&json!({
            "access_key_id": "ASIA1", "secret_access_key": "s", "session_token": "t", "expiration": "2030-01-01T00:00:00Z",
        }));
        assert_eq!(
            out,
            json!({ "Version": 1, "AccessKeyId": "ASIA1", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2030-01-01T00:00:00Z" })
        );
    }
}
