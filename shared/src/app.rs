//! The composition root: builds the services from configuration, choosing the adapters.
//! Functions and the local runner both start here, so they run the same wiring.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::adapters::aws::dynamodb::DynamoStore;
use crate::adapters::aws::federation::HttpFederation;
use crate::adapters::aws::sqs::SqsJobQueue;
use crate::adapters::slack::SlackResponder;
use crate::auth::Authenticator;
use crate::config::{Config, ConfigError};
use crate::ports::{
    Clock, CredentialVerifier, EventPublisher, EvidenceSigner, IamConnector, IdempotencyStore, LogArchive, NotWired,
    RoleAssumer, SecretSealer, SessionLog, SystemClock,
};
use crate::services::accounts::AccountService;
use crate::services::chatops::ChatOpsService;
use crate::services::groups::GroupService;
use crate::services::revocation::Revoker;
use crate::services::sessions::SessionService;
use crate::services::target::Targets;
use crate::services::users::UserService;

/// Everything a function needs to serve requests.
#[derive(Clone)]
pub struct App {
    pub auth: Arc<Authenticator>,
    pub accounts: AccountService,
    pub users: UserService,
    pub groups: GroupService,
    pub sessions: SessionService,
    /// Accounts' shell settings and their Session Manager preferences.
    pub shell: crate::services::shell_settings::ShellSettingsService,
    /// Signed digests of the session logs, and their verification.
    pub evidence: crate::services::evidence::EvidenceService,
    pub chatops: ChatOpsService,
    /// Registered AWS Organizations and their syncs.
    pub organizations: crate::services::organizations::OrganizationService,
    /// Slack's signing secret; chat-ops is off without it.
    pub slack_signing_secret: Option<crate::domain::Secret>,
    pub slack: crate::config::SlackConfig,
    /// Remembers signed Slack requests within their replay window.
    pub replays: Arc<dyn crate::ports::ReplayGuard>,
    /// Where acknowledged slash commands wait for the worker (`SLACK_JOBS_QUEUE_URL`).
    pub slack_jobs: Option<Arc<dyn crate::ports::SlackJobQueue>>,
    /// Releases identity bindings (admins).
    pub identities: Arc<dyn crate::ports::IdentityStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Seals what must be kept but not read (idempotent replays of one-time credentials).
    pub sealer: Arc<dyn SecretSealer>,
    /// The clock every service uses (tests move it).
    pub clock: Arc<dyn Clock>,
    /// The SDK configuration the clients were built with (its HTTP client wrapped when tests
    /// record or fault calls), for clients wired later (`with_slack_jobs`).
    sdk: aws_config::SdkConfig,
}

/// Replaces the session log before the app is built (tests make S3 fail this way).
pub type LogWrapper = Arc<dyn Fn(Arc<dyn SessionLog>) -> Arc<dyn SessionLog> + Send + Sync>;

/// Replaces an adapter before the app is built (tests inject faults this way).
pub type IamWrapper = Arc<dyn Fn(Arc<dyn IamConnector>) -> Arc<dyn IamConnector> + Send + Sync>;

/// Replaces the STS AssumeRole adapter (tests hold a start at the AssumeRole this way).
pub type AssumerWrapper = Arc<dyn Fn(Arc<dyn RoleAssumer>) -> Arc<dyn RoleAssumer> + Send + Sync>;

/// Replaces the SDK's HTTP client (the overhead benchmark records backend calls this way).
pub type HttpWrapper = Arc<dyn Fn(SharedHttpClient) -> SharedHttpClient + Send + Sync>;

/// Makes the Session Manager adapter from the SDK configuration.
pub type ShellFactory = fn(&aws_config::SdkConfig) -> Arc<dyn crate::ports::ShellConnector>;

/// Makes the CloudTrail adapter from the SDK configuration.
pub type ActivityFactory = fn(&aws_config::SdkConfig) -> Arc<dyn crate::ports::ActivityConnector>;

/// Makes the KMS sealer (key id) from the SDK configuration.
pub type SealerFactory = fn(&aws_config::SdkConfig, &str) -> Arc<dyn SecretSealer>;

/// Makes the STS verifier and AssumeRole adapter.
pub type StsFactory = fn(&aws_config::SdkConfig) -> (Arc<dyn CredentialVerifier>, Arc<dyn RoleAssumer>);

/// Makes the AWS Organizations reader.
pub type OrganizationsFactory = fn(&aws_config::SdkConfig) -> Arc<dyn crate::ports::OrganizationDirectory>;

/// Makes the IAM Identity Center connector.
pub type IdentityCenterFactory = fn(&aws_config::SdkConfig) -> Arc<dyn crate::ports::IdentityCenterConnector>;

/// Makes the IAM connector.
pub type IamFactory = fn(&aws_config::SdkConfig) -> Arc<dyn IamConnector>;

/// Makes the session-log bucket's adapter (bucket name), as the logs and as the archive.
pub type BucketFactory = fn(&aws_config::SdkConfig, &str) -> (Arc<dyn SessionLog>, Arc<dyn LogArchive>);

/// Makes the EventBridge publisher (bus name).
pub type EventsFactory = fn(&aws_config::SdkConfig, &str) -> Arc<dyn EventPublisher>;

/// Makes the evidence signing key (key id).
pub type SignerFactory = fn(&aws_config::SdkConfig, &str) -> Arc<dyn EvidenceSigner>;

/// Reads the named SSM SecureString parameters, decrypted, in order (an error names the
/// parameter, never a value): `adapters::aws::parameters::secure_strings`.
pub type ParameterReader = fn(
    &aws_config::SdkConfig,
    Vec<String>,
) -> futures::future::BoxFuture<'static, Result<Vec<crate::domain::Secret>, String>>;

/// What a function wires, and what tests and the local runner may swap in.
///
/// Each AWS-backed adapter but DynamoDB is a constructor a function's `main` names (or not):
/// one left `None` is never referenced, so its SDK is not linked into that bootstrap, and the
/// port gets `NotWired`, which answers "unavailable" (a function's own routes never reach it).
#[derive(Clone, Default)]
pub struct Overrides {
    /// KMS: sealing and opening secrets (accounts, users, sessions, the expirer).
    pub kms: Option<SealerFactory>,
    /// STS: verifying registrations and JIT AssumeRole (accounts, sessions).
    pub sts: Option<StsFactory>,
    /// IAM in the target accounts (accounts, users, sessions, the expirer).
    pub iam: Option<IamFactory>,
    /// S3: the session logs and their archive (accounts, sessions, the expirer).
    pub bucket: Option<BucketFactory>,
    /// EventBridge, where `EVENT_BUS_NAME` is set (sessions, the expirer).
    pub events: Option<EventsFactory>,
    /// The evidence key, where `EVIDENCE_KEY_ID` is set (accounts verify, the expirer signs).
    pub signer: Option<SignerFactory>,
    /// Session Manager, for the functions that reach it (shell settings, starts, approvals,
    /// ends); `None` links none of EC2 and SSM into the others' bootstraps.
    pub shell: Option<ShellFactory>,
    /// CloudTrail event history, for the functions that show or snapshot a session's activity
    /// (sessions, the expirer); `None` links none of CloudTrail's SDK into the others.
    pub activity: Option<ActivityFactory>,
    /// SSM Parameter Store, read at cold start for the secrets the configuration names by
    /// parameter (Slack's signing secret and bot token: the chatops function and the worker).
    /// `None` while a parameter is named is a startup error (`read_secret_parameters`).
    pub parameters: Option<ParameterReader>,
    /// AWS Organizations, read through a registered organization's role (the accounts
    /// function and the organization sync); `None` links none of its SDK into the others.
    pub organizations: Option<OrganizationsFactory>,
    /// IAM Identity Center (sessions, the expirer, the accounts function's set-up); `None`
    /// links none of its SDKs into the others.
    pub identity_center: Option<IdentityCenterFactory>,
    pub wrap_iam: Option<IamWrapper>,
    pub wrap_log: Option<LogWrapper>,
    pub wrap_http: Option<HttpWrapper>,
    pub wrap_assumer: Option<AssumerWrapper>,
    pub clock: Option<Arc<dyn Clock>>,
}

impl Overrides {
    /// Every adapter (the local runner serves every function from one app), keeping any set.
    pub fn with_everything(mut self) -> Self {
        use crate::adapters::aws::{cloudtrail, eventbridge, iam, kms, parameters, s3_log, shell, sts};
        self.kms.get_or_insert(kms::sealer);
        self.sts.get_or_insert(sts::adapters);
        self.iam.get_or_insert(iam::connector);
        self.bucket.get_or_insert(s3_log::bucket);
        self.events.get_or_insert(eventbridge::publisher);
        self.signer.get_or_insert(kms::evidence_key);
        self.shell.get_or_insert(shell::connector);
        self.activity.get_or_insert(cloudtrail::connector);
        self.parameters.get_or_insert(parameters::secure_strings);
        self.organizations
            .get_or_insert(crate::adapters::aws::organizations::directory);
        self.identity_center
            .get_or_insert(crate::adapters::aws::identity_center::connector);
        self
    }
}

/// Reads the secrets `config` names by SSM parameter into it: Slack's signing secret
/// (`SLACK_SIGNING_SECRET_PARAMETER`) and bot token (`SLACK_BOT_TOKEN_PARAMETER`), SecureString
/// parameters decrypted with `read`. A function's cold start (`App::from_env`) and the local
/// runner both go through here, so the secrets reach the app the same way everywhere. A
/// parameter that cannot be read stops the start with an error naming it (never its value).
pub async fn read_secret_parameters(
    config: &mut Config,
    sdk: &aws_config::SdkConfig,
    read: Option<ParameterReader>,
) -> Result<(), ConfigError> {
    let signing = config.slack_signing_secret_parameter.clone();
    let bot = config.slack.bot_token_parameter.clone();
    let names: Vec<String> = signing.iter().chain(bot.iter()).cloned().collect();
    if names.is_empty() {
        return Ok(());
    }
    let Some(read) = read else {
        let var = if signing.is_some() {
            "SLACK_SIGNING_SECRET_PARAMETER"
        } else {
            "SLACK_BOT_TOKEN_PARAMETER"
        };
        return Err(ConfigError(format!(
            "{var} names an SSM parameter, but this function does not read parameters (Overrides::parameters)"
        )));
    };
    let mut secrets = read(sdk, names).await.map_err(ConfigError)?.into_iter();
    let mut next = |name: &str| {
        secrets
            .next()
            .ok_or_else(|| ConfigError(format!("the SSM parameter {name} was not returned")))
    };
    if let Some(name) = &signing {
        config.slack_signing_secret = Some(next(name.as_str())?);
    }
    if let Some(name) = &bot {
        config.slack.bot_token = Some(next(name.as_str())?);
    }
    Ok(())
}

impl App {
    /// Builds the app on AWS: no network call, and the SDK clients are created on first use,
    /// so this is cheap at cold start. `config`'s secrets are already read
    /// (`read_secret_parameters`).
    pub fn on_aws(config: &Config, sdk: &aws_config::SdkConfig, overrides: Overrides) -> Result<Self, ConfigError> {
        let auth = Authenticator::new(config.jwt.clone()).map_err(ConfigError)?;
        let wrapped;
        let sdk = match (&overrides.wrap_http, sdk.http_client()) {
            (Some(wrap), Some(http)) => {
                wrapped = sdk.to_builder().http_client(wrap(http)).build();
                &wrapped
            }
            _ => sdk,
        };
        let store = Arc::new(DynamoStore::lazy(sdk, &config.table_name));
        let auth = auth.with_identities(store.clone());
        let sealer: Arc<dyn SecretSealer> = match overrides.kms {
            Some(make) => make(sdk, &config.kms_key_id),
            None => Arc::new(NotWired),
        };
        let (verifier, assumer): (Arc<dyn CredentialVerifier>, Arc<dyn RoleAssumer>) = match overrides.sts {
            Some(make) => make(sdk),
            None => (Arc::new(NotWired), Arc::new(NotWired)),
        };
        let mut iam: Arc<dyn IamConnector> = match overrides.iam {
            Some(make) => make(sdk),
            None => Arc::new(NotWired),
        };
        if let Some(wrap) = overrides.wrap_iam {
            iam = wrap(iam);
        }
        let shell: Arc<dyn crate::ports::ShellConnector> = match overrides.shell {
            Some(make) => make(sdk),
            None => Arc::new(crate::ports::NoShell),
        };
        let activity: Arc<dyn crate::ports::ActivityConnector> = match overrides.activity {
            Some(make) => make(sdk),
            None => Arc::new(crate::ports::NoActivity),
        };
        let clock: Arc<dyn Clock> = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let (mut log, bucket): (Arc<dyn SessionLog>, Arc<dyn LogArchive>) = match overrides.bucket {
            Some(make) => make(sdk, &config.session_log_bucket),
            None => (Arc::new(NotWired), Arc::new(NotWired)),
        };
        if let Some(wrap) = overrides.wrap_log {
            log = wrap(log);
        }
        let targets = Targets::new(iam, shell, sealer.clone(), activity);
        let identity_center: Arc<dyn crate::ports::IdentityCenterConnector> = match overrides.identity_center {
            Some(make) => make(sdk),
            None => Arc::new(crate::ports::NoIdentityCenter),
        };
        let users = UserService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            targets.clone(),
            sealer.clone(),
            clock.clone(),
        );
        let sessions = SessionService {
            accounts: store.clone(),
            users: store.clone(),
            groups: store.clone(),
            sessions: store.clone(),
            target: targets.clone(),
            revoker: Revoker::new(store.clone(), store.clone(), clock.clone()),
            assumer: match &overrides.wrap_assumer {
                Some(wrap) => wrap(assumer),
                None => assumer,
            },
            federation: Arc::new(HttpFederation::new(&config.federation_endpoint, config.aws_timeout)),
            log,
            sealer: sealer.clone(),
            clock: clock.clone(),
            refusals: store.clone(),
            pickups: store.clone(),
            events: match (&config.event_bus, overrides.events) {
                (Some(bus), Some(make)) => make(sdk, bus),
                _ => Arc::new(crate::ports::NoEvents),
            },
            request_lapse: config.request_lapse,
            auditors_read_transcripts: config.auditors_read_transcripts,
            organizations: store.clone(),
            identity_center: identity_center.clone(),
            identity_center_role: config.identity_center_role_name.clone(),
        };
        let accounts = AccountService::new(store.clone(), verifier, sealer.clone(), clock.clone())
            .refusing_own_account(config.broker_account_id.clone())
            .trusted_as(config.broker_principal_arn.clone())
            .assuming_only(&config.target_role_name);
        let evidence = crate::services::evidence::EvidenceService::new(
            store.clone(),
            store.clone(),
            bucket,
            config
                .evidence_key_id
                .as_ref()
                .zip(overrides.signer)
                .map(|(key, make)| make(sdk, key)),
            store.clone(),
            clock.clone(),
        );
        Ok(App {
            auth: Arc::new(auth),
            chatops: ChatOpsService::new(
                store.clone(),
                accounts.clone(),
                sessions.clone(),
                Arc::new(SlackResponder::new(&config.slack.response_url_prefix)),
                store.clone(),
                clock.clone(),
            )
            .with_approvals_from(&config.slack)
            // The worker runs only the jobs the chatops function signed with this secret.
            .with_job_signatures(config.slack_signing_secret.clone()),
            // Wired by the functions that queue (`with_slack_jobs`): the SQS client then links
            // into the chatops bootstrap only.
            slack_jobs: None,
            slack_signing_secret: config.slack_signing_secret.clone(),
            slack: config.slack.clone(),
            replays: store.clone(),
            identities: store.clone(),
            organizations: crate::services::organizations::OrganizationService::new(
                store.clone(),
                match overrides.organizations {
                    Some(make) => make(sdk),
                    None => Arc::new(NotWired),
                },
                accounts.clone(),
                store.clone(),
                store.clone(),
                sealer.clone(),
                clock.clone(),
                sessions.events.clone(),
                &config.organization_role_name,
                &config.target_role_name,
            )
            .reaching_identity_center(identity_center, &config.identity_center_role_name),
            accounts,
            users,
            groups: GroupService::new(store.clone(), store.clone(), store.clone(), clock.clone())
                .resolving_units(store.clone()),
            sessions,
            shell: crate::services::shell_settings::ShellSettingsService::new(store.clone(), targets),
            evidence,
            idempotency: store,
            sealer,
            clock,
            sdk: sdk.clone(),
        })
    }

    /// Adds the Slack jobs queue (`SLACK_JOBS_QUEUE_URL`), for the function that acknowledges
    /// slash commands and the local runner.
    pub fn with_slack_jobs(mut self) -> Self {
        self.slack_jobs = self
            .slack
            .jobs_queue_url
            .as_deref()
            .map(|url| Arc::new(SqsJobQueue::lazy(&self.sdk, url)) as Arc<dyn crate::ports::SlackJobQueue>);
        self
    }

    /// Reads the environment and builds the app (a Lambda's cold start) with the adapters
    /// `overrides` names (see `Overrides`). The secrets named by SSM parameter are read first
    /// (`read_secret_parameters`): the one network call a cold start makes, and only in the
    /// functions configured with such a parameter (chat-ops).
    pub async fn from_env(overrides: Overrides) -> Result<Self, ConfigError> {
        let mut config = Config::from_env()?;
        let sdk = config.sdk_config()?;
        read_secret_parameters(&mut config, &sdk, overrides.parameters).await?;
        Self::on_aws(&config, &sdk, overrides)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::future::BoxFuture;

    use super::*;
    use crate::domain::Secret;

    fn config(signing: Option<&str>, bot: Option<&str>) -> Config {
        Config {
            table_name: "t".into(),
            kms_key_id: "k".into(),
            session_log_bucket: "b".into(),
            evidence_key_id: None,
            jwt: crate::auth::JwtConfig {
                issuer: "i".into(),
                audience: "a".into(),
                algorithm: jsonwebtoken::Algorithm::HS256,
                keys: crate::auth::KeySource::Secret(Secret::new("jwt")),
                leeway_seconds: 0,
                claims: Default::default(),
                bots: Default::default(),
            },
            federation_endpoint: "https://signin.example.test/federation".into(),
            slack_signing_secret: None,
            slack_signing_secret_parameter: signing.map(str::to_string),
            slack: crate::config::SlackConfig {
                team_id: Some("T1".into()),
                bot_token_parameter: bot.map(str::to_string),
                ..Default::default()
            },
            aws_timeout: Duration::from_secs(1),
            event_bus: None,
            request_lapse: Duration::from_secs(3600),
            auditors_read_transcripts: false,
            broker_account_id: None,
            broker_principal_arn: None,
            target_role_name: crate::config::DEFAULT_TARGET_ROLE_NAME.into(),
            organization_role_name: crate::config::DEFAULT_ORGANIZATION_ROLE_NAME.into(),
            identity_center_role_name: crate::config::DEFAULT_IDENTITY_CENTER_ROLE_NAME.into(),
        }
    }

    fn sdk() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder().build()
    }

    /// Answers each parameter with a value derived from its name.
    fn answering(_: &aws_config::SdkConfig, names: Vec<String>) -> BoxFuture<'static, Result<Vec<Secret>, String>> {
        Box::pin(async move { Ok(names.iter().map(|n| Secret::new(format!("value of {n}"))).collect()) })
    }

    /// Refuses, as SSM does a parameter the function may not read.
    fn refusing(_: &aws_config::SdkConfig, names: Vec<String>) -> BoxFuture<'static, Result<Vec<Secret>, String>> {
        Box::pin(async move {
            Err(format!(
                "the SSM parameter {} could not be read: AccessDeniedException: not authorized",
                names[0]
            ))
        })
    }

    #[test]
    fn the_slack_secrets_come_from_their_parameters() {
        let mut c = config(Some("/cib/slack/signing-secret"), Some("/cib/slack/bot-token"));
        futures::executor::block_on(read_secret_parameters(&mut c, &sdk(), Some(answering))).unwrap();
        assert_eq!(
            c.slack_signing_secret.as_ref().map(Secret::expose),
            Some("value of /cib/slack/signing-secret")
        );
        assert_eq!(
            c.slack.bot_token.as_ref().map(Secret::expose),
            Some("value of /cib/slack/bot-token")
        );
        // Only the bot token named: the signing secret stays unset (chat-ops off).
        let mut c = config(None, Some("/cib/slack/bot-token"));
        futures::executor::block_on(read_secret_parameters(&mut c, &sdk(), Some(answering))).unwrap();
        assert!(c.slack_signing_secret.is_none());
        assert_eq!(
            c.slack.bot_token.as_ref().map(Secret::expose),
            Some("value of /cib/slack/bot-token")
        );
        // Nothing named: nothing read, even by a function that reads no parameters.
        let mut c = config(None, None);
        futures::executor::block_on(read_secret_parameters(&mut c, &sdk(), None)).unwrap();
        assert!(c.slack_signing_secret.is_none() && c.slack.bot_token.is_none());
    }

    #[test]
    fn a_parameter_that_cannot_be_read_stops_the_start_naming_it() {
        let mut c = config(Some("/cib/slack/signing-secret"), None);
        let e = futures::executor::block_on(read_secret_parameters(&mut c, &sdk(), Some(refusing))).unwrap_err();
        assert!(e.to_string().contains("/cib/slack/signing-secret"), "{e}");
        assert!(c.slack_signing_secret.is_none());
        // Named, but the function was built without the reader: refused, not silently off.
        let e = futures::executor::block_on(read_secret_parameters(&mut c, &sdk(), None)).unwrap_err();
        assert!(e.to_string().contains("SLACK_SIGNING_SECRET_PARAMETER"), "{e}");
    }
}
