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
        let http = self
            .http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    // A redirect could lead the post off Slack's host.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| format!("building the Slack client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let resp = http
            .post(response_url)
            .json(&serde_json::json!({ "response_type": "ephemeral", "text": text }))
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
