//! Approval messages in Slack, driven by the session events on the bus (a rule sends the
//! ones below to the chat-ops queue): a request or extension posts a message with Approve and
//! Deny buttons to the approval channel; a break-glass start posts a notice; the outcome
//! updates that message and tells the requester by DM (when their Slack member's link is confirmed).
//! Each event is handled once, whatever the queue redelivers.
//!
//! The queue's copy of an event is not trusted: whoever can send to the queue could write one
//! (a request worded to mislead approvers, an outcome nobody decided). It only says which event
//! (`session_id`, `event_id`); what is posted is that event as the session's hash-chained log
//! holds it, which only the broker writes, before it puts the event on the bus. An event the
//! log does not hold posts nothing (`alarm = "chatops-forged"`). Nothing here approves, denies or
//! starts anything either way: approving takes a signed click or command from an approver.
//!
//! Approvers see what they decide: every message names the kind in words and what it reaches
//! (a JIT session's role; a console session's IAM user; a shell session's target and the
//! shell role it goes through), the AWS account, the duration (for an extension, the extra
//! time asked), the reason, and whether it is break-glass. Never a secret: the events carry
//! none, and what requesters wrote is made inert.

use serde_json::{Value, json};

use super::{ChatOpsError, ChatOpsService};
use crate::domain::{Email, SessionId};
use crate::ports::PageRequest;

/// The bus events (`detail-type`) this module handles: the template's rule, and the local
/// one, send exactly these to the chat-ops queue.
pub const NOTIFIED_DETAIL_TYPES: [&str; 8] = [
    "Approval requested",
    "Session extension requested",
    "Break-glass session started",
    "Session approved",
    "Session denied",
    "Session request cancelled",
    "Session request lapsed",
    "Break-glass session reviewed",
];

/// Text a requester or approver wrote, made inert for Slack's mrkdwn: no `<!channel>`, no
/// link dressed as a button (Slack's own escaping: `&`, `<`, `>`).
pub(super) fn inert(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A duration as an approver reads it at a glance, with the exact seconds:
/// `1 h 30 min (5400 s)`, `15 min (900 s)`, `45 s`.
fn duration_words(seconds: u64) -> String {
    if seconds < 60 {
        return format!("{seconds} s");
    }
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 {
        parts.push(format!("{s} s"));
    }
    format!("{} ({seconds} s)", parts.join(" "))
}

/// The session's kind in words, with what it reaches: the JIT role; the console's IAM user;
/// the shell's target and the shell role it goes through. (A shell session's `role_arn` is
/// the account's shell role; every session event carries its `target` and `iam_user`.)
fn what(e: &Value) -> String {
    let code = |field: &str| e[field].as_str().map(|v| format!("`{}`", inert(v)));
    match e["kind"].as_str() {
        Some("jit") => format!(
            "JIT session on role {}",
            code("role_arn").unwrap_or_else(|| "(not recorded)".into())
        ),
        Some("console") => match code("iam_user") {
            Some(user) => format!("console session (the IAM user {user})"),
            None => "console session (the requester's own IAM user)".into(),
        },
        Some("shell") => format!(
            "shell session on target {} through the shell role {}",
            code("target").unwrap_or_else(|| "(not recorded)".into()),
            code("role_arn").unwrap_or_else(|| "of the account".into())
        ),
        Some("identity_center") => format!(
            "Identity Center session with the permission set {}",
            code("permission_set_name")
                .or_else(|| code("permission_set_arn"))
                .unwrap_or_else(|| "(not recorded)".into())
        ),
        Some(other) => format!("session of kind `{}`", inert(other)),
        None => "session of an unknown kind".into(),
    }
}

/// What the event says was asked for, in words an approver decides on: who, the kind and
/// what it reaches, the account, how long (for an extension, the extra time asked) and why.
fn summary(e: &Value) -> String {
    let user = inert(e["user"].as_str().unwrap_or("someone"));
    let what = what(e);
    let break_glass = e["break_glass"] == true;
    let extension_request = e["type"] == "extension_requested";
    let extension_outcome = e["extension"] == true;
    // An extension request's `duration_seconds` and `reason` are the extension's own; an
    // outcome's (`extension: true` when it decides an extension) are the session's.
    let (headline, how_long, reason) = if extension_request {
        (
            format!("*{user}* asks to *extend* a live {what}"),
            "Extra time",
            e["reason"].as_str(),
        )
    } else if extension_outcome {
        (
            format!("*{user}* asked to *extend* a live {what}"),
            "Session's duration",
            e["request_reason"].as_str(),
        )
    } else if break_glass {
        (
            format!("*{user}* started a *break-glass* {what}"),
            "Duration",
            e["request_reason"].as_str(),
        )
    } else {
        (
            format!("*{user}* asks for a {what}"),
            "Duration",
            e["request_reason"].as_str(),
        )
    };
    // The extension of a break-glass session says so too.
    let flag = if break_glass && (extension_request || extension_outcome) {
        " (a *break-glass* session)"
    } else {
        ""
    };
    format!(
        "{headline}{flag}\n*Account:* `{}`\n*{how_long}:* {}\n*Reason:* _{}_",
        inert(e["aws_account_id"].as_str().unwrap_or("?")),
        duration_words(e["duration_seconds"].as_u64().unwrap_or_default()),
        inert(reason.unwrap_or_default())
    )
}

/// The message of a request or an extension request, that approvers act on.
fn approval_text(e: &Value) -> String {
    format!(
        "{}\nNeeds {} approval(s) from an approver group; lapses at {} UTC.",
        summary(e),
        e["approvals_required"].as_u64().unwrap_or(1),
        e["lapses_at"].as_str().unwrap_or("?")
    )
}

/// The notice of a break-glass start: it needs a review, not an approval.
fn break_glass_text(e: &Value, session: &str) -> String {
    format!(
        ":rotating_light: Break-glass: {}\nIt started at once, until {} UTC. An approver must review it: \
         `cib requests review {session} --note …`",
        summary(e),
        e["expires_at"].as_str().unwrap_or("?")
    )
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// The message approvers act on: its buttons carry the session id.
pub fn approval_blocks(text: &str, session: &str) -> Value {
    json!([
        section(text),
        {
            "type": "actions",
            "block_id": "decision",
            "elements": [
                { "type": "button", "action_id": "approve", "style": "primary", "value": session,
                  "text": { "type": "plain_text", "text": "Approve" } },
                { "type": "button", "action_id": "deny", "style": "danger", "value": session,
                  "text": { "type": "plain_text", "text": "Deny" } },
            ]
        }
    ])
}

impl ChatOpsService {
    /// Handles one session event from the bus. `Err` only when it should be retried.
    pub async fn notify(&self, queued: &Value) -> Result<(), ChatOpsError> {
        let (Some(slack), Some(channel)) = (&self.notifier, &self.approval_channel) else {
            return Ok(());
        };
        let (Some(session), Some(event_id)) = (queued["session_id"].as_str(), queued["event_id"].as_str()) else {
            tracing::warn!("a bus event without a session or an event id was ignored");
            return Ok(());
        };
        let Ok(id) = SessionId::parse(session) else {
            return Ok(());
        };
        // Before anything else (the run-once record included, which a forged copy of a real
        // event's id must not spend): the event as the session's log holds it.
        let Some(event) = self.logged_event(&id, event_id).await? else {
            tracing::error!(
                session,
                event_id,
                alarm = "chatops-forged",
                "a session event on the Slack queue is not in the session's log; dropped"
            );
            return Ok(());
        };
        let event = &event;
        // The session as the log spells it (the queue's spelling of the id is not used further).
        let session = id.as_str();
        let Some(kind) = event["type"].as_str() else {
            return Ok(());
        };
        let until = self.clock.now() + time::Duration::days(super::JOB_MEMORY_DAYS);
        if !self.once.first_use(&format!("event:{event_id}"), until).await? {
            return Ok(());
        }
        let by = event["by"].as_str().unwrap_or("someone");
        let result = match kind {
            "pending" | "extension_requested" => {
                let text = approval_text(event);
                match slack.post(channel, &text, &approval_blocks(&text, session)).await {
                    Ok((channel, ts)) => self
                        .links
                        .remember_message(&id, &channel, &ts)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                }
            }
            "break_glass" => {
                let text = break_glass_text(event, session);
                match slack.post(channel, &text, &json!([section(&text)])).await {
                    Ok((channel, ts)) => self
                        .links
                        .remember_message(&id, &channel, &ts)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                }
            }
            "approved" | "denied" | "cancelled" | "lapsed" | "reviewed" => {
                let outcome = match kind {
                    "approved" => format!(
                        "*Approved* by {}.",
                        event["approvers"]
                            .as_array()
                            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                            .unwrap_or_else(|| by.into())
                    ),
                    "denied" => format!(
                        "*Denied* by {by}: _{}_",
                        inert(event["reason"].as_str().unwrap_or_default())
                    ),
                    "cancelled" => format!("*Cancelled* by {by}."),
                    "lapsed" => "*Lapsed*: nobody decided in time.".to_string(),
                    _ => format!(
                        "*Reviewed* by {by}: _{}_",
                        inert(event["note"].as_str().unwrap_or_default())
                    ),
                };
                let text = format!("{}\n{outcome}", summary(event));
                let updated = match self.links.message_of(&id).await {
                    Ok(Some((channel, ts))) => slack.update(&channel, &ts, &text, &json!([section(&text)])).await,
                    Ok(None) => Ok(()),
                    Err(e) => Err(e.to_string()),
                };
                if kind != "reviewed"
                    && let Some(user) = event["user"].as_str().and_then(|u| Email::parse(u).ok())
                {
                    let tell = match kind {
                        "approved" => format!(
                            "Your request `{session}` was approved. Get it once with `cib sessions show {session}` \
                             (or `cib sessions start` prints it if it was waiting)."
                        ),
                        _ => format!("Your request `{session}`: {outcome}"),
                    };
                    if let Err(e) = self.tell(slack.as_ref(), &user, &tell).await {
                        tracing::warn!(session, error = %e, "telling the requester in Slack failed");
                    }
                }
                updated
            }
            _ => Ok(()),
        };
        // Posted or not, it is not retried: a retry could post twice.
        if let Err(e) = result {
            tracing::error!(session, event = kind, error = %e, alarm = "slack-notify-failed", "a Slack notification failed");
        }
        Ok(())
    }

    /// The event `event_id` of session `id` as the session's log holds it (without its chain
    /// link), if the log holds it and its chain verifies; `Err` only when the session or its log
    /// could not be read (then retried). The broker appends each event to the log before it puts
    /// it on the bus, so an event that came from the bus is there.
    async fn logged_event(&self, id: &SessionId, event_id: &str) -> Result<Option<Value>, ChatOpsError> {
        let Some(session) = self.sessions.sessions.get(id).await? else {
            return Ok(None);
        };
        let Some(content) = self
            .sessions
            .log
            .read(&session.log_key)
            .await
            .map_err(|e| ChatOpsError::Unavailable(e.to_string()))?
        else {
            return Ok(None);
        };
        let Ok((events, _)) = crate::domain::log_chain::verify(&session.log_key, &content) else {
            tracing::error!(session = %id, alarm = "log-tampered", "a session's log does not verify; no Slack message is posted from it");
            return Ok(None);
        };
        Ok(events
            .into_iter()
            .find(|e| e["event_id"].as_str() == Some(event_id) && e["session_id"].as_str() == Some(id.as_str()))
            .map(|mut e| {
                if let Some(fields) = e.as_object_mut() {
                    fields.remove("prev_hash");
                }
                e
            }))
    }

    /// A DM to the Slack member linked to `user`, if any (a confirmed link: a pending one may
    /// name a stranger).
    async fn tell(&self, slack: &dyn crate::ports::ChatNotifier, user: &Email, text: &str) -> Result<(), String> {
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        // Links are few (one per person using Slack); a handful of pages at most.
        for _ in 0..20 {
            let Some(p) = self.links.links(&page).await.map_err(|e| e.to_string())? else {
                return Ok(());
            };
            if let Some(link) = p.items.iter().find(|l| l.acts() && l.email == *user) {
                return slack
                    .post(link.slack_user_id.as_str(), text, &json!([section(text)]))
                    .await
                    .map(|_| ());
            }
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "01JD8X5V8C6Y4W1Q2R3S4T5V6W";

    /// An event as the bus carries it (docs/events.md), a 90-minute request, with `more` on top
    /// (`target` and `iam_user` as every session event carries them).
    fn event(kind: &str, role: Option<&str>, more: Value) -> Value {
        let mut e = json!({
            "v": 1,
            "event_id": format!("{SESSION}:pending"),
            "type": "pending",
            "at": "2026-11-24T10:00:00Z",
            "session_id": SESSION,
            "account_id": "01JD8X5V8C6Y4W1Q2R3S4T5V6X",
            "aws_account_id": "123456789012",
            "kind": kind,
            "user": "alice@example.com",
            "requested_by": "alice@example.com",
            "role_arn": role,
            "duration_seconds": 5400,
            "request_reason": "INC-42 database failover",
            "reason": "INC-42 database failover",
            "break_glass": false,
            "approvals_required": 2,
            "lapses_at": "2026-11-24T11:00:00Z",
        });
        if let (Some(obj), Some(more)) = (e.as_object_mut(), more.as_object()) {
            obj.extend(more.clone());
        }
        e
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/OnCall";
    const SHELL_ROLE: &str = "arn:aws:iam::123456789012:role/BrokerShell";

    #[test]
    fn a_jit_request_names_the_role_the_account_the_duration_and_the_reason() {
        let text = approval_text(&event("jit", Some(ROLE), json!({})));
        assert_eq!(
            text,
            "*alice@example.com* asks for a JIT session on role `arn:aws:iam::123456789012:role/OnCall`\n\
             *Account:* `123456789012`\n\
             *Duration:* 1 h 30 min (5400 s)\n\
             *Reason:* _INC-42 database failover_\n\
             Needs 2 approval(s) from an approver group; lapses at 2026-11-24T11:00:00Z UTC."
        );
    }

    #[test]
    fn an_identity_center_request_names_its_permission_set() {
        let text = summary(&event(
            "identity_center",
            None,
            json!({ "permission_set_name": "ReadOnly", "permission_set_arn": "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef" }),
        ));
        assert!(
            text.contains("asks for an Identity Center session with the permission set `ReadOnly`")
                || text.contains("Identity Center session with the permission set `ReadOnly`"),
            "{text}"
        );
        assert!(!text.contains("JIT") && !text.contains("IAM user"), "{text}");
    }

    #[test]
    fn a_console_request_names_the_iam_user_and_is_no_shell() {
        let text = summary(&event("console", None, json!({ "iam_user": "alice-example.com" })));
        assert!(
            text.contains("asks for a console session (the IAM user `alice-example.com`)"),
            "{text}"
        );
        assert!(text.contains("*Account:* `123456789012`"), "{text}");
        assert!(text.contains("*Duration:* 1 h 30 min (5400 s)"), "{text}");
        assert!(text.contains("*Reason:* _INC-42 database failover_"), "{text}");
        assert!(!text.contains("shell") && !text.contains("JIT"), "{text}");
    }

    #[test]
    fn a_shell_request_names_its_target_and_the_shell_role_and_is_no_console_session() {
        let e = event(
            "shell",
            Some(SHELL_ROLE),
            json!({ "target": "i-0123456789abcdef0", "duration_seconds": 1800,
                    "request_reason": "restart the worker", "reason": "restart the worker" }),
        );
        let text = summary(&e);
        assert!(
            text.contains(
                "asks for a shell session on target `i-0123456789abcdef0` through the shell role \
                 `arn:aws:iam::123456789012:role/BrokerShell`"
            ),
            "{text}"
        );
        assert!(text.contains("*Account:* `123456789012`"), "{text}");
        assert!(text.contains("*Duration:* 30 min (1800 s)"), "{text}");
        assert!(text.contains("*Reason:* _restart the worker_"), "{text}");
        assert!(
            !text.contains("console"),
            "a shell request called a console session: {text}"
        );
        // The message approvers act on carries it all.
        assert!(approval_text(&e).starts_with(&text));
        // A target the record did not give is said to be missing, not passed over.
        let unknown = summary(&event("shell", Some(SHELL_ROLE), json!({})));
        assert!(unknown.contains("shell session on target (not recorded)"), "{unknown}");
    }

    #[test]
    fn an_extension_request_shows_the_extra_time_and_its_own_reason() {
        let e = event(
            "shell",
            Some(SHELL_ROLE),
            json!({ "type": "extension_requested", "target": "i-0123456789abcdef0",
                    "duration_seconds": 1800, "reason": "the restore is slow" }),
        );
        let text = approval_text(&e);
        assert!(
            text.contains("asks to *extend* a live shell session on target `i-0123456789abcdef0`"),
            "{text}"
        );
        assert!(text.contains("*Extra time:* 30 min (1800 s)"), "{text}");
        assert!(text.contains("*Reason:* _the restore is slow_"), "{text}");
        assert!(
            !text.contains("INC-42"),
            "the session's reason is not the extension's: {text}"
        );
        // A break-glass session's extension says so.
        let mut glass = e;
        glass["break_glass"] = json!(true);
        assert!(summary(&glass).contains("(a *break-glass* session)"));
    }

    #[test]
    fn a_break_glass_notice_says_so_with_the_kind_duration_and_reason() {
        let e = event(
            "jit",
            Some(ROLE),
            json!({ "type": "break_glass", "break_glass": true, "expires_at": "2026-11-24T11:30:00Z" }),
        );
        let text = break_glass_text(&e, SESSION);
        assert!(text.starts_with(":rotating_light: Break-glass: "), "{text}");
        assert!(
            text.contains("*alice@example.com* started a *break-glass* JIT session on role `arn:aws:iam::123456789012:role/OnCall`"),
            "{text}"
        );
        assert!(text.contains("*Duration:* 1 h 30 min (5400 s)"), "{text}");
        assert!(text.contains("*Reason:* _INC-42 database failover_"), "{text}");
        assert!(
            text.contains(&format!("`cib requests review {SESSION} --note …`")),
            "{text}"
        );
    }

    #[test]
    fn what_requesters_wrote_stays_inert() {
        let text = summary(&event(
            "jit",
            Some(ROLE),
            json!({ "request_reason": "<!channel> see <https://evil.example|the runbook>" }),
        ));
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration_words(900), "15 min (900 s)");
        assert_eq!(duration_words(3600), "1 h (3600 s)");
        assert_eq!(duration_words(5400), "1 h 30 min (5400 s)");
        assert_eq!(duration_words(3661), "1 h 1 min 1 s (3661 s)");
        assert_eq!(duration_words(45), "45 s");
    }
}
