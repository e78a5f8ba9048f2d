//! Local AWS: a moto server started on a free loopback port, in authenticated mode, with
//! the resources the broker needs.
//!
//! moto checks SigV4 signatures and IAM policies once its first `INITIAL_NO_AUTH_ACTION_COUNT`
//! requests are spent, so wrong secrets are refused as AWS would refuse them. We spend exactly
//! those free requests seeding identities, then do everything else with real keys:
//! - the broker's own principal (stands in for the Lambda execution role) in 123456789012;
//! - a pool of "target" AWS accounts, each with an admin IAM user and key, to register;
//! - an AWS Organization (`organization`): its management account's admin user, then the
//!   organization, its OUs and member accounts, made with that admin's key.
//!
//! The launcher (`local/aws/launch.py`) makes moto evaluate every signed request's IAM policies
//! as AWS does, so tests can observe revocation with real calls. It does not enforce STS
//! durations, IAM's DeleteConflict or password policies; the broker checks those itself.

use std::process::Stdio;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use tokio::process::{Child, Command};

/// The account the broker is deployed in, as moto's default account.
pub const BROKER_ACCOUNT: &str = "123456789012";
pub const BROKER_USER: &str = "cloud-iam-broker";
pub const REGION: &str = "us-east-1";
/// The role each seeded target account offers for `assume_role` registrations.
pub const BROKER_ACCESS_ROLE: &str = "CloudIamBrokerAccess";

pub(crate) const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// The launcher: moto's server with the project's patches (`local/aws/`, Python modules with
/// their own tests): IAM policy evaluation as AWS documents it (identity, session and trust
/// policies, with condition keys), role sessions that keep SourceIdentity, tags and session
/// policies, AssumeRole refused into missing roles, IAM's policy size limits, and a DynamoDB
/// transaction backup that scales. It exits when our end of its stdin closes, so no server
/// outlives the tests or the runner.
const LAUNCHER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/aws/launch.py");

/// Long-lived keys of an IAM principal.
#[derive(Clone)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({}, [redacted])", self.access_key_id)
    }
}

/// A seeded target account: an admin IAM user's keys, and a role trusting the broker.
#[derive(Debug, Clone)]
pub struct TargetAccount {
    pub aws_account_id: String,
    pub admin: Keys,
    pub broker_access_role_arn: String,
}

/// The names of the broker's resources in local AWS.
#[derive(Debug, Clone)]
pub struct Resources {
    pub table_name: String,
    pub bucket: String,
    pub kms_key_id: String,
    /// The asymmetric key that signs evidence digests (absent against real AWS unless
    /// `EVIDENCE_KEY_ID` names one).
    pub evidence_key_id: Option<String>,
    /// The Slack jobs queue (absent against real AWS unless `SLACK_JOBS_QUEUE_URL` names one).
    pub slack_queue_url: Option<String>,
    /// The event bus (absent against real AWS unless `EVENT_BUS_NAME` names one).
    pub event_bus: Option<String>,
    /// A queue every event on the bus is copied to, for tests and developers to read.
    pub events_tap_url: Option<String>,
    /// The SSM SecureString parameter holding Slack's signing secret (a random one locally;
    /// against real AWS, `SLACK_SIGNING_SECRET_PARAMETER` names one, or chat-ops is off).
    pub slack_signing_secret_parameter: Option<String>,
    /// The SSM SecureString parameter holding the Slack bot token (the stand-in's locally).
    pub slack_bot_token_parameter: Option<String>,
}

/// Where the local AWS keeps Slack's signing secret and bot token, as SecureString parameters
/// (names start with `/`, as the template requires).
pub const SLACK_SIGNING_SECRET_PARAMETER: &str = "/cloud-iam-broker/slack/signing-secret";
pub const SLACK_BOT_TOKEN_PARAMETER: &str = "/cloud-iam-broker/slack/bot-token";
/// The bot token the Slack stand-in accepts.
const LOCAL_BOT_TOKEN: &str = "xoxb-local-stand-in";

/// The bus the broker puts session events on locally, and the queue that taps it.
pub const EVENT_BUS: &str = "cloud-iam-broker-events";
const EVENTS_TAP: &str = "cloud-iam-broker-events-tap";

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("reading a queue's ARN: {e:?}"))?
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .ok_or_else(|| "a queue without an ARN".to_string())
}

/// The bus, as the template makes it: the chat-ops rule (the approval messages' events to the
/// Slack jobs queue), plus a tap of every event for tests.
async fn create_bus(sdk: &aws_config::SdkConfig, slack_queue: &str) -> Result<String, String> {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    if events.describe_event_bus().name(EVENT_BUS).send().await.is_err() {
        events
            .create_event_bus()
            .name(EVENT_BUS)
            .send()
            .await
            .map_err(|e| format!("creating the event bus: {e:?}"))?;
    }
    let tap = sqs
        .create_queue()
        .queue_name(EVENTS_TAP)
        .send()
        .await
        .map_err(|e| format!("creating the events tap: {e:?}"))?
        .queue_url
        .unwrap_or_default();
    let rules = [
        (
            "all-events-tap",
            serde_json::json!({ "source": [shared::adapters::aws::eventbridge::SOURCE] }),
            queue_arn(&sqs, &tap).await?,
        ),
        (
            "slack-notifications",
            serde_json::json!({
                "source": [shared::adapters::aws::eventbridge::SOURCE],
                "detail-type": shared::services::chatops::NOTIFIED_DETAIL_TYPES,
            }),
            queue_arn(&sqs, slack_queue).await?,
        ),
    ];
    for (name, pattern, target) in rules {
        events
            .put_rule()
            .name(name)
            .event_bus_name(EVENT_BUS)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .map_err(|e| format!("creating rule {name}: {e:?}"))?;
        events
            .put_targets()
            .rule(name)
            .event_bus_name(EVENT_BUS)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(target)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| format!("targeting rule {name}: {e:?}"))?;
    }
    Ok(tap)
}

pub struct LocalAws {
    pub endpoint: String,
    pub broker: Keys,
    pub targets: Vec<TargetAccount>,
    /// The seeded AWS Organization (`crate::organization`), to register as an organization.
    pub organization: crate::organization::SeededOrganization,
    pub resources: Resources,
    _process: Child,
}

/// An SDK configuration for `endpoint` with the given keys.
pub async fn sdk_config(endpoint: &str, keys: &Keys) -> aws_config::SdkConfig {
    shared::adapters::aws::sdk_defaults()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(Credentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
            None,
            None,
            "local",
        ))
        .load()
        .await
}

impl LocalAws {
    /// Starts moto and seeds it with the broker's principal, `targets` target accounts and
    /// the broker's table, bucket and key.
    /// `managed_policies` loads AWS's managed policies into every account (realistic, but it
    /// costs about a second per account at start).
    pub async fn start(targets: usize, managed_policies: bool) -> Result<LocalAws, String> {
        let python = std::env::var("LOCAL_AWS_PYTHON").unwrap_or_else(|_| "python3".into());
        // The broker's user, each target's admin, and the organization's management admin.
        let free_actions = 3 + 3 * targets + 3;
        // Port 0: the launcher binds a free port and prints it once it listens, so no other
        // local AWS started meanwhile (test binaries run side by side) can be mistaken for ours.
        let mut process = Command::new(&python)
            .arg(LAUNCHER)
            .arg("0")
            .env("INITIAL_NO_AUTH_ACTION_COUNT", free_actions.to_string())
            // So AWS managed policies (arn:aws:iam::aws:policy/…) can be attached, as on AWS.
            .env(
                "MOTO_IAM_LOAD_MANAGED_POLICIES",
                if managed_policies { "true" } else { "false" },
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting moto with {python}: {e} (run scripts/test once to install it)"))?;
        let stdout = process.stdout.take().expect("stdout is piped");
        let mut first_line = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::io::AsyncBufReadExt::read_line(&mut tokio::io::BufReader::new(stdout), &mut first_line),
        )
        .await;
        let port: u16 = match read {
            Err(_) => return Err("moto did not start listening within 60 s".into()),
            Ok(Err(e)) => return Err(format!("reading moto's port: {e}")),
            Ok(Ok(_)) => match first_line.trim().parse() {
                Ok(port) => port,
                Err(_) => {
                    let status = process.try_wait().ok().flatten();
                    return Err(format!(
                        "moto exited at start ({status:?}); is moto[server] installed for {python}?"
                    ));
                }
            },
        };
        let endpoint = format!("http://127.0.0.1:{port}");

        // The free, unauthenticated requests: exactly `free_actions` of them.
        let anyone = Keys {
            access_key_id: "AKIABOOTSTRAP0000000".into(),
            secret_access_key: "bootstrap".into(),
        };
        let iam = aws_sdk_iam::Client::new(&sdk_config(&endpoint, &anyone).await);
        let broker = admin_user(&iam, None, BROKER_USER).await?;
        let mut seeded = Vec::with_capacity(targets);
        for i in 0..targets {
            let account = format!("{}", 210_000_000_001u64 + i as u64);
            let admin = admin_user(&iam, Some(&account), "admin").await?;
            seeded.push((account, admin));
        }
        let management_admin = admin_user(&iam, Some(crate::organization::MANAGEMENT_ACCOUNT), "admin").await?;

        // From here on every request is signed with a real key.
        let sdk = sdk_config(&endpoint, &broker).await;
        let resources = create_resources(&sdk, "cloud-iam-broker", "cloud-iam-broker-session-logs").await?;
        let mut target_accounts = Vec::with_capacity(targets);
        for (account, admin) in seeded {
            let iam = aws_sdk_iam::Client::new(&sdk_config(&endpoint, &admin).await);
            let trust = broker_placeholder_trust();
            let role = iam
                .create_role()
                .role_name(BROKER_ACCESS_ROLE)
                .assume_role_policy_document(trust)
                .send()
                .await
                .map_err(|e| format!("creating {BROKER_ACCESS_ROLE} in {account}: {e:?}"))?;
            iam.put_role_policy()
                .role_name(BROKER_ACCESS_ROLE)
                .policy_name("admin")
                .policy_document(ALLOW_ALL)
                .send()
                .await
                .map_err(|e| format!("granting {BROKER_ACCESS_ROLE}: {e:?}"))?;
            target_accounts.push(TargetAccount {
                aws_account_id: account,
                admin,
                broker_access_role_arn: role.role.map(|r| r.arn).unwrap_or_default(),
            });
        }
        let organization = crate::organization::seed(&endpoint, management_admin).await?;
        Ok(LocalAws {
            endpoint,
            broker,
            targets: target_accounts,
            organization,
            resources,
            _process: process,
        })
    }
}

/// The trust the seeded roles for the broker start with: the broker's user, with any ExternalId
/// the broker could have issued (`cib-*`); registration then applies the issued one.
pub fn broker_placeholder_trust() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{BROKER_ACCOUNT}:user/{BROKER_USER}"}},"Action":"sts:AssumeRole","Condition":{{"StringLike":{{"sts:ExternalId":"cib-*"}}}}}}]}}"#
    )
}

/// Creates an IAM user with an allow-all inline policy and an access key: three requests.
/// `account` selects a moto account other than the default (moto's `x-moto-account-id`).
async fn admin_user(iam: &aws_sdk_iam::Client, account: Option<&str>, name: &str) -> Result<Keys, String> {
    let header = account.map(str::to_string);
    let tag = move |req: &mut aws_sdk_iam::config::http::HttpRequest| {
        if let Some(a) = &header {
            req.headers_mut().insert("x-moto-account-id", a.clone());
        }
    };
    let err = |step: &str, e: String| format!("seeding {name} in {}: {step}: {e}", account.unwrap_or(BROKER_ACCOUNT));
    iam.create_user()
        .user_name(name)
        .customize()
        .mutate_request(tag.clone())
        .send()
        .await
        .map_err(|e| err("CreateUser", format!("{e:?}")))?;
    iam.put_user_policy()
        .user_name(name)
        .policy_name("admin")
        .policy_document(ALLOW_ALL)
        .customize()
        .mutate_request(tag.clone())
        .send()
        .await
        .map_err(|e| err("PutUserPolicy", format!("{e:?}")))?;
    let key = iam
        .create_access_key()
        .user_name(name)
        .customize()
        .mutate_request(tag)
        .send()
        .await
        .map_err(|e| err("CreateAccessKey", format!("{e:?}")))?
        .access_key
        .ok_or_else(|| err("CreateAccessKey", "no key returned".into()))?;
    Ok(Keys {
        access_key_id: key.access_key_id,
        secret_access_key: key.secret_access_key,
    })
}

/// The session-log bucket as the template makes it with `LogObjectLockMode` GOVERNANCE: Object
/// Lock on (which turns versioning on) with a default retention, so every test writes logs the
/// way a locked bucket requires (S3 refuses a PutObject there without an integrity checksum).
async fn create_locked_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
    };
    s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .map_err(|e| format!("creating bucket {bucket}: {e:?}"))?;
    let retention = DefaultRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .days(1)
        .build();
    s3.put_object_lock_configuration()
        .bucket(bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(ObjectLockRule::builder().default_retention(retention).build())
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("locking bucket {bucket}: {e:?}"))?;
    Ok(())
}

/// Finds the key behind `alias`, or creates it: symmetric (secrets), or RSA for signing.
async fn kms_key(kms: &aws_sdk_kms::Client, alias: &str, description: &str, signing: bool) -> Result<String, String> {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    if let Some(meta) = kms
        .describe_key()
        .key_id(alias)
        .send()
        .await
        .ok()
        .and_then(|k| k.key_metadata)
    {
        return Ok(meta.key_id);
    }
    let mut create = kms.create_key().description(description);
    if signing {
        create = create.key_spec(KeySpec::Rsa2048).key_usage(KeyUsageType::SignVerify);
    }
    let key = create
        .send()
        .await
        .map_err(|e| format!("creating KMS key {alias}: {e:?}"))?
        .key_metadata
        .ok_or("KMS returned no key")?
        .key_id;
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(&key)
        .send()
        .await
        .map_err(|e| format!("aliasing KMS key {alias}: {e:?}"))?;
    Ok(key)
}

/// Stores `value` as the SecureString parameter `name` (under SSM's default key, as a deployer
/// would with `aws ssm put-parameter --type SecureString`), unless it exists: a runner started
/// again on the same endpoint keeps the secret it had.
async fn secure_string(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) -> Result<(), String> {
    match ssm
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if aws_sdk_ssm::error::ProvideErrorMetadata::code(&e) == Some("ParameterAlreadyExists") => Ok(()),
        Err(e) => Err(format!("storing the SSM parameter {name}: {e:?}")),
    }
}

/// Creates (or finds) the table, bucket and KMS key, shaped as `infra/template.yaml` declares
/// them, and the SecureString parameters holding Slack's secrets, as a deployer creates them
/// before deploying. Idempotent, so it can run against an existing local endpoint.
pub async fn create_resources(sdk: &aws_config::SdkConfig, table: &str, bucket: &str) -> Result<Resources, String> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let exists = ddb.describe_table().table_name(table).send().await.is_ok();
    if !exists {
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute")
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .expect("key")
        };
        let gsi = |name: &str, pk: &str, sk: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash))
                .key_schema(key(sk, KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .expect("gsi")
        };
        ddb.create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(
                ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"]
                    .map(attr)
                    .to_vec(),
            ))
            .key_schema(key("PK", KeyType::Hash))
            .key_schema(key("SK", KeyType::Range))
            .global_secondary_indexes(gsi("GSI1", "GSI1PK", "GSI1SK"))
            .global_secondary_indexes(gsi("GSI2", "GSI2PK", "GSI2SK"))
            .global_secondary_indexes(gsi("GSI3", "GSI3PK", "GSI3SK"))
            .send()
            .await
            .map_err(|e| format!("creating table {table}: {e:?}"))?;
        ddb.update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("ttl")
                    .enabled(true)
                    .build()
                    .expect("ttl"),
            )
            .send()
            .await
            .map_err(|e| format!("enabling TTL on {table}: {e:?}"))?;
    }
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build());
    if s3.head_bucket().bucket(bucket).send().await.is_err() {
        create_locked_bucket(&s3, bucket).await?;
    }
    let kms = aws_sdk_kms::Client::new(sdk);
    let kms_key_id = kms_key(
        &kms,
        "alias/cloud-iam-broker",
        "Cloud IAM Broker secrets (local)",
        false,
    )
    .await?;
    let evidence_key_id = kms_key(
        &kms,
        "alias/cloud-iam-broker-evidence",
        "Cloud IAM Broker evidence digests (local)",
        true,
    )
    .await?;
    // CreateQueue returns the existing queue when the attributes match.
    let slack_queue_url = aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name("cloud-iam-broker-slack-jobs")
        .send()
        .await
        .map_err(|e| format!("creating the Slack jobs queue: {e:?}"))?
        .queue_url;
    let events_tap_url = match &slack_queue_url {
        Some(q) => Some(create_bus(sdk, q).await?),
        None => None,
    };
    // Slack's secrets, read by the broker at start as on AWS (`read_secret_parameters`): a
    // random signing secret, and the token the Slack stand-in takes.
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let signing_secret: String = rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect();
    secure_string(&ssm, SLACK_SIGNING_SECRET_PARAMETER, &signing_secret).await?;
    secure_string(&ssm, SLACK_BOT_TOKEN_PARAMETER, LOCAL_BOT_TOKEN).await?;
    Ok(Resources {
        table_name: table.into(),
        bucket: bucket.into(),
        kms_key_id,
        evidence_key_id: Some(evidence_key_id),
        event_bus: events_tap_url.as_ref().map(|_| EVENT_BUS.to_string()),
        events_tap_url,
        slack_queue_url,
        slack_signing_secret_parameter: Some(SLACK_SIGNING_SECRET_PARAMETER.into()),
        slack_bot_token_parameter: Some(SLACK_BOT_TOKEN_PARAMETER.into()),
    })
}
