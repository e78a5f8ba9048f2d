//! The `chatops-worker` function: triggered by the Slack jobs queue (SQS), it finishes each
//! acknowledged slash command through `shared::services::chatops` and answers at the command's
//! `response_url`. The local runner polls the queue and calls the same handler.
//!
//! The same queue carries the session events the bus's rule sends (requests, break-glass
//! starts, outcomes): those post and update the approval messages (`ChatOpsService::notify`).
//!
//! Whoever can send to the queue is not trusted: a job runs only with the signature the
//! `chatops` function gave it (`ChatOpsService::finish` checks it first and drops any other,
//! `alarm = "chatops-forged"`), and only within an hour of its signed issue time (an older
//! signed job, sent again, is dropped: `alarm = "chatops-stale"`); an event's content is taken
//! from the session's log, not from the message (`notify`), which in any case only posts
//! messages: it approves nothing.
//!
//! Answers SQS's partial-batch format: a message whose job could not run is reported in
//! `batchItemFailures` and redelivered; one that cannot be decoded is dropped (logged), since
//! redelivering it would fail the same way.

use serde_json::{Value, json};
use shared::App;
use shared::domain::SlackJob;

/// Handles one SQS event (`{"Records": [{"messageId", "body"}, …]}`).
pub async fn handle(app: &App, event: Value) -> Value {
    let mut failures = Vec::new();
    for record in event["Records"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let id = record["messageId"].as_str().unwrap_or_default();
        // Session events the bus's rule sends here: approval messages, outcomes.
        if let Some(Ok(event)) = record["body"].as_str().map(serde_json::from_str::<Value>)
            && event.get("detail-type").is_some()
        {
            if let Err(e) = app.chatops.notify(&event["detail"]).await {
                tracing::warn!(message = id, error = %e, "a session event will be retried");
                failures.push(json!({ "itemIdentifier": id }));
            }
            continue;
        }
        let job: SlackJob = match record["body"].as_str().map(serde_json::from_str) {
            Some(Ok(job)) => job,
            _ => {
                tracing::error!(
                    message = id,
                    alarm = "chatops-undecodable",
                    "a Slack job could not be decoded; dropped"
                );
                continue;
            }
        };
        if let Err(e) = app.chatops.finish(&job).await {
            tracing::warn!(message = id, error = %e, "a Slack job will be retried");
            failures.push(json!({ "itemIdentifier": id }));
        }
    }
    json!({ "batchItemFailures": failures })
}
