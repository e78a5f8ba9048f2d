//! Approval messages in Slack, driven by the session events on the bus (a rule sends the
//! ones below to the chat-ops queue): a request or extension posts a message with Approve and
//! Deny buttons to the approval channel; a break-glass start posts a notice; the outcome
//! updates that message and tells the requester by DM (when their Slack member is linked).
//! Each event is handled once, whatever the queue redelivers.

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
fn inert(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// What the event says was asked for, in words.
fn summary(e: &Value) -> String {
    let what = match (e["kind"].as_str(), e["role_arn"].as_str()) {
        (Some("jit"), Some(role)) => format!("JIT `{}`", role.rsplit('/').next().unwrap_or(role)),
        _ => "a console session".to_string(),
    };
    let seconds = e["duration_seconds"].as_u64().unwrap_or_default();
    // An extension's own reason (its event's `duration_seconds` is the extension's too).
    let reason = if e["type"] == "extension_requested" {
        e["reason"].as_str()
    } else {
        e["request_reason"].as_str()
    };
    format!(
        "*{}* asks for {what} on `{}` for {}m: _{}_",
        inert(e["user"].as_str().unwrap_or("someone")),
        e["aws_account_id"].as_str().unwrap_or("?"),
        seconds / 60,
        inert(reason.unwrap_or_default())
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
    pub async fn notify(&self, event: &Value) -> Result<(), ChatOpsError> {
        let (Some(slack), Some(channel)) = (&self.notifier, &self.approval_channel) else {
            return Ok(());
        };
        let (Some(kind), Some(session)) = (event["type"].as_str(), event["session_id"].as_str()) else {
            tracing::warn!("a bus event without a type or session was ignored");
            return Ok(());
        };
        let Ok(id) = SessionId::parse(session) else {
            return Ok(());
        };
        let event_id = event["event_id"].as_str().unwrap_or_default();
        let until = self.clock.now() + time::Duration::days(super::JOB_MEMORY_DAYS);
        if !self.once.first_use(&format!("event:{event_id}"), until).await? {
            return Ok(());
        }
        let by = event["by"].as_str().unwrap_or("someone");
        let result = match kind {
            "pending" | "extension_requested" => {
                let mut text = summary(event);
                if kind == "extension_requested" {
                    text = format!("{text}\n(an *extension* of a live session)");
                }
                let text = format!(
                    "{text}\nNeeds {} approval(s) from an approver group; lapses at {} UTC.",
                    event["approvals_required"].as_u64().unwrap_or(1),
                    event["lapses_at"].as_str().unwrap_or("?")
                );
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
                let text = format!(
                    ":rotating_light: Break-glass: {}\nIt started at once, until {} UTC. An approver must review it: \
                     `cib requests review {session} --note …`",
                    summary(event),
                    event["expires_at"].as_str().unwrap_or("?")
                );
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

    /// A DM to the Slack member linked to `user`, if any.
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
            if let Some((member, _)) = p.items.iter().find(|(_, email)| email == user) {
                return slack
                    .post(member.as_str(), text, &json!([section(text)]))
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
