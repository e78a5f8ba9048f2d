//! Waiting for approval: what a session awaiting approvals (its start, or an extension) says about
//! itself (approvals n/N, when it lapses), polling it until it is granted or refused, and the
//! one-time `granted` field of `GET /sessions/{id}` turned into the shape `POST /sessions`
//! answers with (`{session, credentials?, console_url?, console?}`), so both print alike.
//!
//! Progress goes to standard error only (`progress`): standard output stays the command's result,
//! which for `credential-process` is the AWS CLI's JSON.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::{Client, Failure, exit};
use crate::{progress, seconds};

/// How often a waiting session is looked at again.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// `--wait-timeout`: seconds, or 30m, 1h (0 looks once).
pub(crate) fn wait_timeout(s: &str) -> Result<Duration, Failure> {
    Ok(Duration::from_secs(seconds(s)?.max(0).unsigned_abs()))
}

/// The approval a session waits for: its start's request while pending, else a pending extension.
fn pending(session: &Value) -> Option<&Value> {
    if session["status"] == "pending" {
        Some(&session["request"])
    } else {
        session
            .get("pending_extension")
            .filter(|p| p.is_object())
            .map(|p| &p["approval"])
    }
}

/// Approvals given of those required, `n/N`: of what the session waits for, else of the request
/// its start needed; `-` when there is none. An extension that does not say how many it needs is
/// taken to need what the start needed, or shows `n` alone.
pub(crate) fn approvals(session: &Value) -> String {
    let request = &session["request"];
    let asked = pending(session).unwrap_or(request);
    let Some(given) = asked["approvals"].as_array().map(Vec::len) else {
        return "-".into();
    };
    match asked["approvals_required"]
        .as_u64()
        .or_else(|| request["approvals_required"].as_u64())
    {
        Some(required) => format!("{given}/{required}"),
        None => given.to_string(),
    }
}

/// When what the session waits for lapses, if it says.
pub(crate) fn lapses_at(session: &Value) -> Option<&str> {
    pending(session).and_then(|p| p["lapses_at"].as_str())
}

/// The progress line of a session waiting for approval; `None` when it waits for nothing.
pub(crate) fn awaiting(session: &Value) -> Option<String> {
    pending(session)?;
    let what = if session["status"] == "pending" {
        "approval"
    } else {
        "approval of the extension"
    };
    let mut line = format!("waiting for {what} ({})…", approvals(session));
    if let Some(at) = lapses_at(session) {
        line.push_str(" lapses at ");
        line.push_str(at);
    }
    Some(line)
}

/// A session read back with its one-time `granted` field, in the shape `POST /sessions` answers.
pub(crate) fn as_started(session: &Value) -> Value {
    let mut bare = session.clone();
    let granted = bare.as_object_mut().and_then(|o| o.remove("granted"));
    let mut started = Map::new();
    started.insert("session".into(), bare);
    if let Some(Value::Object(granted)) = granted {
        started.extend(granted);
    }
    Value::Object(started)
}

/// What one look at a waiting session says.
#[derive(Debug, PartialEq)]
pub(crate) enum Look {
    /// Still waiting: the progress line.
    Waiting(String),
    /// Granted: `{session, credentials?, console_url?, console?}`.
    Granted(Value),
    /// It never will be: why.
    Refused(String),
}

fn name_of(session: &Value) -> &str {
    session["id"].as_str().unwrap_or("the session")
}

/// Whether `at` (an RFC 3339 time) is within the last minute: how long issuing and holding an
/// approved answer may take.
fn just(at: &Value) -> bool {
    at.as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .is_some_and(|t| OffsetDateTime::now_utc() - t < time::Duration::minutes(1))
}

/// Who decided and why, as the API says it: ` by bob@example.com: not now`.
fn decision(session: &Value) -> String {
    let decided = &session["request"]["decision"];
    let by = decided["by"].as_str().or(session["ended_by"].as_str());
    let reason = decided["reason"]
        .as_str()
        .or(session["end_reason"].as_str())
        .filter(|r| !r.trim().is_empty());
    match (by, reason) {
        (Some(by), Some(reason)) => format!(" by {by}: {reason}"),
        (Some(by), None) => format!(" by {by}"),
        (None, Some(reason)) => format!(": {reason}"),
        (None, None) => String::new(),
    }
}

/// A session whose start awaited approval.
pub(crate) fn look_at_start(session: &Value) -> Look {
    let id = name_of(session);
    match session["status"].as_str().unwrap_or("?") {
        "pending" => Look::Waiting(awaiting(session).unwrap_or_else(|| "waiting for approval…".into())),
        "active" if session["granted"].is_object() => Look::Granted(as_started(session)),
        // The approval makes the session active before its credentials are issued and held:
        // for a little while after it, they are on their way.
        "active" if just(&session["request"]["decision"]["at"]) => {
            Look::Waiting("approved; the credentials are being issued…".into())
        }
        "active" => Look::Refused(format!(
            "{id} was approved, but its credentials were already handed out (they are given once); \
             end it with `cib sessions end {id}` and start again"
        )),
        status @ ("denied" | "cancelled" | "lapsed") => {
            Look::Refused(format!("the request {id} was {status}{}", decision(session)))
        }
        status => Look::Refused(format!("{id} is {status}: it ended before it was handed out")),
    }
}

/// A live session whose extension awaited approval; `expires_before` is its end when it was
/// asked, which moves when the extension is granted.
pub(crate) fn look_at_extension(session: &Value, expires_before: &Value) -> Look {
    let id = name_of(session);
    if session["granted"].is_object() {
        return Look::Granted(as_started(session));
    }
    let status = session["status"].as_str().unwrap_or("?");
    if status != "active" {
        return Look::Refused(format!("{id} is {status}: it can no longer be extended"));
    }
    let lapsed = pending(session)
        .and_then(|p| p["lapses_at"].as_str())
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .is_some_and(|at| at <= OffsetDateTime::now_utc());
    if lapsed {
        return Look::Refused(format!("the extension of {id} lapsed: nobody decided in time"));
    }
    if let Some(line) = awaiting(session) {
        return Look::Waiting(line);
    }
    let last = session["extensions"].as_array().and_then(|e| e.last());
    if session["type"] == "jit" && session["expires_at"] != *expires_before && last.is_some_and(|e| just(&e["at"])) {
        return Look::Waiting("extended; the fresh credentials are being issued…".into());
    }
    if session["expires_at"] != *expires_before {
        // Extended with nothing new to hand out (a console session keeps its password).
        return Look::Granted(json!({ "session": session }));
    }
    Look::Refused(format!(
        "the extension of {id} was not granted (denied, cancelled or lapsed)"
    ))
}

/// Polls the session until `look` says it is granted or refused, or `timeout` passes. Progress
/// is shown when it changes. A network or API failure (or throttling) is retried until the
/// timeout: the approval may come meanwhile.
async fn wait(
    api: &Client,
    session: &Value,
    timeout: Duration,
    look: impl Fn(&Value) -> Look,
) -> Result<Value, Failure> {
    let id = session["id"]
        .as_str()
        .ok_or_else(|| Failure::new(exit::UNAVAILABLE, "the API named no session"))?
        .to_string();
    let path = format!("/sessions/{id}");
    let deadline = Instant::now() + timeout;
    let mut current = session.clone();
    let mut shown = String::new();
    loop {
        match look(&current) {
            Look::Granted(started) => return Ok(started),
            Look::Refused(why) => return Err(Failure::new(exit::REFUSED, why)),
            Look::Waiting(line) if line != shown => {
                progress(&line);
                shown = line;
            }
            Look::Waiting(_) => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // Not refused: it may still be approved, so not exit 1.
            return Err(Failure::new(
                exit::UNAVAILABLE,
                format!(
                    "stopped waiting after {} s: {id} still awaits approval; `cib sessions show {id}` \
                     shows it (and, once approved, its credentials), `cib requests cancel {id}` withdraws it",
                    timeout.as_secs()
                ),
            ));
        }
        tokio::time::sleep(left.min(POLL_EVERY)).await;
        match api.call("GET", &path, None).await {
            Ok(read) => current = read,
            Err(f) if f.code == exit::UNAVAILABLE || f.status == Some(429) => {
                progress(&format!("{} (still waiting)", f.message))
            }
            Err(f) => return Err(f),
        }
    }
}

/// Waits for a start `POST /sessions` answered 202 for; the granted session as a 201 gives it.
pub(crate) async fn await_start(api: &Client, session: &Value, timeout: Duration) -> Result<Value, Failure> {
    wait(api, session, timeout, look_at_start).await
}

/// Waits for an extension `POST /sessions/{id}/extensions` answered 202 for; the session with
/// its fresh credentials (JIT), as a 201 gives them.
pub(crate) async fn await_extension(api: &Client, session: &Value, timeout: Duration) -> Result<Value, Failure> {
    let expires_before = session["expires_at"].clone();
    wait(api, session, timeout, |s| look_at_extension(s, &expires_before)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(by: &str) -> Value {
        json!({ "by": by, "at": "2030-01-01T00:00:00Z", "reason": "" })
    }

    fn pending_start(given: &[&str], required: u64) -> Value {
        json!({
            "id": "01JPENDING", "status": "pending", "type": "jit", "expires_at": "2030-01-01T01:00:00Z",
            "request": {
                "approvals_required": required, "approver_group_ids": ["01JG"],
                "approvals": given.iter().copied().map(vote).collect::<Vec<_>>(),
                "lapses_at": "2030-01-01T01:00:00Z",
            },
            "pending_extension": null,
        })
    }

    #[test]
    fn approvals_are_counted_against_what_is_awaited() {
        assert_eq!(approvals(&pending_start(&[], 2)), "0/2");
        assert_eq!(approvals(&pending_start(&["a@x.io"], 2)), "1/2");
        assert_eq!(
            approvals(&json!({ "status": "active", "request": null })),
            "-",
            "started at once"
        );

        // An extension that does not say how many it needs needs what the start needed.
        let mut extending = pending_start(&["a@x.io", "b@x.io"], 2);
        extending["status"] = json!("active");
        extending["pending_extension"] = json!({ "duration_seconds": 1800, "reason": "more",
            "approval": { "approvals": [vote("c@x.io")] } });
        assert_eq!(approvals(&extending), "1/2");
        extending["pending_extension"]["approval"]["approvals_required"] = json!(1);
        assert_eq!(approvals(&extending), "1/1");
        extending["request"] = Value::Null;
        extending["pending_extension"]["approval"]
            .as_object_mut()
            .unwrap()
            .remove("approvals_required");
        assert_eq!(approvals(&extending), "1", "how many is unknown");
    }

    #[test]
    fn the_progress_line_says_how_far_and_until_when() {
        assert_eq!(
            awaiting(&pending_start(&["a@x.io"], 2)).unwrap(),
            "waiting for approval (1/2)… lapses at 2030-01-01T01:00:00Z"
        );
        assert_eq!(
            awaiting(&json!({ "status": "active", "pending_extension": null })),
            None
        );
        let extending = json!({ "status": "active", "pending_extension": { "approval": { "approvals": [], "approvals_required": 1 } } });
        assert_eq!(
            awaiting(&extending).unwrap(),
            "waiting for approval of the extension (0/1)…"
        );
    }

    #[test]
    fn granted_reads_back_as_a_start_answers() {
        let session = json!({
            "id": "01JS", "status": "active",
            "granted": { "credentials": { "access_key_id": "ASIA1" }, "console_url": "https://signin" },
        });
        let started = as_started(&session);
        assert_eq!(started["session"]["id"], "01JS");
        assert!(
            started["session"].get("granted").is_none(),
            "handed out once, not twice"
        );
        assert_eq!(started["credentials"]["access_key_id"], "ASIA1");
        assert_eq!(started["console_url"], "https://signin");
        assert_eq!(
            as_started(&json!({ "id": "01JS" })),
            json!({ "session": { "id": "01JS" } })
        );
    }

    #[test]
    fn a_start_waits_while_pending_and_stops_when_decided() {
        assert!(matches!(look_at_start(&pending_start(&[], 1)), Look::Waiting(_)));

        let mut granted = pending_start(&["a@x.io"], 1);
        granted["status"] = json!("active");
        granted["granted"] = json!({ "credentials": { "access_key_id": "ASIA1" } });
        match look_at_start(&granted) {
            Look::Granted(started) => assert_eq!(started["credentials"]["access_key_id"], "ASIA1"),
            other => panic!("{other:?}"),
        }
        granted.as_object_mut().unwrap().remove("granted");
        assert!(
            matches!(look_at_start(&granted), Look::Refused(why) if why.contains("already handed out")),
            "active without its credentials: someone else read them; waiting would never end"
        );

        for status in ["denied", "cancelled", "lapsed", "ended", "expired"] {
            let mut decided = pending_start(&[], 1);
            decided["status"] = json!(status);
            decided["ended_by"] = json!("bob@x.io");
            decided["end_reason"] = json!("not today");
            match look_at_start(&decided) {
                Look::Refused(why) => assert!(why.contains(status), "{why}"),
                other => panic!("{status}: {other:?}"),
            }
        }
        let mut denied = pending_start(&[], 1);
        denied["status"] = json!("denied");
        denied["request"]["decision"] = json!({ "outcome": "denied", "by": "bob@x.io", "reason": "not today" });
        assert_eq!(
            look_at_start(&denied),
            Look::Refused("the request 01JPENDING was denied by bob@x.io: not today".into())
        );
    }

    #[test]
    fn an_extension_is_granted_when_its_credentials_come_or_its_end_moves() {
        let before = json!("2030-01-01T01:00:00Z");
        let waiting = json!({
            "id": "01JS", "status": "active", "expires_at": "2030-01-01T01:00:00Z",
            "pending_extension": { "approvals": [], "approvals_required": 1 },
        });
        assert!(matches!(look_at_extension(&waiting, &before), Look::Waiting(_)));

        let mut fresh = waiting.clone();
        fresh["pending_extension"] = Value::Null;
        fresh["expires_at"] = json!("2030-01-01T01:30:00Z");
        fresh["granted"] = json!({ "credentials": { "access_key_id": "ASIA2" } });
        match look_at_extension(&fresh, &before) {
            Look::Granted(started) => assert_eq!(started["credentials"]["access_key_id"], "ASIA2"),
            other => panic!("{other:?}"),
        }
        fresh.as_object_mut().unwrap().remove("granted");
        assert!(
            matches!(look_at_extension(&fresh, &before), Look::Granted(s) if s.get("credentials").is_none()),
            "a console session's end moves; it keeps its password"
        );

        let mut refused = waiting.clone();
        refused["pending_extension"] = Value::Null;
        assert!(matches!(look_at_extension(&refused, &before), Look::Refused(why) if why.contains("not granted")));
        refused["status"] = json!("expired");
        assert!(matches!(look_at_extension(&refused, &before), Look::Refused(why) if why.contains("expired")));
    }

    #[test]
    fn the_wait_timeout_is_a_duration() {
        assert_eq!(wait_timeout("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(wait_timeout("0").unwrap(), Duration::ZERO);
        assert_eq!(wait_timeout("-5").unwrap(), Duration::ZERO);
        assert!(wait_timeout("soon").is_err());
    }
}
