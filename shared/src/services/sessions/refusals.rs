//! Refused starts, recorded without letting a caller grow the log bucket at will: each caller's
//! refusals of a day go to one hash-chained object (`refusals/<day>/<caller hash>.jsonl`), the
//! first `LOGGED_PER_DAY` in full; past that they are only counted (the DynamoDB counter holds
//! the day's total, and the last logged event says so).

use serde_json::json;
use sha2::{Digest, Sha256};
use time::Duration;

use super::{SessionService, StartError, StartRequest, rfc3339};
use crate::auth::Principal;
use crate::domain::Email;

pub const LOGGED_PER_DAY: u64 = 20;
/// How long a day's counter is kept.
const COUNTER_DAYS: i64 = 35;

impl SessionService {
    /// Records `refusal` (bounded) and returns it. Recording never changes the answer: nothing
    /// was granted, so a log failure is only reported.
    pub(super) async fn record_refusal(
        &self,
        principal: &Principal,
        user: &Email,
        req: &StartRequest,
        refusal: StartError,
    ) -> StartError {
        let now = self.clock.now();
        let day = format!("{:04}-{:02}-{:02}", now.year(), now.month() as u8, now.day());
        let caller: String = Sha256::digest(principal.scope().as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        let count = match self
            .refusals
            .count_refusal(&caller, &day, now + Duration::days(COUNTER_DAYS))
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "counting a refusal failed");
                return refusal;
            }
        };
        tracing::info!(caller, count, "session start refused");
        if count > LOGGED_PER_DAY {
            return refusal;
        }
        let mut event = json!({
            "v": 1,
            "event_id": format!("refusal:{day}:{caller}:{count}"),
            "type": "refused",
            "at": rfc3339(now),
            "n": count,
            "account_id": req.account.to_string(),
            "kind": req.kind.as_str(),
            "user": user.to_string(),
            "requested_by": principal.subject,
            "role_arn": req.role.as_ref().map(ToString::to_string),
            "duration_seconds": req.duration_seconds,
            "reason": req.reason,
            "why": refusal.to_string(),
        });
        if count == LOGGED_PER_DAY {
            event["note"] = json!(format!(
                "further refusals of this caller today are counted, not logged (DynamoDB REFUSALS#{day}#{caller})"
            ));
        }
        let key = format!("refusals/{day}/{caller}.jsonl");
        if let Err(e) = self.log.append(&key, event).await {
            tracing::warn!(error = %e, "logging a refusal failed");
        }
        refusal
    }
}
