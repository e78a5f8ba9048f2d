//! Access requests from the approver's side: `cib requests …` lists the pending requests (a start
//! or an extension) the caller may decide, approves, denies, and cancels one's own; and lists and
//! reviews break-glass sessions. Waiting for one's own request is `approval`'s.

use serde_json::{Map, Value, json};

use crate::approval;
use crate::args::Requests;
use crate::client::{Client, Failure};
use crate::output::print;

/// `_`-named cells are worked out here (`row`), not fields of the API's session.
const REQUEST_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("USER", "/user"),
    ("TYPE", "/_what"),
    ("AWS ACCOUNT", "/aws_account_id"),
    ("ACCESS", "/_access"),
    ("APPROVALS", "/_approvals"),
    ("LAPSES", "/_lapses"),
];
const DECIDED_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("USER", "/user"),
    ("TYPE", "/_what"),
    ("STATUS", "/status"),
    ("APPROVALS", "/_approvals"),
    ("EXPIRES", "/expires_at"),
];
const REVIEW_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("USER", "/user"),
    ("TYPE", "/type"),
    ("AWS ACCOUNT", "/aws_account_id"),
    ("ACCESS", "/_access"),
    ("STARTED", "/started_at"),
    ("STATUS", "/status"),
    ("REASON", "/reason"),
];

/// `3600` → `1h`, `5400` → `1h30m`, `90` → `1m30s`.
fn human(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::new();
    for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if n > 0 {
            out.push_str(&n.to_string());
            out.push(unit);
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// What is asked: the session's kind, and for an extension by how much.
fn what(session: &Value) -> String {
    let kind = session["type"].as_str().unwrap_or("?");
    let extension = &session["pending_extension"];
    if session["status"] != "active" || !extension.is_object() {
        return kind.to_string();
    }
    match extension["duration_seconds"].as_u64() {
        Some(n) => format!("{kind} extension +{}", human(n)),
        None => format!("{kind} extension"),
    }
}

/// A session with the cells worked out for it: what is asked, approvals n/N, when it lapses.
fn row(session: &Value) -> Value {
    let mut cells = session.clone();
    if let Some(fields) = cells.as_object_mut() {
        fields.insert("_what".into(), json!(what(session)));
        fields.insert("_access".into(), crate::output::access(session));
        fields.insert("_approvals".into(), json!(approval::approvals(session)));
        fields.insert("_lapses".into(), json!(approval::lapses_at(session)));
    }
    cells
}

/// A session, or a page of them (`items`), ready for a table.
fn rows(value: &Value) -> Value {
    match value.get("items").and_then(Value::as_array) {
        Some(items) => {
            let mut page = value.clone();
            page["items"] = Value::Array(items.iter().map(row).collect());
            page
        }
        None => row(value),
    }
}

/// A table for people; the API's own JSON, untouched, for scripts.
fn show(value: &Value, json: bool, columns: &[(&str, &str)]) {
    if json {
        print(value, true, &[]);
    } else {
        print(&rows(value), false, columns);
    }
}

/// A list's path with its page: `/requests?limit=20&cursor=…`.
fn page(path: &str, limit: Option<u32>, cursor: Option<&str>) -> String {
    let mut query = Vec::new();
    if let Some(limit) = limit {
        query.push(format!("limit={limit}"));
    }
    if let Some(cursor) = cursor {
        query.push(format!("cursor={cursor}"));
    }
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// A decision's body: `{"reason": …}` when one is given, `{}` otherwise (not `null`).
fn with_reason(reason: Option<String>) -> Value {
    let mut body = Map::new();
    if let Some(reason) = reason {
        body.insert("reason".into(), json!(reason));
    }
    Value::Object(body)
}

pub(crate) async fn requests(api: &Client, cmd: Requests, json: bool) -> Result<(), Failure> {
    match cmd {
        Requests::List { limit, cursor } => {
            let path = page("/requests", limit, cursor.as_deref());
            show(&api.call("GET", &path, None).await?, json, REQUEST_COLUMNS)
        }
        Requests::Approve { id, reason } => {
            let path = format!("/sessions/{id}/approvals");
            show(
                &api.call("POST", &path, Some(with_reason(reason))).await?,
                json,
                DECIDED_COLUMNS,
            )
        }
        Requests::Deny { id, reason } => {
            let path = format!("/sessions/{id}/denials");
            show(
                &api.call("POST", &path, Some(with_reason(Some(reason)))).await?,
                json,
                DECIDED_COLUMNS,
            )
        }
        Requests::Cancel { id, reason } => {
            let path = format!("/sessions/{id}/cancel");
            show(
                &api.call("POST", &path, Some(with_reason(reason))).await?,
                json,
                DECIDED_COLUMNS,
            )
        }
        Requests::Reviews { limit, cursor } => {
            let path = page("/reviews", limit, cursor.as_deref());
            show(&api.call("GET", &path, None).await?, json, REVIEW_COLUMNS)
        }
        Requests::Review { id, note } => {
            let path = format!("/sessions/{id}/review");
            show(
                &api.call("POST", &path, Some(json!({ "note": note }))).await?,
                json,
                REVIEW_COLUMNS,
            )
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_they_are_typed() {
        assert_eq!(human(3600), "1h");
        assert_eq!(human(5400), "1h30m");
        assert_eq!(human(90), "1m30s");
        assert_eq!(human(0), "0s");
    }

    #[test]
    fn a_review_row_names_the_access_of_every_kind() {
        let page = json!({ "items": [
            { "id": "01JA", "type": "jit", "role_arn": "arn:aws:iam::1:role/OnCall" },
            { "id": "01JB", "type": "identity_center", "role_arn": null, "identity_center": { "permission_set_name": "PowerUser" } },
        ] });
        let cells = rows(&page);
        assert_eq!(cells["items"][0]["_access"], "arn:aws:iam::1:role/OnCall");
        assert_eq!(cells["items"][1]["_access"], "PowerUser");
    }

    #[test]
    fn a_request_row_says_what_is_asked_how_far_it_is_and_until_when() {
        let start = json!({
            "id": "01JS", "user": "a@x.io", "type": "jit", "status": "pending",
            "request": { "approvals_required": 2, "approvals": [{ "by": "b@x.io" }], "lapses_at": "2030-01-01T01:00:00Z" },
            "pending_extension": null,
        });
        let r = row(&start);
        assert_eq!(
            (r["_what"].as_str(), r["_approvals"].as_str()),
            (Some("jit"), Some("1/2"))
        );
        assert_eq!(r["_lapses"], "2030-01-01T01:00:00Z");

        let extension = json!({
            "id": "01JS", "type": "console", "status": "active", "request": null,
            "pending_extension": { "duration_seconds": 1800, "approval": { "approvals": [], "approvals_required": 1 } },
        });
        let r = row(&extension);
        assert_eq!(r["_what"], "console extension +30m");
        assert_eq!(r["_approvals"], "0/1");
        assert!(r["_lapses"].is_null(), "not said: shown as -");

        let page = rows(&json!({ "items": [start, extension], "next_cursor": "c" }));
        assert_eq!(page["items"][1]["_what"], "console extension +30m");
        assert_eq!(page["next_cursor"], "c", "the page's cursor is kept");
    }

    #[test]
    fn pages_and_decisions_carry_only_what_is_given() {
        assert_eq!(page("/requests", None, None), "/requests");
        assert_eq!(page("/reviews", Some(20), Some("abc")), "/reviews?limit=20&cursor=abc");
        assert_eq!(with_reason(None), json!({}));
        assert_eq!(with_reason(Some("on call".into())), json!({ "reason": "on call" }));
    }
}
