//! The session events the broker put on the bus (docs/events.md), as the tap queue received
//! them (`TestEnv::events_where`): one event found and its envelope checked, its fields
//! compared, and its `detail` compared with the line the session's log holds.

use std::time::Duration;

use serde_json::Value;

use crate::{Fixture, TestEnv};

/// The one event of `kind` (its `detail.type`) the bus delivered for session `session`, waited
/// for up to ten seconds; returns its `detail`. Checked on the way: the envelope's `source` and
/// `detail-type` (the one docs/events.md gives `kind`), `v` 1, a non-empty `event_id`, `at` in
/// RFC 3339. EventBridge delivers at least once, so copies with one `event_id` count once; a
/// second event of `kind` for the session fails the test.
pub async fn session_event(env: &TestEnv, session: &str, kind: &str, detail_type: &str) -> Value {
    let mut found: Vec<Value> = Vec::new();
    for _ in 0..50 {
        found.clear();
        let delivered = env
            .events_where(|e| e["detail"]["session_id"] == session && e["detail"]["type"] == kind)
            .await;
        for e in delivered {
            if !found
                .iter()
                .any(|seen| seen["detail"]["event_id"] == e["detail"]["event_id"])
            {
                found.push(e);
            }
        }
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        found.len(),
        1,
        "one {kind} event on the bus for session {session}: {found:#?}"
    );
    let envelope = found.remove(0);
    assert_eq!(envelope["source"], "cloud-iam-broker", "{envelope}");
    assert_eq!(envelope["detail-type"], detail_type, "{envelope}");
    let detail = envelope["detail"].clone();
    assert_eq!(detail["v"], 1, "{detail}");
    assert!(
        detail["event_id"].as_str().is_some_and(|id| !id.is_empty()),
        "an event id: {detail}"
    );
    instant(&detail["at"]);
    detail
}

/// Asserts that `detail` carries every field of `expected`, each with that value. A field
/// expected as null must be present as null (docs/events.md lists the fields every session
/// event carries, `role_arn` among them, null for a console session).
pub fn assert_fields(detail: &Value, expected: &Value) {
    let fields = expected.as_object().expect("the expected fields, as an object");
    for (name, want) in fields {
        assert_eq!(detail.get(name), Some(want), "detail.{name} in {detail:#}");
    }
}

/// The fields every event of a session `f`'s user started for themselves carries: the
/// account, its AWS account, the user, who asked (the user), and the IAM user the session
/// acts through (the fixture's IAM user is named after the e-mail).
pub fn fixture_fields(f: &Fixture) -> Value {
    serde_json::json!({
        "account_id": f.account,
        "aws_account_id": f.aws_account,
        "user": f.email,
        "requested_by": f.email,
        "iam_user": f.email,
    })
}

/// Asserts that the session's log (read as `token`) holds `detail` exactly, but for the chain's
/// own `prev_hash`: docs/events.md promises that an event's `detail` is the event as the log
/// holds it (all but `revoked`, which is not logged).
pub async fn assert_as_logged(env: &TestEnv, token: &str, detail: &Value) {
    let session = detail["session_id"].as_str().expect("a session event");
    let log = env
        .client()
        .get(&format!("/sessions/{session}/log"), token)
        .await
        .ok(200);
    assert_eq!(log["verified"], true, "the log's chain holds: {log}");
    let mut logged = log["events"]
        .as_array()
        .expect("the log's events")
        .iter()
        .find(|e| e["event_id"] == detail["event_id"])
        .unwrap_or_else(|| panic!("{} is not in the log: {log:#}", detail["event_id"]))
        .clone();
    if let Some(fields) = logged.as_object_mut() {
        fields.remove("prev_hash");
    }
    assert_eq!(&logged, detail, "the bus's detail is the logged event");
}

/// A time as the API and the events write it (RFC 3339).
pub fn instant(v: &Value) -> time::OffsetDateTime {
    let s = v.as_str().unwrap_or_else(|| panic!("a time, got {v}"));
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s} is not RFC 3339: {e}"))
}
