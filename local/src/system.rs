//! The whole system on localhost: local AWS, the broker's configuration, the HTTP API behind
//! the gateway stand-in, and token minting for local principals.

use std::net::SocketAddr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use shared::App;
use shared::auth::{JwtConfig, KeySource, Role};
use shared::config::Config;
use shared::domain::Secret;

use crate::federation::FederationStandIn;
use crate::gateway::{Gateway, serve};
use crate::local_aws::{LocalAws, create_resources, sdk_config};

pub const ISSUER: &str = "cloud-iam-broker-local";
pub const AUDIENCE: &str = "cloud-iam-broker";
/// The Slack workspace the local runner accepts commands from.
pub const SLACK_TEAM_ID: &str = "T0001";
/// The bot subject local tokens may use (`local-runner token --role bot`), and whom it may
/// act for.
pub const LOCAL_BOT: &str = "bot:chatops";
/// The Slack channel approval messages go to locally.
pub const LOCAL_APPROVAL_CHANNEL: &str = "C0APPROVALS";

fn local_bots() -> shared::auth::Bots {
    shared::auth::Bots::parse(&format!(
        r#"[{{"subject":"{LOCAL_BOT}","acts_for":["*@example.com"]}}]"#
    ))
    .expect("the local bot list parses")
}

/// Where the broker's AWS calls go.
pub enum AwsMode {
    /// Start moto (default), seeding this many target accounts; `managed_policies` loads AWS's
    /// managed policies (slower start).
    Moto { targets: usize, managed_policies: bool },
    /// An AWS-compatible endpoint already running (`AWS_ENDPOINT_URL`), with ambient
    /// credentials; resources are created if missing.
    Endpoint(String),
    /// Real AWS with ambient credentials; `TABLE_NAME`, `KMS_KEY_ID`, `SESSION_LOG_BUCKET`
    /// name existing resources.
    RealAws,
}

pub struct Options {
    /// 0 picks a free port.
    pub port: u16,
    pub aws: AwsMode,
    /// Adapters and clock to swap in (tests inject faults and move time this way).
    pub overrides: shared::app::Overrides,
    /// Origins the API answers CORS for, besides the console's own.
    pub cors_origins: Vec<String>,
    /// Serve the web console, with the development sign-in.
    pub console: Option<ConsoleOptions>,
}

/// Where the built console is and which port it takes (0: a free one).
pub struct ConsoleOptions {
    pub dist: std::path::PathBuf,
    pub port: u16,
    /// Whether a free port may be taken when `port` is busy.
    pub port_may_move: bool,
    /// How long the development sign-in's tokens live (the console refreshes them before).
    pub token_ttl: std::time::Duration,
}

/// Signs local tokens with the runner's HS256 secret.
#[derive(Clone)]
pub struct Minter {
    secret: Secret,
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    role: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
}

impl Minter {
    /// A minter for the secret of a runner started earlier (`local-runner token`).
    pub fn with_secret(secret: Secret) -> Self {
        Minter { secret }
    }

    pub fn token(&self, role: Role, subject: &str, email: Option<&str>, ttl: Duration) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let role = match role {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Bot => "bot",
            Role::Auditor => "auditor",
        };
        let claims = Claims {
            sub: subject,
            email,
            role,
            iss: ISSUER,
            aud: AUDIENCE,
            iat: now,
            nbf: now,
            exp: now + ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.expose().as_bytes()),
        )
        .expect("HS256 signing cannot fail")
    }

    /// The secret, for tests that forge tokens on purpose.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }
}

pub struct LocalSystem {
    pub base_url: String,
    pub addr: SocketAddr,
    /// Present when the runner started moto itself.
    pub aws: Option<LocalAws>,
    pub config: Config,
    pub sdk: aws_config::SdkConfig,
    pub app: App,
    pub minter: Minter,
    /// The sign-in federation stand-in (absent against real AWS).
    pub federation: Option<FederationStandIn>,
    /// Where Slack commands' answers land (absent against real AWS).
    pub slack: Option<crate::slack::SlackStandIn>,
    /// The web console's URL, when asked for.
    pub console_url: Option<String>,
}

impl LocalSystem {
    /// Runs the expirer every `every`, as the EventBridge schedule does in AWS, and with it the
    /// organization sync (its own schedule in AWS, every 15 minutes): registered organizations'
    /// new, moved and closed accounts follow here within one tick.
    pub fn run_expirer_every(&self, every: Duration) {
        let app = self.app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = expirer::handle(&app, serde_json::json!({ "source": "local-runner" })).await {
                    tracing::warn!(error = %e, "expirer run failed");
                }
                if let Err(e) = org_sync::handle(&app, serde_json::json!({ "source": "local-runner" })).await {
                    tracing::warn!(error = %e, "organization sync failed");
                }
            }
        });
    }
}

impl LocalSystem {
    /// Starts everything; the HTTP server runs on the current Tokio runtime until it stops.
    pub async fn start(options: Options) -> Result<LocalSystem, String> {
        let secret = Secret::new(hex(&rand::random::<[u8; 32]>()));
        let jwt = JwtConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            algorithm: Algorithm::HS256,
            keys: KeySource::Secret(secret.clone()),
            leeway_seconds: 5,
            claims: Default::default(),
            bots: local_bots(),
        };
        let timeout = Duration::from_secs(30);
        let options_aws_real = matches!(options.aws, AwsMode::RealAws);
        let (aws, config, sdk) = match options.aws {
            AwsMode::Moto {
                targets,
                managed_policies,
            } => {
                let aws = LocalAws::start(targets, managed_policies).await?;
                let sdk = with_timeouts(sdk_config(&aws.endpoint, &aws.broker).await, timeout);
                let config = local_config(&aws.resources, jwt, timeout);
                (Some(aws), config, sdk)
            }
            AwsMode::Endpoint(endpoint) => {
                let base = shared::adapters::aws::sdk_defaults()
                    .endpoint_url(&endpoint)
                    .load()
                    .await;
                let sdk = with_timeouts(base, timeout);
                let resources = create_resources(&sdk, "cloud-iam-broker", "cloud-iam-broker-session-logs").await?;
                (None, local_config(&resources, jwt, timeout), sdk)
            }
            AwsMode::RealAws => {
                let var =
                    |n: &str| std::env::var(n).map_err(|_| format!("{n} must name an existing resource with --aws"));
                let resources = crate::local_aws::Resources {
                    table_name: var("TABLE_NAME")?,
                    bucket: var("SESSION_LOG_BUCKET")?,
                    kms_key_id: var("KMS_KEY_ID")?,
                    evidence_key_id: std::env::var("EVIDENCE_KEY_ID").ok(),
                    slack_queue_url: std::env::var("SLACK_JOBS_QUEUE_URL").ok(),
                    event_bus: std::env::var("EVENT_BUS_NAME").ok(),
                    events_tap_url: None,
                    // Existing SecureString parameters, as a deployment names them (unset:
                    // chat-ops is off, approval messages too).
                    slack_signing_secret_parameter: std::env::var("SLACK_SIGNING_SECRET_PARAMETER").ok(),
                    slack_bot_token_parameter: std::env::var("SLACK_BOT_TOKEN_PARAMETER").ok(),
                };
                let sdk = with_timeouts(shared::adapters::aws::sdk_defaults().load().await, timeout);
                (None, local_config(&resources, jwt, timeout), sdk)
            }
        };
        // Console URLs come from a local stand-in unless running against real AWS.
        let mut config = config;
        let federation = if !options_aws_real {
            let (stand_in, endpoint) = FederationStandIn::start(aws.as_ref().map(|a| a.endpoint.clone())).await?;
            config.federation_endpoint = endpoint;
            Some(stand_in)
        } else {
            None
        };
        let slack = if !options_aws_real {
            let (stand_in, base) = crate::slack::SlackStandIn::start().await?;
            // Approval messages go to the stand-in's Web API, in one approval channel (the bot
            // token is the stand-in's, from its SecureString parameter).
            config.slack.api_base = format!("{base}api");
            config.slack.approval_channel = Some(LOCAL_APPROVAL_CHANNEL.into());
            config.slack.response_url_prefix = base;
            Some(stand_in)
        } else {
            None
        };
        // Approval messages need both the token and the channel.
        if config.slack.approval_channel.is_none() {
            config.slack.bot_token_parameter = None;
        }
        // One app serves every function here, shell sessions and activity included.
        let overrides = options.overrides.with_everything();
        // Slack's signing secret and bot token come from their SSM SecureString parameters in
        // the local AWS, read by the same cold-start code as a function's on AWS.
        shared::app::read_secret_parameters(&mut config, &sdk, overrides.parameters)
            .await
            .map_err(|e| e.to_string())?;
        let app = App::on_aws(&config, &sdk, overrides)
            .map_err(|e| e.to_string())?
            .with_slack_jobs();
        // The queue's Lambda trigger, played by a poller.
        if let Some(queue) = &config.slack.jobs_queue_url {
            crate::slack::run_worker(app.clone(), sdk.clone(), queue.clone());
        }
        // The console's origin is known before the API serves, so its CORS can name it.
        let console = match options.console {
            Some(c) => {
                let (listener, addr) = match crate::bind_loopback(c.port).await {
                    Err(_) if c.port_may_move => crate::bind_loopback(0).await?,
                    bound => bound?,
                };
                Some((listener, format!("http://{addr}"), c.dist, c.token_ttl))
            }
            None => None,
        };
        let mut cors_origins = options.cors_origins.clone();
        cors_origins.extend(console.as_ref().map(|(_, origin, _, _)| origin.clone()));
        let router = axum::Router::new().fallback(serve).with_state(Gateway {
            app: app.clone(),
            cors: crate::cors::Cors {
                allow_origins: cors_origins,
            },
        });
        let addr = crate::serve_on_loopback(options.port, router).await?;
        let base_url = format!("http://{addr}");
        let minter = Minter { secret };
        let console_url = match console {
            Some((listener, origin, dist, token_ttl)) => {
                let sign_in = crate::dev_idp::DevIdp::start(minter.clone(), origin.clone(), token_ttl).await?;
                let csp = crate::console::content_security_policy(&base_url, &sign_in);
                crate::console::serve(listener, dist, crate::console::config(&base_url, &sign_in), csp);
                Some(origin)
            }
            None => None,
        };
        Ok(LocalSystem {
            base_url,
            addr,
            aws,
            config,
            sdk,
            app,
            minter,
            federation,
            slack,
            console_url,
        })
    }
}

fn local_config(resources: &crate::local_aws::Resources, jwt: JwtConfig, timeout: Duration) -> Config {
    Config {
        federation_endpoint: shared::adapters::aws::federation::AWS_FEDERATION_ENDPOINT.into(),
        // Read from the parameters at start (`read_secret_parameters`), as on AWS.
        slack_signing_secret: None,
        slack_signing_secret_parameter: resources.slack_signing_secret_parameter.clone(),
        slack: shared::config::SlackConfig {
            team_id: Some(SLACK_TEAM_ID.into()),
            channel_ids: Vec::new(),
            response_url_prefix: shared::config::SLACK_RESPONSE_URL_PREFIX.into(),
            jobs_queue_url: resources.slack_queue_url.clone(),
            api_base: shared::config::SLACK_API_BASE.into(),
            bot_token: None,
            bot_token_parameter: resources.slack_bot_token_parameter.clone(),
            approval_channel: None,
        },
        event_bus: resources.event_bus.clone(),
        request_lapse: Duration::from_secs(3600),
        // As deployed by default: transcripts for owners and admins only.
        // As a deployment reads it (`AuditorsReadTranscripts`): off unless set to `true`.
        auditors_read_transcripts: std::env::var("AUDITORS_READ_TRANSCRIPTS").is_ok_and(|v| v == "true"),
        broker_account_id: shared::domain::AwsAccountId::parse(crate::local_aws::BROKER_ACCOUNT).ok(),
        // The broker's principal locally: the user whose key it signs with.
        broker_principal_arn: Some(format!(
            "arn:aws:iam::{}:user/{}",
            crate::local_aws::BROKER_ACCOUNT,
            crate::local_aws::BROKER_USER
        )),
        // The seeded accounts' role is named as the template's default.
        target_role_name: shared::config::DEFAULT_TARGET_ROLE_NAME.into(),
        organization_role_name: shared::config::DEFAULT_ORGANIZATION_ROLE_NAME.into(),
        identity_center_role_name: shared::config::DEFAULT_IDENTITY_CENTER_ROLE_NAME.into(),
        table_name: resources.table_name.clone(),
        kms_key_id: resources.kms_key_id.clone(),
        session_log_bucket: resources.bucket.clone(),
        evidence_key_id: resources.evidence_key_id.clone(),
        jwt,
        aws_timeout: timeout,
    }
}

fn with_timeouts(sdk: aws_config::SdkConfig, timeout: Duration) -> aws_config::SdkConfig {
    sdk.into_builder()
        .timeout_config(shared::config::aws_timeouts(timeout))
        .build()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
