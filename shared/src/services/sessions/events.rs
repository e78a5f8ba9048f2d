//! Every transition of a session goes to its hash-chained S3 log and then, as the same JSON,
//! onto the event bus (docs/events.md). The log is the record and fails closed where the
//! caller says so; the bus is a notification: a failed put is reported, never undone.

use serde_json::Value;

use super::SessionService;
use crate::domain::Session;
use crate::ports::LogError;

/// The bus's `detail-type` for each log event type; `None`: log only.
pub fn detail_type(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "requested" => "Session requested",
        "pending" => "Approval requested",
        "approval" => "Session approval given",
        "approved" => "Session approved",
        "denied" => "Session denied",
        "cancelled" => "Session request cancelled",
        "lapsed" => "Session request lapsed",
        "break_glass" => "Break-glass session started",
        "started" => "Session started",
        "extension_requested" => "Session extension requested",
        "extended" => "Session extended",
        "reviewed" => "Break-glass session reviewed",
        "ended" => "Session ended",
        "expired" => "Session expired",
        "revoked" => "Session access revoked",
        "revocation_failed" => "Session revocation failed",
        "shell_sessions" => "Shell sessions recorded",
        _ => return None,
    })
}

/// The operational metric a logged transition counts towards.
fn metric_of(event_type: &str) -> Option<crate::metrics::Metric> {
    use crate::metrics::Metric;
    Some(match event_type {
        "requested" => Metric::SessionsRequested,
        "started" | "break_glass" => Metric::SessionsStarted,
        "ended" => Metric::SessionsEnded,
        "expired" => Metric::SessionsExpired,
        "revocation_failed" => Metric::RevocationsFailed,
        _ => return None,
    })
}

impl SessionService {
    /// Appends `event` to the log at `key`, then puts it on the bus; returns the log's head.
    pub(super) async fn record(&self, key: &str, event: Value) -> Result<String, LogError> {
        self.record_after(key, None, event).await
    }

    /// `record`; with `after`, only onto a log that ends at that head (`SessionLog::append_after`).
    async fn record_after(&self, key: &str, after: Option<&str>, event: Value) -> Result<String, LogError> {
        let head = match after {
            Some(head) => self.log.append_after(key, head, event.clone()).await?,
            None => self.log.append(key, event.clone()).await?,
        };
        self.publish(&event).await;
        Ok(head)
    }

    /// Puts a logged event on the bus (and, for an end, the `revoked` event that goes with it).
    pub(super) async fn publish(&self, event: &Value) {
        self.publish_all(&[event]).await;
    }

    /// Puts logged events on the bus in one call (each end's `revoked` event beside it).
    pub(super) async fn publish_all(&self, logged: &[&Value]) {
        let mut revoked: Vec<Value> = Vec::new();
        let mut kinds: Vec<&'static str> = Vec::new();
        for event in logged {
            let kind = event["type"].as_str().unwrap_or_default();
            if let Some(metric) = metric_of(kind) {
                crate::metrics::count(metric);
            }
            kinds.push(detail_type(kind).unwrap_or_default());
            if matches!(kind, "ended" | "expired") {
                let mut r = (*event).clone();
                r["type"] = "revoked".into();
                r["outcome"] = kind.into();
                r["event_id"] = format!("{}:revoked", event["session_id"].as_str().unwrap_or_default()).into();
                revoked.push(r);
            }
        }
        let mut events: Vec<(&str, &Value)> = Vec::new();
        for (kind, event) in kinds.iter().zip(logged.iter()) {
            if !kind.is_empty() {
                events.push((kind, event));
            }
        }
        for r in &revoked {
            events.push(("Session access revoked", r));
        }
        if !events.is_empty() {
            self.put(&events).await;
        }
    }

    async fn put(&self, events: &[(&str, &Value)]) {
        if let Err(e) = self.events.publish_all(events).await {
            tracing::error!(
                event_id = events[0].1["event_id"].as_str().unwrap_or_default(),
                error = %e,
                alarm = "events-undelivered",
                "an event could not be put on the bus; it is in the session log"
            );
        }
    }

    /// Logs `event` for a session already saved, then records the log's new head on it. A
    /// concurrent writer may have saved the session since: then the stored record's head is
    /// taken from the log itself (which holds both writers' lines), so the record ends where the
    /// log does; the caller's copy keeps its (now stale) version, so it cannot write over them.
    pub(super) async fn log_and_keep_head(&self, session: &mut Session, event: Value) {
        let _ = self.log_and_keep_head_checked(session, event, false).await;
    }

    /// `log_and_keep_head`; with `after_head`, only onto a log that still ends at the head the
    /// session records (`LogError::Tampered` otherwise, nothing written). The session was saved
    /// when its version moved on.
    pub(super) async fn log_and_keep_head_checked(
        &self,
        session: &mut Session,
        event: Value,
        after_head: bool,
    ) -> Result<(), LogError> {
        let after = after_head.then(|| session.log_head.clone());
        let head = match self.record_after(&session.log_key, after.as_deref(), event).await {
            Ok(head) => head,
            Err(e) => {
                tracing::error!(session = %session.id, error = %e, "logging a transition failed");
                return Err(e);
            }
        };
        session.log_head = head;
        session.version += 1;
        if self.sessions.save(session, None).await.is_ok() {
            return Ok(());
        }
        session.version -= 1;
        // Lost to a concurrent write: bring the stored head to the log's end.
        for _ in 0..5 {
            let Ok(Some(mut current)) = self.sessions.get(&session.id).await else {
                return Ok(());
            };
            let Ok(Some(content)) = self.log.read(&current.log_key).await else {
                return Ok(());
            };
            let Ok((_, head)) = crate::domain::log_chain::verify(&current.log_key, &content) else {
                return Ok(());
            };
            // Only the head is brought up to date: the caller's copy is not replaced by what
            // another writer left (an end, say), which the caller must not act on unseen.
            if current.log_head == head {
                session.log_head = head;
                return Ok(());
            }
            current.log_head = head.clone();
            current.version += 1;
            if current.status == crate::domain::SessionStatus::Ending {
                // An end in progress keeps its retry time (see `ending`); its finish records
                // the head.
                return Ok(());
            }
            if self.sessions.save(&current, None).await.is_ok() {
                session.log_head = head;
                return Ok(());
            }
        }
        tracing::warn!(session = %session.id, "the session's log head could not be brought up to date");
        Ok(())
    }
}
