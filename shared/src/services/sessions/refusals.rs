//! Refused starts, recorded without letting a caller grow the log bucket at will: each caller's
//! first `LOGGED_PER_DAY` refusals of a day are logged in full, one object each, numbered by an
//! atomic DynamoDB counter (`refusals/<day>/<caller hash>/<n>.jsonl`); past that they are only
//! counted (the counter holds the day's total, and the last logged event says so).

use serde_json::json;
use time::Duration;

use super::{SessionService, StartError, StartRequest, rfc3339};
use crate::auth::Principal;
use crate::domain::Email;
use crate::domain::log_chain::sha256_hex;

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
        let caller = sha256_hex(principal.scope().as_bytes())[..32].to_string();
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
        // One object per counted refusal: the counter is atomic, so concurrent refusals never
        // rewrite each other's record (an S3 append is a read and a write).
        let key = format!("refusals/{day}/{caller}/{count:02}.jsonl");
        if let Err(e) = self.log.append(&key, event).await {
            tracing::warn!(error = %e, "logging a refusal failed");
        }
        refusal
    }
}
