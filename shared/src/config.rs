//! Configuration from the environment (set by the SAM template in AWS, by the local runner
//! locally). Read once at cold start.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use jsonwebtoken::Algorithm;

use crate::auth::{JwtConfig, KeySource};
use crate::domain::Secret;

#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table holding every entity (`TABLE_NAME`).
    pub table_name: String,
    /// The KMS key sealing stored secrets (`KMS_KEY_ID`).
    pub kms_key_id: String,
    /// The bucket of session logs (`SESSION_LOG_BUCKET`).
    pub session_log_bucket: String,
    pub jwt: JwtConfig,
    /// AWS's sign-in federation endpoint (`FEDERATION_ENDPOINT`); tests and local runs point
    /// it at a stand-in.
    pub federation_endpoint: String,
    /// Slack's signing secret (`SLACK_SIGNING_SECRET`); chat-ops answers 404 without it.
    pub slack_signing_secret: Option<Secret>,
    /// Upper bound on one AWS call, retries included (`AWS_CALL_TIMEOUT_MS`, default 10 s):
    /// a hung dependency must fail the request, not the Lambda's whole time budget.
    pub aws_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

fn var(name: &str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError(format!("{name} is not set")))
}

fn opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Config {
    /// Reads `TABLE_NAME`, `KMS_KEY_ID`, `SESSION_LOG_BUCKET`, `JWT_ISSUER`, `JWT_AUDIENCE`,
    /// `JWT_ALGORITHM` (HS256, RS256, ES256…) and one of `JWT_HS256_SECRET`,
    /// `JWT_JWKS_FILE`, `JWT_JWKS_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let algorithm: Algorithm = var("JWT_ALGORITHM")?
            .parse()
            .map_err(|_| ConfigError("JWT_ALGORITHM is not a JWT algorithm".into()))?;
        let keys = match (opt("JWT_HS256_SECRET"), opt("JWT_JWKS_FILE"), opt("JWT_JWKS_URL")) {
            (Some(s), None, None) => KeySource::Secret(Secret::new(s)),
            (None, Some(f), None) => KeySource::JwksFile(f),
            (None, None, Some(u)) => KeySource::JwksUrl(u),
            _ => {
                return Err(ConfigError(
                    "set exactly one of JWT_HS256_SECRET, JWT_JWKS_FILE, JWT_JWKS_URL".into(),
                ));
            }
        };
        let aws_timeout = match opt("AWS_CALL_TIMEOUT_MS") {
            None => Duration::from_secs(10),
            Some(ms) => Duration::from_millis(
                ms.parse()
                    .map_err(|_| ConfigError("AWS_CALL_TIMEOUT_MS must be a number".into()))?,
            ),
        };
        Ok(Config {
            table_name: var("TABLE_NAME")?,
            kms_key_id: var("KMS_KEY_ID")?,
            session_log_bucket: var("SESSION_LOG_BUCKET")?,
            jwt: JwtConfig {
                issuer: var("JWT_ISSUER")?,
                audience: var("JWT_AUDIENCE")?,
                algorithm,
                keys,
                leeway_seconds: 30,
            },
            federation_endpoint: opt("FEDERATION_ENDPOINT")
                .unwrap_or_else(|| crate::adapters::aws::federation::AWS_FEDERATION_ENDPOINT.to_string()),
            slack_signing_secret: opt("SLACK_SIGNING_SECRET").map(Secret::new),
            aws_timeout,
        })
    }

    /// The SDK configuration for the broker's own identity: region, credentials and endpoint
    /// from the environment (`AWS_ENDPOINT_URL` points every client at local AWS), plus our
    /// timeouts. Lambda puts the execution role's credentials and the region in the
    /// environment; reading them directly skips building the SDK's default provider chains
    /// (one of which creates an STS client) at cold start. Elsewhere the default chains apply.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = crate::adapters::aws::sdk_defaults().timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_timeout(self.aws_timeout)
                .build(),
        );
        if let Some(region) = opt("AWS_REGION") {
            loader = loader.region(aws_config::Region::new(region));
        }
        if opt("AWS_ACCESS_KEY_ID").is_some() && opt("AWS_SECRET_ACCESS_KEY").is_some() {
            loader =
                loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
        }
        loader.load().await
    }
}
