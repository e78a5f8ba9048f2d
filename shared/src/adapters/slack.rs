//! `ChatResponder` over HTTP: posts a slash command's answer to its `response_url`, only under
//! the configured prefix (`https://hooks.slack.com/` in AWS; a local stand-in in tests), so a
//! job cannot be made to post anywhere else.

use async_trait::async_trait;

use crate::ports::ChatResponder;

pub struct SlackResponder {
    prefix: String,
    /// Built on first use; a build failure is reported, never replaced by a default client
    /// (which would follow redirects and wait forever).
    http: std::sync::OnceLock<Result<reqwest::Client, String>>,
}

/// Whether answers may be posted to `response_url`: under `prefix`, which must end with a
/// slash so that it pins the host. The chatops function checks it before it queues a command,
/// so that no command runs whose answer could not be delivered.
pub fn accepts(prefix: &str, response_url: &str) -> bool {
    prefix.ends_with('/') && response_url.starts_with(prefix) && !response_url.contains("..")
}

/// The HTTP client for Slack, built on first use: a 10 s timeout, and no redirects (one could
/// lead a post off Slack's host). A build failure is reported, never replaced by a default
/// client.
fn client(cell: &std::sync::OnceLock<Result<reqwest::Client, String>>) -> Result<&reqwest::Client, String> {
    cell.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the Slack client: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

impl SlackResponder {
    pub fn new(prefix: impl Into<String>) -> Self {
        SlackResponder {
            prefix: prefix.into(),
            http: std::sync::OnceLock::new(),
        }
    }
}

#[async_trait]
impl ChatResponder for SlackResponder {
    async fn respond(&self, response_url: &str, text: &str) -> Result<(), String> {
        if !accepts(&self.prefix, response_url) {
            return Err(format!("response_url is not under {}", self.prefix));
        }
        let http = client(&self.http)?;
        let resp = http
            .post(response_url)
            // Never replace the message a button was clicked on: its outcome comes with the
            // session's events (`chat.update`).
            .json(&serde_json::json!({ "response_type": "ephemeral", "replace_original": false, "text": text }))
            .send()
            .await
            // The URL lets anyone post into the user's conversation: never in an error or a log.
            .map_err(|e| format!("posting the answer failed: {}", e.without_url()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("Slack answered {}", resp.status()))
        }
    }
}

/// `ChatNotifier` on Slack's Web API (`SLACK_API_BASE`, a local stand-in in tests), with the
/// bot token (scopes `chat:write`, `im:write`; `users:read` and `users:read.email` for
/// `/jit confirm`). Never follows redirects; the token never appears in errors.
pub struct SlackApi {
    base: String,
    token: crate::domain::Secret,
    http: std::sync::OnceLock<Result<reqwest::Client, String>>,
}

impl SlackApi {
    pub fn new(base: &str, token: crate::domain::Secret) -> Self {
        SlackApi {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: std::sync::OnceLock::new(),
        }
    }

    async fn call(&self, method: &str, body: serde_json::Value) -> Result<serde_json::Value, String> {
        let http = client(&self.http)?;
        let request = http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(self.token.expose())
            .json(&body);
        self.answer(method, request).await
    }

    /// A read method, form-encoded (Slack takes JSON bodies for its write methods only).
    async fn call_form(&self, method: &str, form: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        let http = client(&self.http)?;
        let request = http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(self.token.expose())
            .form(form);
        self.answer(method, request).await
    }

    /// Sends `request` and reads the Web API's answer: `ok: true`, or its error code.
    async fn answer(&self, method: &str, request: reqwest::RequestBuilder) -> Result<serde_json::Value, String> {
        let resp = request
            .send()
            .await
            .map_err(|e| format!("{method} failed: {}", e.without_url()))?;
        let status = resp.status();
        let answer: serde_json::Value = resp
            .json()
            .await
            .map_err(|_| format!("{method}: Slack answered {status} without JSON"))?;
        // The Web API answers 200 with `ok: false` and an error code.
        if answer["ok"].as_bool() == Some(true) {
            Ok(answer)
        } else {
            Err(format!(
                "{method}: {}",
                answer["error"].as_str().unwrap_or("Slack refused the call")
            ))
        }
    }
}

#[async_trait]
impl crate::ports::ChatNotifier for SlackApi {
    async fn post(&self, channel: &str, text: &str, blocks: &serde_json::Value) -> Result<(String, String), String> {
        let answer = self
            .call(
                "chat.postMessage",
                serde_json::json!({ "channel": channel, "text": text, "blocks": blocks }),
            )
            .await?;
        Ok((
            answer["channel"].as_str().unwrap_or(channel).to_string(),
            answer["ts"].as_str().unwrap_or_default().to_string(),
        ))
    }

    async fn update(&self, channel: &str, ts: &str, text: &str, blocks: &serde_json::Value) -> Result<(), String> {
        self.call(
            "chat.update",
            serde_json::json!({ "channel": channel, "ts": ts, "text": text, "blocks": blocks }),
        )
        .await
        .map(|_| ())
    }

    async fn member_email(&self, member: &str) -> Result<Option<String>, String> {
        let answer = self.call_form("users.info", &[("user", member)]).await?;
        let user = &answer["user"];
        if user["deleted"].as_bool() == Some(true) {
            return Ok(None);
        }
        Ok(user["profile"]["email"]
            .as_str()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string))
    }
}
