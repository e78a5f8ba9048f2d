//! Overhead ratio: for account registration, user provisioning and JIT start, the median latency
//! through the HTTP API (local runner, local AWS) over the median of making the same backend
//! calls directly, in the same run. Target: <= 1.10.
//!
//! "The same backend calls": each API request's AWS calls are recorded at the SDK's HTTP client
//! (`shared::adapters::recording`), and the direct baseline replays that operation sequence,
//! in order, through the SDK with inputs of like size on fresh names (a fresh IAM user, a fresh
//! log object, fresh table keys), so that each call does the same work in local AWS (a create
//! creates, a lookup of a missing user misses). Requests to the sign-in federation endpoint
//! (plain HTTPS, not the SDK) are counted at its stand-in and replayed too. The two paths
//! alternate, so drift on this shared machine hits both alike.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde_json::{Value, json};
use shared::adapters::recording::BackendCall;

pub struct Overhead {
    pub operation: &'static str,
    pub api_ms: f64,
    pub direct_ms: f64,
    pub calls: usize,
}

impl Overhead {
    pub fn ratio(&self) -> f64 {
        self.api_ms / self.direct_ms
    }
}

/// What the direct baseline calls with: the broker's own clients, and the target account's.
struct Direct {
    dynamodb: aws_sdk_dynamodb::Client,
    events: aws_sdk_eventbridge::Client,
    bus: String,
    kms: aws_sdk_kms::Client,
    s3: aws_sdk_s3::Client,
    target_sts: aws_sdk_sts::Client,
    target_iam: aws_sdk_iam::Client,
    user_sts: aws_sdk_sts::Client,
    http: reqwest::Client,
    table: String,
    bucket: String,
    key_id: String,
    role_arn: String,
    ciphertext: aws_sdk_kms::primitives::Blob,
    federation: String,
}

/// Per-run state of one replay: the fresh names its calls use.
struct Run {
    name: String,
    log_key: String,
    log: String,
    credentials: Option<Value>,
}

pub async fn measure(samples: usize) -> Vec<Overhead> {
    let env = e2e::env();
    env.on_system(run(env, samples)).await
}

async fn run(env: &'static e2e::TestEnv, samples: usize) -> Vec<Overhead> {
    let f = e2e::fixture(env, "overhead").await;
    let api = env.client();
    let admin = env.admin();
    let direct = Direct::new(env, &f).await;
    let target = env.take_account();

    let mut results = Vec::new();
    // Account registration; the account is deleted (untimed) so the next sample can register it.
    let mut timings = Samples::default();
    for i in 0..samples {
        let body = e2e::access_key_registration(&format!("overhead-{i}"), &target);
        let (took, reply, recorded) = timed_api(env, api.post("/accounts", &admin, body)).await;
        let id = reply.ok(201)["id"].as_str().expect("an id").to_string();
        api.delete(&format!("/accounts/{id}"), &admin).await.ok(204);
        timings.add(took, &recorded, direct.replay(&recorded, 0).await, 0);
    }
    results.push(Overhead::of("account registration", &timings));

    // User provisioning (console login, access key, JIT policy), a fresh e-mail each time.
    let mut timings = Samples::default();
    for i in 0..samples {
        let body = json!({ "email": format!("overhead-{i}@example.com"), "console_access": true, "credential": true });
        let (took, reply, recorded) =
            timed_api(env, api.post(&format!("/accounts/{}/users", f.account), &admin, body)).await;
        reply.ok(201);
        timings.add(took, &recorded, direct.replay(&recorded, 0).await, 0);
    }
    results.push(Overhead::of("user provisioning", &timings));

    // JIT start with a console sign-in URL; each session is ended (untimed) afterwards.
    let mut timings = Samples::default();
    for _ in 0..samples {
        let body = json!({ "account_id": f.account, "type": "jit", "role_arn": f.role, "duration_seconds": 900, "reason": "overhead benchmark" });
        let signins = env.federation.requests().len();
        let (took, reply, recorded) = timed_api(env, api.post("/sessions", &f.token, body)).await;
        let federation_calls = env.federation.requests().len() - signins;
        let id = reply.ok(201)["session"]["id"]
            .as_str()
            .expect("a session id")
            .to_string();
        api.delete(&format!("/sessions/{id}"), &f.token).await;
        let replayed = direct.replay(&recorded, federation_calls).await;
        timings.add(took, &recorded, replayed, federation_calls);
    }
    results.push(Overhead::of("JIT start", &timings));
    results
}

/// One operation's timings, sample by sample.
#[derive(Default)]
struct Samples {
    api: Vec<Duration>,
    direct: Vec<Duration>,
    calls: usize,
}

impl Samples {
    fn add(&mut self, api: Duration, recorded: &[BackendCall], direct: Duration, extra_calls: usize) {
        self.api.push(api);
        self.direct.push(direct);
        self.calls = recorded.len() + extra_calls;
    }
}

async fn timed_api(
    env: &e2e::TestEnv,
    request: impl std::future::Future<Output = e2e::Reply>,
) -> (Duration, e2e::Reply, Vec<BackendCall>) {
    env.calls.start();
    let started = Instant::now();
    let reply = request.await;
    let took = started.elapsed();
    (took, reply, env.calls.stop())
}

impl Overhead {
    fn of(operation: &'static str, samples: &Samples) -> Overhead {
        Overhead {
            operation,
            api_ms: crate::median_ms(&samples.api),
            direct_ms: crate::median_ms(&samples.direct),
            calls: samples.calls,
        }
    }
}

impl Direct {
    async fn new(env: &e2e::TestEnv, f: &e2e::Fixture) -> Direct {
        let broker = env.sdk(&env.broker).await;
        let target = f.admin_keys.clone();
        let target_sdk = env.sdk(&target).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&broker);
        let kms = aws_sdk_kms::Client::new(&broker);
        let table = env.config.table_name.clone();
        let ciphertext = kms
            .encrypt()
            .key_id(&env.config.kms_key_id)
            .plaintext(aws_sdk_kms::primitives::Blob::new(vec![7u8; 40]))
            .encryption_context("purpose", "overhead-benchmark")
            .send()
            .await
            .expect("encrypt")
            .ciphertext_blob
            .expect("a ciphertext");
        // A key of the target account's own, to assume the role with (as the broker does with the
        // provisioned user's key).
        let iam = aws_sdk_iam::Client::new(&target_sdk);
        let user = format!("overhead-direct-{}", ulid::Ulid::new());
        iam.create_user().user_name(&user).send().await.expect("user");
        // Local AWS runs authenticated: like the provisioned user, this one needs the JIT policy.
        iam.put_user_policy()
            .user_name(&user)
            .policy_name("jit")
            .policy_document(
                json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"], "Resource": [f.role] }] })
                    .to_string(),
            )
            .send()
            .await
            .expect("policy");
        // The role trusts the provisioned user (local AWS checks trust); it now trusts this one too.
        let guide = env
            .client()
            .get(&format!("/accounts/{}/users/{}", f.account, f.email), &env.admin())
            .await
            .ok(200);
        let arn = iam
            .get_user()
            .user_name(&user)
            .send()
            .await
            .expect("user")
            .user
            .expect("user")
            .arn;
        // The broker's statements, and one for the baseline's own user.
        let mut statements = guide["jit_roles"][0]["trust_policy_statements"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        statements.push(json!({
            "Effect": "Allow",
            "Principal": { "AWS": arn },
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
        }));
        let trust = json!({ "Version": "2012-10-17", "Statement": statements });
        iam.update_assume_role_policy()
            .role_name(f.role.rsplit('/').next().expect("a role name"))
            .policy_document(trust.to_string())
            .send()
            .await
            .expect("trust");
        let key = iam.create_access_key().user_name(&user).send().await.expect("key");
        let key = key.access_key.expect("key");
        let user_sdk = env
            .sdk(&local_runner::local_aws::Keys {
                access_key_id: key.access_key_id,
                secret_access_key: key.secret_access_key,
            })
            .await;
        Direct {
            dynamodb,
            events: aws_sdk_eventbridge::Client::new(&broker),
            bus: env.config.event_bus.clone().unwrap_or_else(|| "default".into()),
            kms,
            s3: aws_sdk_s3::Client::new(&broker),
            target_sts: aws_sdk_sts::Client::new(&target_sdk),
            target_iam: iam,
            // In the account's registered region, as the broker calls it.
            user_sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&user_sdk)
                    .region(aws_sdk_sts::config::Region::new("eu-west-1"))
                    .build(),
            ),
            http: reqwest::Client::new(),
            table,
            bucket: env.config.session_log_bucket.clone(),
            key_id: env.config.kms_key_id.clone(),
            role_arn: f.role.clone(),
            ciphertext,
            federation: env.config.federation_endpoint.clone(),
        }
    }

    /// Makes the recorded calls, in order, then `federation` sign-in token requests; returns the
    /// time it took.
    async fn replay(&self, calls: &[BackendCall], federation: usize) -> Duration {
        let fresh = ulid::Ulid::new().to_string().to_lowercase();
        let mut run = Run {
            name: format!("direct-{fresh}"),
            log_key: format!("sessions/overhead/direct/{fresh}.jsonl"),
            log: String::new(),
            credentials: None,
        };
        let started = Instant::now();
        for call in calls {
            let one = Instant::now();
            self.call(call, &mut run).await;
            if std::env::var_os("BENCH_VERBOSE").is_some() {
                eprintln!(
                    "{:<32} API {:>6.1} ms  direct {:>6.1} ms",
                    call.operation,
                    call.elapsed.as_secs_f64() * 1000.0,
                    one.elapsed().as_secs_f64() * 1000.0
                );
            }
        }
        for _ in 0..federation {
            self.signin(&run).await;
        }
        started.elapsed()
    }

    /// One call of the operation with like-sized input. Errors that the API path also meets
    /// (a lookup of a user not yet created) are part of the work, so results are not checked
    /// beyond that the call was answered.
    async fn call(&self, call: &BackendCall, run: &mut Run) {
        let operation = call.operation.as_str();
        let user = run.name.as_str();
        let answered = match operation {
            "sts:GetCallerIdentity" => self.target_sts.get_caller_identity().send().await.is_ok(),
            "sts:AssumeRole" => {
                let out = self
                    .user_sts
                    .assume_role()
                    .role_arn(&self.role_arn)
                    .role_session_name(format!("cib-{}", &run.name[..20]))
                    .source_identity("overhead@example.com")
                    .duration_seconds(900)
                    .send()
                    .await;
                if let Ok(c) = out.as_ref().map(|o| o.credentials.clone().expect("credentials")) {
                    run.credentials = Some(json!({ "sessionId": c.access_key_id, "sessionKey": c.secret_access_key, "sessionToken": c.session_token }));
                }
                out.is_ok()
            }
            "kms:Encrypt" => self
                .kms
                .encrypt()
                .key_id(&self.key_id)
                .plaintext(aws_sdk_kms::primitives::Blob::new(vec![7u8; 40]))
                .encryption_context("purpose", "overhead-benchmark")
                .send()
                .await
                .is_ok(),
            "kms:Decrypt" => self
                .kms
                .decrypt()
                .ciphertext_blob(self.ciphertext.clone())
                .encryption_context("purpose", "overhead-benchmark")
                .send()
                .await
                .is_ok(),
            // Reads are replayed exactly as recorded; writes go to fresh keys, as many items per
            // transaction and as many bytes as the recorded one.
            "dynamodb:GetItem" => {
                let body = call.dynamodb_body.as_ref().expect("the recorded request");
                self.dynamodb
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(attribute_map(&body["Key"])))
                    .set_consistent_read(body["ConsistentRead"].as_bool())
                    .send()
                    .await
                    .is_ok()
            }
            "dynamodb:Query" => {
                let body = call.dynamodb_body.as_ref().expect("the recorded request");
                let text = |k: &str| body[k].as_str().map(str::to_string);
                let names = body["ExpressionAttributeNames"].as_object().map(|names| {
                    names
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                });
                self.dynamodb
                    .query()
                    .table_name(&self.table)
                    .set_index_name(text("IndexName"))
                    .set_key_condition_expression(text("KeyConditionExpression"))
                    .set_filter_expression(text("FilterExpression"))
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(
                        body.get("ExpressionAttributeValues").map(attribute_map),
                    )
                    .set_exclusive_start_key(body.get("ExclusiveStartKey").map(attribute_map))
                    .set_limit(body["Limit"].as_i64().map(|l| l as i32))
                    .set_scan_index_forward(body["ScanIndexForward"].as_bool())
                    .set_consistent_read(body["ConsistentRead"].as_bool())
                    .send()
                    .await
                    .is_ok()
            }
            // Replayed as recorded (the one a start makes keeps a role's maximum: idempotent).
            "dynamodb:UpdateItem" => {
                let body = call.dynamodb_body.as_ref().expect("the recorded request");
                let text = |k: &str| body[k].as_str().map(str::to_string);
                self.dynamodb
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(attribute_map(&body["Key"])))
                    .set_update_expression(text("UpdateExpression"))
                    .set_condition_expression(text("ConditionExpression"))
                    .set_expression_attribute_values(body.get("ExpressionAttributeValues").map(attribute_map))
                    .send()
                    .await
                    .is_ok()
            }
            "dynamodb:BatchGetItem" => {
                let body = call.dynamodb_body.as_ref().expect("the recorded request");
                let keys = body["RequestItems"]
                    .as_object()
                    .and_then(|tables| tables.values().next())
                    .expect("one table's keys");
                let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(
                        keys["Keys"]
                            .as_array()
                            .expect("keys")
                            .iter()
                            .map(attribute_map)
                            .collect(),
                    ))
                    .set_consistent_read(keys["ConsistentRead"].as_bool())
                    .build()
                    .expect("keys are set");
                self.dynamodb
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .is_ok()
            }
            "events:PutEvents" => {
                // As large as the recorded event (its detail is the session event's JSON).
                let detail = json!({ "padding": "x".repeat(call.request_bytes.saturating_sub(200)) });
                let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source("cloud-iam-broker")
                    .detail_type("Overhead benchmark")
                    .detail(detail.to_string())
                    .build();
                self.events.put_events().entries(entry).send().await.is_ok()
            }
            "dynamodb:TransactWriteItems" => {
                let body = call.dynamodb_body.as_ref().expect("the recorded request");
                let count = body["TransactItems"].as_array().map_or(1, Vec::len).max(1);
                let padding = (call.request_bytes / count).saturating_sub(120);
                let item = |n: usize| -> TransactWriteItem {
                    let mut item = HashMap::new();
                    item.insert("PK".into(), AttributeValue::S(format!("DIRECT#{}#{}", run.name, ulid::Ulid::new())));
                    item.insert("SK".into(), AttributeValue::S(format!("ITEM#{n}")));
                    item.insert("body".into(), AttributeValue::S("x".repeat(padding)));
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                        .expect("a put");
                    TransactWriteItem::builder().put(put).build()
                };
                self.dynamodb
                    .transact_write_items()
                    .set_transact_items(Some((0..count).map(item).collect()))
                    .send()
                    .await
                    .is_ok()
            }
            "s3:GET" => {
                match self.s3.get_object().bucket(&self.bucket).key(&run.log_key).send().await {
                    Ok(out) => {
                        let bytes = out.body.collect().await.expect("a body").into_bytes();
                        run.log = String::from_utf8_lossy(&bytes).into_owned();
                    }
                    Err(_) => run.log.clear(),
                }
                true
            }
            "s3:PUT" => {
                // As many bytes as the recorded object (the log so far plus one line).
                let body = "x".repeat(call.request_bytes.max(run.log.len()));
                self.s3
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&run.log_key)
                    .content_type("application/x-ndjson")
                    .body(aws_sdk_s3::primitives::ByteStream::from(body.into_bytes()))
                    .send()
                    .await
                    .is_ok()
            }
            "iam:GetUser" => {
                self.target_iam.get_user().user_name(user).send().await.ok();
                true
            }
            "iam:CreateUser" => self
                .target_iam
                .create_user()
                .user_name(user)
                .tags(aws_sdk_iam::types::Tag::builder().key("cib:provisioning-id").value(&run.name).build().expect("tag"))
                .send()
                .await
                .is_ok(),
            "iam:PutUserPolicy" => self
                .target_iam
                .put_user_policy()
                .user_name(user)
                .policy_name("cloud-iam-broker-jit")
                .policy_document(json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": self.role_arn }] }).to_string())
                .send()
                .await
                .is_ok(),
            "iam:GetAccountPasswordPolicy" => {
                self.target_iam.get_account_password_policy().send().await.ok();
                true
            }
            "iam:GetLoginProfile" => {
                self.target_iam.get_login_profile().user_name(user).send().await.ok();
                true
            }
            "iam:CreateLoginProfile" => self
                .target_iam
                .create_login_profile()
                .user_name(user)
                .password("Direct-Overhead-Benchmark-1!")
                .password_reset_required(false)
                .send()
                .await
                .is_ok(),
            "iam:ListAccessKeys" => self.target_iam.list_access_keys().user_name(user).send().await.is_ok(),
            "iam:CreateAccessKey" => self.target_iam.create_access_key().user_name(user).send().await.is_ok(),
            "iam:ListAttachedUserPolicies" => self
                .target_iam
                .list_attached_user_policies()
                .user_name(user)
                .send()
                .await
                .is_ok(),
            "iam:ListGroupsForUser" => self.target_iam.list_groups_for_user().user_name(user).send().await.is_ok(),
            "iam:GetRole" => self
                .target_iam
                .get_role()
                .role_name(self.role_arn.rsplit('/').next().expect("a role name"))
                .send()
                .await
                .is_ok(),
            other => panic!("the overhead benchmark has no direct form of {other}; add one"),
        };
        assert!(answered, "the direct {operation} failed");
    }

    async fn signin(&self, run: &Run) {
        let session = run.credentials.as_ref().expect("an AssumeRole came first").to_string();
        let url = format!(
            "{}?Action=getSigninToken&SessionDuration=900&Session={}",
            self.federation,
            shared::encoding::percent_encode(&session)
        );
        let reply = self
            .http
            .get(url)
            .send()
            .await
            .expect("the federation stand-in answers");
        assert!(reply.status().is_success(), "sign-in token: {}", reply.status());
        let _: Value = reply.json().await.expect("JSON");
    }
}

/// DynamoDB's JSON form of an attribute map, as the SDK's type.
fn attribute_map(json: &Value) -> HashMap<String, AttributeValue> {
    json.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect())
        .unwrap_or_default()
}

fn attribute(json: &Value) -> AttributeValue {
    let (kind, v) = json
        .as_object()
        .and_then(|m| m.iter().next())
        .expect("a typed attribute");
    match kind.as_str() {
        "S" => AttributeValue::S(v.as_str().unwrap_or_default().into()),
        "N" => AttributeValue::N(v.as_str().unwrap_or_default().into()),
        "BOOL" => AttributeValue::Bool(v.as_bool().unwrap_or_default()),
        "NULL" => AttributeValue::Null(true),
        "M" => AttributeValue::M(attribute_map(v)),
        "L" => AttributeValue::L(
            v.as_array()
                .map(|l| l.iter().map(attribute).collect())
                .unwrap_or_default(),
        ),
        other => panic!("no replay of DynamoDB type {other}"),
    }
}
