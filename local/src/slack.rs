//! Slack, locally: a stand-in for the `response_url`s Slack gives commands and for its Web API
//! (`<base>api/chat.postMessage`, …), recording every post for tests and for a developer to
//! read in the runner's log, and answering `users.info` with the profile e-mails tests set
//! (`set_member_email`); and the poller that plays SQS's event-source mapping, handing queued
//! jobs to the `chatops-worker` handler as Lambda would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};

/// One answer posted to a response URL.
#[derive(Debug, Clone)]
pub struct SlackAnswer {
    /// The path after the stand-in's base URL (tests use one per command).
    pub path: String,
    pub body: serde_json::Value,
}

#[derive(Clone, Default)]
pub struct SlackStandIn {
    answers: Arc<Mutex<Vec<SlackAnswer>>>,
    /// Each member's Slack profile e-mail, as `users.info` gives it.
    emails: Arc<Mutex<std::collections::HashMap<String, String>>>,
}

impl SlackStandIn {
    /// Starts on a free loopback port; returns the handle and the base URL (with a slash).
    pub async fn start() -> Result<(Self, String), String> {
        let stand_in = SlackStandIn::default();
        let router = axum::Router::new()
            .route("/api/users.info", axum::routing::post(users_info))
            .route("/{*path}", axum::routing::post(record))
            .with_state(stand_in.clone());
        let addr = crate::serve_on_loopback(0, router).await?;
        Ok((stand_in, format!("http://{addr}/")))
    }

    pub fn answers(&self) -> Vec<SlackAnswer> {
        self.answers.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What `users.info` says `member`'s Slack profile e-mail is.
    pub fn set_member_email(&self, member: &str, email: &str) {
        self.emails
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(member.to_string(), email.to_string());
    }
}

/// `users.info` (form-encoded, as Slack takes it): the member with their profile e-mail, or
/// `user_not_found`.
async fn users_info(
    State(s): State<SlackStandIn>,
    axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
) -> axum::Json<serde_json::Value> {
    let member = form.get("user").cloned().unwrap_or_default();
    let email = s.emails.lock().unwrap_or_else(|p| p.into_inner()).get(&member).cloned();
    axum::Json(match email {
        Some(email) => serde_json::json!({
            "ok": true,
            "user": { "id": member, "deleted": false, "profile": { "email": email } },
        }),
        None => serde_json::json!({ "ok": false, "error": "user_not_found" }),
    })
}

/// Records the post, and answers as Slack's Web API does (`ok`, the channel and the message's
/// `ts`); a response URL's answer is ignored by the broker.
async fn record(
    State(s): State<SlackStandIn>,
    Path(path): Path<String>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::Json<serde_json::Value> {
    tracing::info!(
        path,
        text = body["text"].as_str().unwrap_or_default(),
        "Slack answer (local stand-in)"
    );
    let mut answers = s.answers.lock().unwrap_or_else(|p| p.into_inner());
    let ts = body["ts"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}.000100", 1_700_000_000 + answers.len()));
    let channel = body["channel"].clone();
    answers.push(SlackAnswer { path, body });
    axum::Json(serde_json::json!({ "ok": true, "channel": channel, "ts": ts }))
}

/// Polls `queue_url` and runs each job through the worker's handler, deleting what it
/// finished: SQS's Lambda trigger, on localhost.
pub fn run_worker(app: shared::App, sdk: aws_config::SdkConfig, queue_url: String) {
    tokio::spawn(async move {
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        loop {
            let received = sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(1)
                .wait_time_seconds(1)
                .send()
                .await;
            let messages = match received {
                Ok(out) => out.messages.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(error = %e, "polling the Slack jobs queue failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if messages.is_empty() {
                continue;
            }
            let records: Vec<serde_json::Value> = messages
                .iter()
                .map(|m| serde_json::json!({ "messageId": m.message_id, "body": m.body }))
                .collect();
            let answer = chatops_worker::handle(&app, serde_json::json!({ "Records": records })).await;
            let failed: Vec<&str> = answer["batchItemFailures"]
                .as_array()
                .map(|f| f.iter().filter_map(|i| i["itemIdentifier"].as_str()).collect())
                .unwrap_or_default();
            for m in &messages {
                if failed.contains(&m.message_id.as_deref().unwrap_or_default()) {
                    continue;
                }
                if let Some(receipt) = &m.receipt_handle {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&queue_url)
                        .receipt_handle(receipt)
                        .send()
                        .await;
                }
            }
        }
    });
}
