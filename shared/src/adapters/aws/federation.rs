//! `ConsoleFederation` on AWS's sign-in federation endpoint: `getSigninToken` with the
//! temporary credentials, then a `login` URL. The endpoint is configurable so tests and local
//! runs point it at a stand-in.

use async_trait::async_trait;

use crate::encoding::percent_encode;
use crate::ports::{CloudError, ConsoleFederation, TemporaryCredentials};

pub const AWS_FEDERATION_ENDPOINT: &str = "https://signin.aws.amazon.com/federation";
const ISSUER: &str = "cloud-iam-broker";

pub struct HttpFederation {
    endpoint: String,
    timeout: std::time::Duration,
    /// Built on the first sign-in URL, not at cold start: its TLS set-up parses the root
    /// certificates, and most invocations of most functions never need it.
    http: std::sync::OnceLock<reqwest::Client>,
}

impl HttpFederation {
    /// `timeout` bounds one call, as `AWS_CALL_TIMEOUT_MS` bounds the SDK's: the sign-in
    /// endpoint is an AWS call like the others.
    pub fn new(endpoint: impl Into<String>, timeout: std::time::Duration) -> Self {
        HttpFederation {
            endpoint: endpoint.into(),
            timeout,
            http: std::sync::OnceLock::new(),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(self.timeout)
                .build()
                .expect("a client with a timeout builds")
        })
    }
}

#[async_trait]
impl ConsoleFederation for HttpFederation {
    async fn signin_url(
        &self,
        c: &TemporaryCredentials,
        duration_seconds: u32,
        destination: &str,
    ) -> Result<String, CloudError> {
        let session = serde_json::json!({
            "sessionId": c.access_key_id,
            "sessionKey": c.secret_access_key.expose(),
            "sessionToken": c.session_token.expose(),
        })
        .to_string();
        let url = format!(
            "{}?Action=getSigninToken&SessionDuration={duration_seconds}&Session={}",
            self.endpoint,
            percent_encode(&session)
        );
        // The URL carries the credentials: errors below never include it.
        let resp =
            self.http().get(&url).send().await.map_err(|e| {
                CloudError::Unavailable(format!("federation endpoint unreachable: {}", e.without_url()))
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(CloudError::Refused(format!("federation endpoint answered {status}")));
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|_| CloudError::Unavailable("federation endpoint sent no JSON".into()))?;
        let token = body["SigninToken"]
            .as_str()
            .ok_or_else(|| CloudError::Unavailable("no SigninToken returned".into()))?;
        Ok(format!(
            "{}?Action=login&Issuer={}&Destination={}&SigninToken={}",
            self.endpoint,
            percent_encode(ISSUER),
            percent_encode(destination),
            percent_encode(token)
        ))
    }
}
