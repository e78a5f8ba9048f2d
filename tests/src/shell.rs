//! Shell-session helpers: the target account's EC2, SSM and S3 as tests see them, managed
//! instances (what an SSM Agent does on AWS, through the local AWS's control endpoint), and a
//! fixture with shell sessions set up.

use serde_json::{Value, json};

use crate::{Fixture, TestEnv, fixture};

pub const REGION: &str = "eu-west-1";
pub const DOCUMENT: &str = "SSM-SessionManagerRunShell";

/// AWS clients in the fixture account's region, as `creds`.
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
}

pub async fn aws_as(env: &TestEnv, creds: aws_credential_types::Credentials) -> Aws {
    let sdk = env.sdk(&env.broker).await;
    let region = aws_config::Region::new(REGION);
    Aws {
        ec2: aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&sdk)
                .region(region.clone())
                .credentials_provider(creds.clone())
                .build(),
        ),
        ssm: aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&sdk)
                .region(region.clone())
                .credentials_provider(creds.clone())
                .build(),
        ),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .region(region)
                .credentials_provider(creds.clone())
                .force_path_style(true)
                .build(),
        ),
        iam: aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&sdk)
                .credentials_provider(creds)
                .build(),
        ),
    }
}

pub fn keys(k: &local_runner::local_aws::Keys) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(&k.access_key_id, &k.secret_access_key, None, None, "admin")
}

/// An EC2 instance in the account: tagged, with or without an instance profile.
pub async fn instance(aws: &Aws, tags: &[(&str, &str)], profile: Option<&str>) -> String {
    let mut spec =
        aws_sdk_ec2::types::TagSpecification::builder().resource_type(aws_sdk_ec2::types::ResourceType::Instance);
    for (k, v) in tags {
        spec = spec.tags(aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build());
    }
    let mut req = aws
        .ec2
        .run_instances()
        .image_id("ami-12345678")
        .min_count(1)
        .max_count(1)
        .tag_specifications(spec.build());
    if let Some(p) = profile {
        req = req.iam_instance_profile(
            aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                .name(p)
                .build(),
        );
    }
    let out = req.send().await.expect("an instance");
    out.instances()[0].instance_id().unwrap().to_string()
}

/// What the SSM Agent does on AWS when it starts on a node: register with Systems Manager
/// (the local AWS's control endpoint, see local/aws/README.md).
pub async fn register_agent(env: &TestEnv, aws_account: &str, node: &str, version: &str) {
    let reply = reqwest::Client::new()
        .post(format!("{}/moto-api/cib/ssm/agents", env.aws_endpoint))
        .json(&json!({ "AccountId": aws_account, "Region": REGION, "InstanceId": node, "AgentVersion": version }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap_or_default());
}

/// What a user types in a live Session Manager session (kept in its transcript).
pub async fn type_in(env: &TestEnv, aws_account: &str, ssm_session: &str, text: &str) {
    type_in_counting(env, aws_account, ssm_session, text).await;
}

/// `type_in`, returning the size in bytes of the session's transcript once `text` is in it
/// (what Session Manager uploads when the session ends).
pub async fn type_in_counting(env: &TestEnv, aws_account: &str, ssm_session: &str, text: &str) -> u64 {
    let reply = reqwest::Client::new()
        .post(format!("{}/moto-api/cib/ssm/session-input", env.aws_endpoint))
        .json(&json!({ "AccountId": aws_account, "Region": REGION, "SessionId": ssm_session, "Text": text }))
        .send()
        .await
        .unwrap();
    let status = reply.status();
    let body = reply.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    answer["Bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("the transcript's size: {answer}"))
}

/// What someone does in the console: the preferences document's transcripts sent to `bucket`,
/// as a new version made the default (the broker's own is version 1).
pub async fn send_transcripts_elsewhere(aws: &Aws, document: &Value, bucket: &str) {
    let mut changed = document.clone();
    changed["inputs"]["s3BucketName"] = json!(bucket);
    aws.ssm
        .update_document()
        .name(DOCUMENT)
        .document_version("$LATEST")
        .content(changed.to_string())
        .send()
        .await
        .unwrap();
    aws.ssm
        .update_document_default_version()
        .name(DOCUMENT)
        .document_version("2")
        .send()
        .await
        .unwrap();
}

/// Session Manager in the account with these credentials: a session on `target`, or the error code.
pub async fn start_ssm(aws: &Aws, target: &str) -> Result<String, String> {
    start_ssm_with(aws, target, DOCUMENT).await
}

/// `start_ssm` with another Session document (`AWS-StartPortForwardingSession`,
/// `AWS-StartSSHSession`, a document of the account's own): a session, or the error code.
pub async fn start_ssm_with(aws: &Aws, target: &str, document: &str) -> Result<String, String> {
    aws.ssm
        .start_session()
        .target(target)
        .document_name(document)
        .send()
        .await
        .map(|o| o.session_id().unwrap().to_string())
        .map_err(|e| {
            aws_sdk_ssm::error::ProvideErrorMetadata::code(&e)
                .map(str::to_string)
                .unwrap_or_else(|| format!("no code: {e:?}"))
        })
}

/// ResumeSession on the Session Manager session `id` with these credentials: `Ok`, or the
/// error code.
pub async fn resume_ssm(aws: &Aws, id: &str) -> Result<(), String> {
    aws.ssm
        .resume_session()
        .session_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            aws_sdk_ssm::error::ProvideErrorMetadata::code(&e)
                .map(str::to_string)
                .unwrap_or_else(|| format!("no code: {e:?}"))
        })
}

/// TerminateSession on the Session Manager session `id` with these credentials: `Ok`, or the
/// error code.
pub async fn terminate_ssm(aws: &Aws, id: &str) -> Result<(), String> {
    aws.ssm
        .terminate_session()
        .session_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            aws_sdk_ssm::error::ProvideErrorMetadata::code(&e)
                .map(str::to_string)
                .unwrap_or_else(|| format!("no code: {e:?}"))
        })
}

/// The status DescribeSessions gives the Session Manager session `id` (`Connected`,
/// `Terminated`, ...), looked for among the live sessions, then the ended ones; `None` when
/// Session Manager lists it in neither.
pub async fn ssm_status(aws: &Aws, id: &str) -> Option<String> {
    for state in [
        aws_sdk_ssm::types::SessionState::Active,
        aws_sdk_ssm::types::SessionState::History,
    ] {
        let filter = aws_sdk_ssm::types::SessionFilter::builder()
            .key(aws_sdk_ssm::types::SessionFilterKey::SessionId)
            .value(id)
            .build()
            .unwrap();
        let out = aws
            .ssm
            .describe_sessions()
            .state(state)
            .filters(filter)
            .send()
            .await
            .unwrap();
        if let Some(found) = out.sessions().iter().find(|x| x.session_id() == Some(id)) {
            return found.status().map(|x| x.as_str().to_string());
        }
    }
    None
}

/// An instance profile whose role the SSM Agent would authenticate with.
pub async fn instance_profile(aws: &Aws, name: &str) {
    let trust = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
        "Principal": { "Service": "ec2.amazonaws.com" }, "Action": "sts:AssumeRole" }] });
    aws.iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    // What AmazonSSMManagedInstanceCore allows the agent (the local AWS loads no AWS policies).
    aws.iam
        .put_role_policy()
        .role_name(name)
        .policy_name("ssm-agent")
        .policy_document(
            json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
                "Action": ["ssm:UpdateInstanceInformation", "ssmmessages:*", "ec2messages:*"], "Resource": "*" }] })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    aws.iam
        .create_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .unwrap();
    aws.iam
        .add_role_to_instance_profile()
        .instance_profile_name(name)
        .role_name(name)
        .send()
        .await
        .unwrap();
}

/// A fixture with shell sessions set up: the shell role trusting the user, an instance
/// profile, a transcript bucket, the group's shell permission, and these settings.
pub struct Shell {
    pub f: Fixture,
    pub admin: Aws,
    pub role: String,
    pub profile: String,
    pub bucket: String,
}

pub async fn shell_fixture(env: &TestEnv, tag: &str) -> Shell {
    let f = fixture(env, tag).await;
    let admin = aws_as(env, keys(&f.admin_keys)).await;
    // The shell role trusts the user's brokered sessions (not console switch-role: see
    // docs/shell-sessions.md), and may start sessions anywhere: the broker's session policy
    // narrows each session to its target.
    let role_name = format!("Shell-{tag}");
    let brokered: Vec<Value> = f
        .trust_statements(env)
        .await
        .into_iter()
        .filter(|s| s["Sid"] == "CloudIamBrokerJit")
        .collect();
    let trust = json!({ "Version": "2012-10-17", "Statement": brokered }).to_string();
    admin
        .iam
        .create_role()
        .role_name(&role_name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    admin
        .iam
        .put_role_policy()
        .role_name(&role_name)
        .policy_name("shell")
        .policy_document(
            json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
                "Action": ["ssm:StartSession", "ssm:TerminateSession", "ssm:ResumeSession", "ssm:DescribeSessions", "iam:ListRoles"],
                "Resource": "*" }] })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    // The instances' profile (what the SSM Agent authenticates with).
    let profile = format!("ssm-{tag}");
    instance_profile(&admin, &profile).await;
    let bucket = format!("transcripts-{}", tag.to_lowercase());
    admin
        .s3
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    env.client()
        .patch(
            &format!("/groups/{}", f.group),
            &env.admin(),
            json!({ "permissions": { "start_sessions": true, "start_jit_sessions": true, "start_shell_sessions": true } }),
        )
        .await
        .ok(200);
    Shell {
        role: format!("arn:aws:iam::{}:role/{role_name}", f.aws_account),
        f,
        admin,
        profile,
        bucket,
    }
}

impl Shell {
    pub fn settings(&self) -> Value {
        json!({
            "enabled": true,
            "role_arn": self.role,
            "targets": { "tags": { "Environment": "staging" } },
            "run_as": { "default_user": "ssm-user", "users": { (self.f.email.clone()): "oncall" } },
            "max_duration_seconds": 3600,
            "idle_timeout_minutes": 20,
            "recording": { "s3_bucket": self.bucket, "s3_key_prefix": "shell/", "s3_encryption": true },
        })
    }

    pub fn start(&self, target: &str, seconds: i64) -> Value {
        json!({ "account_id": self.f.account, "type": "shell", "target": target, "duration_seconds": seconds, "reason": "debug INC-7" })
    }

    /// Saves `settings()` as the account's shell settings.
    pub async fn configure(&self, env: &TestEnv) {
        env.client()
            .put(
                &format!("/accounts/{}/shell", self.f.account),
                &env.admin(),
                self.settings(),
            )
            .await
            .ok(200);
    }

    /// Another platform user of the account, provisioned by the broker (console and a
    /// credential, as the fixture's user) and a member of the fixture's group, so that they may
    /// start shell sessions too; returns their token. Add them before `configure`, which brings
    /// the provisioned users' policies up to date with the shell role.
    pub async fn another_user(&self, env: &TestEnv, email: &str) -> String {
        let api = env.client();
        let admin = env.admin();
        api.post(
            &format!("/accounts/{}/users", self.f.account),
            &admin,
            json!({ "email": email, "console_access": true, "credential": true }),
        )
        .await
        .ok(201);
        api.put(&format!("/groups/{}/members/{email}", self.f.group), &admin, json!({}))
            .await
            .ok(201);
        env.user(email)
    }

    /// A managed, running staging instance with a recent agent.
    pub async fn managed(&self, env: &TestEnv) -> String {
        let id = instance(&self.admin, &[("Environment", "staging")], Some(&self.profile)).await;
        register_agent(env, &self.f.aws_account, &id, "3.3.40.0").await;
        id
    }
}

/// The ids of the account's live Session Manager sessions.
pub async fn live_ssm_sessions(aws: &Aws) -> Vec<String> {
    let out = aws
        .ssm
        .describe_sessions()
        .state(aws_sdk_ssm::types::SessionState::Active)
        .send()
        .await
        .unwrap();
    out.sessions()
        .iter()
        .filter_map(|x| x.session_id().map(str::to_string))
        .collect()
}
