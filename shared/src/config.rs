//! Configuration from the environment (set by the SAM template in AWS, by the local runner
//! locally). Read once at cold start.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use jsonwebtoken::Algorithm;

use crate::auth::{Bots, ClaimMapping, JwtConfig, KeySource};
use crate::domain::Secret;

#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table holding every entity (`TABLE_NAME`).
    pub table_name: String,
    /// The KMS key sealing stored secrets (`KMS_KEY_ID`).
    pub kms_key_id: String,
    /// The bucket of session logs (`SESSION_LOG_BUCKET`).
    pub session_log_bucket: String,
    /// The asymmetric KMS key that signs the session logs' digests (`EVIDENCE_KEY_ID`); unset,
    /// no digests are written and verification answers that evidence is off.
    pub evidence_key_id: Option<String>,
    pub jwt: JwtConfig,
    /// AWS's sign-in federation endpoint (`FEDERATION_ENDPOINT`); tests and local runs point
    /// it at a stand-in.
    pub federation_endpoint: String,
    /// Slack's signing secret, read at cold start from the SSM SecureString parameter
    /// `SLACK_SIGNING_SECRET_PARAMETER` names (`crate::app::read_secret_parameters`), never from
    /// the environment; chat-ops answers 404 without it. It also keys the signatures of the jobs
    /// the chatops function queues for the worker (`SlackJob::signed`).
    pub slack_signing_secret: Option<Secret>,
    /// `SLACK_SIGNING_SECRET_PARAMETER`: the name of the SSM SecureString parameter holding
    /// Slack's signing secret (the chatops function and the worker); unset, chat-ops is off.
    pub slack_signing_secret_parameter: Option<String>,
    /// Which Slack workspace (and, optionally, channels) commands may come from.
    pub slack: SlackConfig,
    /// Upper bound on one AWS call, retries included (`AWS_CALL_TIMEOUT_MS`, default 10 s):
    /// a hung dependency must fail the request, not the Lambda's whole time budget.
    pub aws_timeout: Duration,
    /// The EventBridge bus transitions are put on (`EVENT_BUS_NAME`); unset, events are only in
    /// the session logs.
    pub event_bus: Option<String>,
    /// How long a request waits for approval before it lapses (`REQUEST_LAPSE_SECONDS`,
    /// default one hour, 300 to 86400).
    pub request_lapse: Duration,
    /// Whether auditors may read shell transcripts (`AUDITORS_READ_TRANSCRIPTS`, default
    /// false): transcripts can hold typed secrets, so they are for the owner and admins unless
    /// a deployment decides otherwise.
    pub auditors_read_transcripts: bool,
    /// The AWS account the broker runs in (`BROKER_ACCOUNT_ID`; the template sets it), which
    /// registration refuses.
    pub broker_account_id: Option<crate::domain::AwsAccountId>,
    /// The ARN (a pattern with `*`) of the broker's own principals (`BROKER_PRINCIPAL_ARN`; the
    /// template names its functions' roles): the trust policy issued with an ExternalId lets in
    /// only them (`aws:PrincipalArn`), not everyone in the broker's account allowed
    /// `sts:AssumeRole`. Unset, it names the account alone.
    pub broker_principal_arn: Option<String>,
    /// The name (a pattern with `*`) of the role customers create for the broker in accounts
    /// registered by role (`TARGET_ROLE_NAME`; the template's `TargetRoleName`, which also
    /// limits the functions' AssumeRole to it). Default `CloudIamBrokerAccess`.
    pub target_role_name: String,
    /// The name (a pattern with `*`) of the read-only role customers create in an
    /// organization's management account (`ORGANIZATION_ROLE_NAME`; the template's
    /// `OrganizationRoleName`). Default `CloudIamBrokerOrganizationReader`.
    pub organization_role_name: String,
    /// The role customers create for the broker in the account that administers an
    /// organization's IAM Identity Center (`IDENTITY_CENTER_ROLE_NAME`; the template's
    /// `IdentityCenterRoleName`). Default `CloudIamBrokerIdentityCenter`.
    pub identity_center_role_name: String,
}

/// The role customers create for the broker where an organization's Identity Center is
/// administered: account assignments, and the permission sets' inline policies.
pub const DEFAULT_IDENTITY_CENTER_ROLE_NAME: &str = "CloudIamBrokerIdentityCenter";

/// The read-only role customers create for the broker in an organization's management account.
pub const DEFAULT_ORGANIZATION_ROLE_NAME: &str = "CloudIamBrokerOrganizationReader";

/// The role customers create for the broker in each account registered by role, unless the
/// deployment names another (the template's `TargetRoleName` default).
pub const DEFAULT_TARGET_ROLE_NAME: &str = "CloudIamBrokerAccess";

/// Where Slack requests may come from and where answers go.
#[derive(Debug, Clone, Default)]
pub struct SlackConfig {
    /// `SLACK_TEAM_ID`: commands from any other workspace are refused. Required with
    /// `SLACK_SIGNING_SECRET_PARAMETER`.
    pub team_id: Option<String>,
    /// `SLACK_CHANNEL_IDS` (comma-separated): when set, only these channels.
    pub channel_ids: Vec<String>,
    /// `SLACK_RESPONSE_URL_PREFIX` (default `https://hooks.slack.com/`): deferred answers go
    /// only to a `response_url` under it. Tests point it at a local stand-in.
    pub response_url_prefix: String,
    /// `SLACK_JOBS_QUEUE_URL`: the queue slash commands are finished through.
    pub jobs_queue_url: Option<String>,
    /// `SLACK_API_BASE` (default `https://slack.com/api`): where Web API calls go; tests point
    /// it at a stand-in.
    pub api_base: String,
    /// The bot token: posts approval messages (scopes `chat:write`, `im:write`) and reads a
    /// member's e-mail for `/jit confirm` (`users:read`, `users:read.email`). Read at cold start
    /// from the SSM SecureString parameter `bot_token_parameter` names, never from the
    /// environment.
    pub bot_token: Option<Secret>,
    /// `SLACK_BOT_TOKEN_PARAMETER`: the name of the SSM SecureString parameter holding the bot
    /// token (the worker); unset, approval messages are off.
    pub bot_token_parameter: Option<String>,
    /// `SLACK_APPROVAL_CHANNEL`: the channel approval requests are posted to.
    pub approval_channel: Option<String>,
}

pub const SLACK_API_BASE: &str = "https://slack.com/api";

pub const SLACK_RESPONSE_URL_PREFIX: &str = "https://hooks.slack.com/";

fn list(name: &str) -> Vec<String> {
    opt(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn flag(name: &str) -> Result<bool, ConfigError> {
    match opt(name).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ConfigError(format!("{name} must be true or false"))),
    }
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

/// An IAM principal's ARN, possibly with `*`: six colon-separated parts, the service `iam`, a
/// 12-digit account, no white space (a typo would otherwise be issued in every trust policy).
fn is_iam_arn_pattern(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if !partition.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && (resource.starts_with("role/") || resource.starts_with("user/"))
            && !arn.chars().any(char::is_whitespace))
}

impl Config {
    /// Reads `TABLE_NAME`, `KMS_KEY_ID`, `SESSION_LOG_BUCKET`, `JWT_ISSUER`, `JWT_AUDIENCE`,
    /// `JWT_ALGORITHM` (HS256, RS256, ES256…) and one of `JWT_HS256_SECRET`,
    /// `JWT_JWKS_FILE`, `JWT_JWKS_URL`; the claim mapping (`JWT_EMAIL_CLAIM`,
    /// `JWT_ROLE_CLAIM`, `JWT_GROUPS_CLAIM`, `JWT_ADMIN_GROUPS`, `JWT_AUDITOR_GROUPS`, `JWT_BOT_GROUPS`,
    /// `JWT_REQUIRE_EMAIL_VERIFIED`), `BOTS` and the Slack settings. docs/identity.md has
    /// worked examples. Secrets named by SSM parameter (`SLACK_SIGNING_SECRET_PARAMETER`,
    /// `SLACK_BOT_TOKEN_PARAMETER`) are not read here: `crate::app::read_secret_parameters`
    /// reads them, at cold start, before the app is built.
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
        let defaults = ClaimMapping::default();
        let claims = ClaimMapping {
            email_claim: opt("JWT_EMAIL_CLAIM").unwrap_or(defaults.email_claim),
            role_claim: opt("JWT_ROLE_CLAIM").unwrap_or(defaults.role_claim),
            groups_claim: opt("JWT_GROUPS_CLAIM"),
            admin_groups: list("JWT_ADMIN_GROUPS"),
            auditor_groups: list("JWT_AUDITOR_GROUPS"),
            bot_groups: list("JWT_BOT_GROUPS"),
            require_email_verified: flag("JWT_REQUIRE_EMAIL_VERIFIED")?,
        };
        if claims.groups_claim.is_none()
            && !(claims.admin_groups.is_empty() && claims.auditor_groups.is_empty() && claims.bot_groups.is_empty())
        {
            return Err(ConfigError(
                "JWT_ADMIN_GROUPS, JWT_AUDITOR_GROUPS and JWT_BOT_GROUPS need JWT_GROUPS_CLAIM (the claim holding groups)"
                    .into(),
            ));
        }
        let bots = match opt("BOTS") {
            Some(json) => Bots::parse(&json).map_err(ConfigError)?,
            None => Bots::default(),
        };
        let slack_signing_secret_parameter = opt("SLACK_SIGNING_SECRET_PARAMETER");
        let slack = SlackConfig {
            team_id: opt("SLACK_TEAM_ID"),
            channel_ids: list("SLACK_CHANNEL_IDS"),
            response_url_prefix: opt("SLACK_RESPONSE_URL_PREFIX").unwrap_or_else(|| SLACK_RESPONSE_URL_PREFIX.into()),
            jobs_queue_url: opt("SLACK_JOBS_QUEUE_URL"),
            api_base: opt("SLACK_API_BASE").unwrap_or_else(|| SLACK_API_BASE.into()),
            bot_token: None,
            bot_token_parameter: opt("SLACK_BOT_TOKEN_PARAMETER"),
            approval_channel: opt("SLACK_APPROVAL_CHANNEL"),
        };
        if slack.bot_token_parameter.is_some() != slack.approval_channel.is_some() {
            return Err(ConfigError(
                "SLACK_BOT_TOKEN_PARAMETER and SLACK_APPROVAL_CHANNEL go together: approval messages need both".into(),
            ));
        }
        let request_lapse = match opt("REQUEST_LAPSE_SECONDS") {
            None => Duration::from_secs(3600),
            Some(v) => match v.parse::<u64>() {
                Ok(secs) if (300..=86_400).contains(&secs) => Duration::from_secs(secs),
                _ => {
                    return Err(ConfigError("REQUEST_LAPSE_SECONDS must be 300 to 86400 seconds".into()));
                }
            },
        };
        if slack_signing_secret_parameter.is_some() && slack.team_id.is_none() {
            return Err(ConfigError(
                "SLACK_TEAM_ID is required with SLACK_SIGNING_SECRET_PARAMETER: commands are accepted from one workspace"
                    .into(),
            ));
        }
        Ok(Config {
            table_name: var("TABLE_NAME")?,
            kms_key_id: var("KMS_KEY_ID")?,
            session_log_bucket: var("SESSION_LOG_BUCKET")?,
            evidence_key_id: opt("EVIDENCE_KEY_ID"),
            jwt: JwtConfig {
                issuer: var("JWT_ISSUER")?,
                audience: var("JWT_AUDIENCE")?,
                algorithm,
                keys,
                leeway_seconds: 30,
                claims,
                bots,
            },
            federation_endpoint: opt("FEDERATION_ENDPOINT")
                .unwrap_or_else(|| crate::adapters::aws::federation::AWS_FEDERATION_ENDPOINT.to_string()),
            // Filled from `slack_signing_secret_parameter` at cold start (`read_secret_parameters`).
            slack_signing_secret: None,
            slack_signing_secret_parameter,
            slack,
            aws_timeout,
            event_bus: opt("EVENT_BUS_NAME"),
            request_lapse,
            auditors_read_transcripts: flag("AUDITORS_READ_TRANSCRIPTS")?,
            target_role_name: opt("TARGET_ROLE_NAME").unwrap_or_else(|| DEFAULT_TARGET_ROLE_NAME.into()),
            organization_role_name: opt("ORGANIZATION_ROLE_NAME")
                .unwrap_or_else(|| DEFAULT_ORGANIZATION_ROLE_NAME.into()),
            identity_center_role_name: opt("IDENTITY_CENTER_ROLE_NAME")
                .unwrap_or_else(|| DEFAULT_IDENTITY_CENTER_ROLE_NAME.into()),
            broker_principal_arn: match opt("BROKER_PRINCIPAL_ARN") {
                Some(arn) if !is_iam_arn_pattern(&arn) => {
                    return Err(ConfigError(
                        "BROKER_PRINCIPAL_ARN must be an IAM ARN (arn:<partition>:iam::<account>:<role or user>/…)"
                            .into(),
                    ));
                }
                arn => arn,
            },
            broker_account_id: match opt("BROKER_ACCOUNT_ID") {
                None => None,
                Some(id) => Some(
                    crate::domain::AwsAccountId::parse(&id)
                        .map_err(|_| ConfigError("BROKER_ACCOUNT_ID must be 12 digits".into()))?,
                ),
            },
        })
    }

    /// The SDK configuration for the broker's own identity, built by hand for a Lambda: the
    /// execution role's credentials and the Region from the environment (Lambda sets
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` and `AWS_REGION`),
    /// `AWS_ENDPOINT_URL` where set (local AWS points every client there), our timeouts and the
    /// SDK's standard retries. Not `aws_config`'s loader: at every cold start it builds the
    /// default provider chains (IMDS, ECS, SSO, web identity with an STS client) and reads the
    /// profile files, and it links all of that into every bootstrap (docs/benchmarks.md §3).
    pub fn sdk_config(&self) -> Result<aws_config::SdkConfig, ConfigError> {
        sdk_config_from(opt, self.aws_timeout)
    }
}

/// `Config::sdk_config`, reading the environment through `opt`.
fn sdk_config_from(
    opt: impl Fn(&str) -> Option<String>,
    timeout: Duration,
) -> Result<aws_config::SdkConfig, ConfigError> {
    let need = |name: &str| opt(name).ok_or_else(|| ConfigError(format!("{name} is not set (Lambda sets it)")));
    need("AWS_ACCESS_KEY_ID")?;
    need("AWS_SECRET_ACCESS_KEY")?;
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(need("AWS_REGION")?))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            credentials,
        ))
        .http_client(crate::adapters::aws::https_client())
        .retry_config(aws_config::retry::RetryConfig::standard())
        .timeout_config(aws_timeouts(timeout));
    if let Some(url) = opt("AWS_ENDPOINT_URL") {
        sdk = sdk.endpoint_url(url);
    }
    Ok(sdk.build())
}

/// A connection within 3 s, and each AWS operation (its retries included) within `operation`.
pub fn aws_timeouts(operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_timeout(operation)
        .build()
}

#[cfg(test)]
mod tests {
    use super::is_iam_arn_pattern;

    #[test]
    fn a_lambdas_sdk_config_is_the_environments_credentials_region_and_endpoint() {
        use std::time::Duration;
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let full: &'static [(&str, &str)] = &[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ];
        let sdk = super::sdk_config_from(env(full), Duration::from_secs(7)).expect("configured");
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(sdk.credentials_provider().is_some() && sdk.http_client().is_some());
        assert_eq!(
            sdk.timeout_config().and_then(|t| t.operation_timeout()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(sdk.retry_config().map(|r| r.max_attempts()), Some(3));
        // On AWS no endpoint is set: the SDK resolves each service's own.
        let sdk = super::sdk_config_from(env(&full[..3]), Duration::from_secs(7)).expect("configured");
        assert_eq!(sdk.endpoint_url(), None);
        for missing in 0..3 {
            let mut vars = full[..3].to_vec();
            let (name, _) = vars.remove(missing);
            let got = super::sdk_config_from(
                move |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string()),
                Duration::from_secs(7),
            );
            assert!(got.is_err_and(|e| e.0.contains(name)), "{name}");
        }
    }

    #[test]
    fn the_broker_principal_is_an_iam_arn() {
        for ok in [
            "arn:aws:iam::123456789012:role/cloud-iam-broker/*",
            "arn:aws-us-gov:iam::123456789012:role/stack-*",
            "arn:aws:iam::123456789012:user/cloud-iam-broker",
        ] {
            assert!(is_iam_arn_pattern(ok), "{ok}");
        }
        for bad in [
            "arn:aws:iam::123456789012:root",
            "arn:aws:sts::123456789012:assumed-role/x/y",
            "arn:aws:iam::1234:role/x",
            "arn:aws:iam::123456789012:role/a b",
            "role/x",
            "*",
        ] {
            assert!(!is_iam_arn_pattern(bad), "{bad}");
        }
    }
}
