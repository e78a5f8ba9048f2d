//! Calls to the API, and how their failures become messages and exit codes.

use serde_json::Value;

/// Exit codes (documented in the README and `cib --help`).
pub mod exit {
    pub const OK: i32 = 0;
    /// The API refused the request (4xx other than authentication).
    pub const REFUSED: i32 = 1;
    /// Bad command-line usage.
    pub const USAGE: i32 = 2;
    /// Not authenticated or not allowed (401, 403).
    pub const AUTH: i32 = 3;
    /// The API or the network failed (5xx, unreachable); retrying may help.
    pub const UNAVAILABLE: i32 = 4;
    /// `cib verify`: the API answered, and the account's session logs do NOT verify against
    /// their signed digests.
    pub const NOT_VERIFIED: i32 = 5;
}

/// A failure, with the API's problem detail when there is one.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
    /// The HTTP status the API answered with, when it answered (a 409 and a 422 call for a new
    /// session where an extension was asked, say).
    pub status: Option<u16>,
    /// The problem's type name (the last segment of its `type`, e.g. `extension-pending`).
    pub problem: Option<String>,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            status: None,
            problem: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(exit::USAGE, message)
    }
}

pub struct Client {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(url: String, token: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("a client with a timeout builds");
        Client { url, token, http }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Failure> {
        self.call_with(method, path, body, None).await
    }

    /// A call whose success status matters: 201 (granted) or 202 (awaiting approval).
    pub async fn call_status(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), Failure> {
        self.send(method, path, body, None).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, Failure> {
        self.send(method, path, body, idempotency_key)
            .await
            .map(|(_, value)| value)
    }

    /// The call itself: the status and body of a 2xx answer, or the failure any other makes.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), Failure> {
        let mut req = self
            .http
            .request(
                method.parse().map_err(|_| Failure::usage("bad method"))?,
                format!("{}{path}", self.url),
            )
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.map_err(|e| {
            Failure::new(
                exit::UNAVAILABLE,
                format!("could not reach {}: {}", self.url, e.without_url()),
            )
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if (200..300).contains(&status) {
            let value = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            return Ok((status, value));
        }
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut message = match (problem["title"].as_str(), problem["detail"].as_str()) {
            (Some(t), Some(d)) => format!("{t}: {d}"),
            _ => format!("the API answered {status}"),
        };
        for e in problem["errors"].as_array().into_iter().flatten() {
            message.push_str(&format!(
                "\n  {}: {}",
                e["field"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            ));
        }
        let code = match status {
            401 | 403 => exit::AUTH,
            400..=499 => exit::REFUSED,
            _ => exit::UNAVAILABLE,
        };
        Err(Failure {
            code,
            message,
            status: Some(status),
            problem: problem["type"]
                .as_str()
                .and_then(|t| t.rsplit('/').next())
                .map(str::to_string),
        })
    }
}
