//! The end-to-end test harness: one local system (moto + the HTTP API, exactly what
//! `scripts/dev` runs) per test binary, shared by its tests.
//!
//! The system runs on its own thread and Tokio runtime, because each `#[tokio::test]` has a
//! runtime that ends with the test. Tests isolate themselves by taking their own seeded AWS
//! account (`take_account`) and unique names.

pub mod bus;
pub mod consoles;
pub mod identity_center;
pub mod organization;
pub mod registration;
pub mod shell;
pub mod slack;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use local_runner::federation::FederationStandIn;
use local_runner::local_aws::{Keys, TargetAccount, sdk_config};
use local_runner::system::Minter;
use local_runner::{AwsMode, LocalSystem, Options};
use serde_json::Value;
pub use shared::adapters::fault::{Fault, FaultPlan};
use shared::adapters::fault::{FaultyConnector, FaultyLog};
use shared::adapters::recording::CallRecorder;
pub use shared::adapters::recording::HttpFault;
pub use shared::auth::Role;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Seeded target accounts per test binary; raise it if a binary's tests need more.
const TARGET_ACCOUNTS: usize = 16;

pub struct TestEnv {
    pub base_url: String,
    pub aws_endpoint: String,
    pub broker: Keys,
    pub config: shared::config::Config,
    pub app: shared::App,
    minter: Minter,
    accounts: Mutex<Vec<TargetAccount>>,
    /// The AWS Organization the local AWS was seeded with (`local_runner::organization`).
    pub organization: local_runner::organization::SeededOrganization,
    /// Faults to inject into the broker's IAM calls, and the calls it made, by IAM user.
    pub faults: Arc<FaultPlan>,
    /// The broker's clock: tests move it forward instead of waiting.
    pub clock: Arc<shared::ports::OffsetClock>,
    /// The sign-in federation stand-in, with the requests it received.
    pub federation: FederationStandIn,
    /// Where Slack commands' answers land (the `response_url` stand-in).
    pub slack: local_runner::slack::SlackStandIn,
    /// Its base URL: a command's `response_url` must be under it.
    pub slack_base: String,
    /// A queue every event put on the bus is copied to (see `events`).
    pub events_tap_url: String,
    /// The broker's AWS calls, when switched on (the overhead benchmark reads them).
    pub calls: Arc<CallRecorder>,
    /// Holds the next JIT AssumeRole, so a test can interleave an end with a start.
    pub assume_gate: Arc<AssumeGate>,
    /// The system's runtime: calls into `app` run there, where its AWS clients' connections live.
    runtime: tokio::runtime::Handle,
    /// Every event read from the tap so far (tests of a binary share the queue).
    events_seen: Mutex<Vec<Value>>,
}

/// Holds the next STS AssumeRole the broker makes until the test lets it go, and keeps the
/// credentials STS returned for every session (which the API may refuse to hand out, and
/// which tests search for where they must not be).
#[derive(Default)]
pub struct AssumeGate {
    armed: Mutex<Option<(tokio::sync::oneshot::Sender<String>, tokio::sync::oneshot::Receiver<()>)>>,
    issued: Mutex<std::collections::HashMap<String, shared::ports::TemporaryCredentials>>,
}

impl AssumeGate {
    /// Arms the gate: the first receiver yields the held call's RoleSessionName; sending on
    /// the second lets it go on.
    pub fn arm(&self) -> (tokio::sync::oneshot::Receiver<String>, tokio::sync::oneshot::Sender<()>) {
        let (reached_tx, reached_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel();
        *self.armed.lock().unwrap() = Some((reached_tx, go_rx));
        (reached_rx, go_tx)
    }

    /// The credentials STS issued for the session named `role_session_name`.
    pub fn issued(&self, role_session_name: &str) -> Option<shared::ports::TemporaryCredentials> {
        self.issued.lock().unwrap().get(role_session_name).cloned()
    }
}

struct GatedAssumer {
    inner: Arc<dyn shared::ports::RoleAssumer>,
    gate: Arc<AssumeGate>,
}

#[async_trait::async_trait]
impl shared::ports::RoleAssumer for GatedAssumer {
    async fn assume_role(
        &self,
        as_user: &shared::ports::AccountAccess,
        request: &shared::ports::AssumeRequest,
    ) -> Result<shared::ports::TemporaryCredentials, shared::ports::CloudError> {
        let held = self.gate.armed.lock().unwrap().take();
        if let Some((reached, go)) = held {
            reached.send(request.session_name.clone()).ok();
            go.await.ok();
        }
        let out = self.inner.assume_role(as_user, request).await;
        if let Ok(c) = &out {
            self.gate
                .issued
                .lock()
                .unwrap()
                .insert(request.session_name.clone(), c.clone());
        }
        out
    }
}

/// Every log line the system wrote in this test binary (JSON, as in Lambda), for the
/// secret-leakage scan.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// The origin the test API answers CORS for, as a deployment's does for its console.
pub const CONSOLE_ORIGIN: &str = "https://console.example.test";

/// The shared environment, started on first use.
pub fn env() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        // The same JSON logs the functions write in Lambda, captured instead of printed.
        let _ = tracing_subscriber::fmt()
            .json()
            .with_writer(|| Capture)
            .finish()
            .with("debug,aws_smithy_runtime=info,aws_config=info,aws_sdk_sts=info,hyper=info,hyper_util=info,h2=info,rustls=info,reqwest=info,tower=info,axum=info,aws_smithy_http_client=info,aws_runtime=info,aws_sigv4=info".parse::<tracing_subscriber::filter::Targets>().expect("directives parse"))
            .try_init();
        let (tx, rx) = std::sync::mpsc::channel();
        let faults = Arc::new(FaultPlan::default());
        let plan = faults.clone();
        let clock = Arc::new(shared::ports::OffsetClock::default());
        let clock_handle = clock.clone();
        let calls = Arc::new(CallRecorder::default());
        let recorder = calls.clone();
        let gate = Arc::new(AssumeGate::default());
        let gate_handle = gate.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let log_plan = plan.clone();
                let wrap: shared::app::IamWrapper =
                    Arc::new(move |inner| Arc::new(FaultyConnector::new(inner, plan.clone())) as _);
                let clock_override: Arc<dyn shared::ports::Clock> = clock_handle.clone();
                let wrap_log: shared::app::LogWrapper =
                    Arc::new(move |inner| Arc::new(FaultyLog::new(inner, log_plan.clone())) as _);
                // Every adapter, as the local runner wires them (`with_everything`).
                let overrides = shared::app::Overrides {
                    wrap_iam: Some(wrap),
                    wrap_log: Some(wrap_log),
                    wrap_http: Some(Arc::new(move |inner| CallRecorder::wrap(recorder.clone(), inner))),
                    wrap_assumer: Some(Arc::new(move |inner| {
                        Arc::new(GatedAssumer {
                            inner,
                            gate: gate_handle.clone(),
                        }) as _
                    })),
                    clock: Some(clock_override),
                    ..Default::default()
                };
                let options = Options {
                    port: 0,
                    aws: AwsMode::Moto {
                        targets: TARGET_ACCOUNTS,
                        managed_policies: false,
                    },
                    overrides,
                    cors_origins: vec![CONSOLE_ORIGIN.into()],
                    console: None,
                };
                match LocalSystem::start(options).await {
                    Ok(mut system) => {
                        let aws = system.aws.take().expect("moto mode");
                        let env = TestEnv {
                            base_url: system.base_url.clone(),
                            aws_endpoint: aws.endpoint.clone(),
                            broker: aws.broker.clone(),
                            config: system.config.clone(),
                            app: system.app.clone(),
                            minter: system.minter.clone(),
                            accounts: Mutex::new(aws.targets.clone()),
                            organization: aws.organization.clone(),
                            faults,
                            clock,
                            calls,
                            assume_gate: gate,
                            federation: system.federation.clone().expect("moto mode has the stand-in"),
                            slack: system.slack.clone().expect("moto mode has the stand-in"),
                            slack_base: system.config.slack.response_url_prefix.clone(),
                            events_tap_url: aws.resources.events_tap_url.clone().expect("moto mode taps the bus"),
                            runtime: tokio::runtime::Handle::current(),
                            events_seen: Mutex::new(Vec::new()),
                        };
                        tx.send(Ok(env)).ok();
                        // Keep moto (dropped with `aws`) and the server alive for the process.
                        let _keep = aws;
                        std::future::pending::<()>().await;
                    }
                    Err(e) => {
                        tx.send(Err(e)).ok();
                    }
                }
            });
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Ok(env)) => env,
            Ok(Err(e)) => panic!("the local system did not start: {e}"),
            Err(_) => panic!("the local system did not start within 120 s"),
        }
    })
}

impl TestEnv {
    /// A seeded AWS account no other test in this binary uses.
    pub fn take_account(&self) -> TargetAccount {
        self.accounts
            .lock()
            .unwrap()
            .pop()
            .expect("out of seeded accounts: raise TARGET_ACCOUNTS")
    }

    pub fn token(&self, role: Role, subject: &str, email: Option<&str>) -> String {
        self.minter.token(role, subject, email, Duration::from_secs(3600))
    }

    pub fn admin(&self) -> String {
        self.token(Role::Admin, "admin@example.com", Some("admin@example.com"))
    }

    pub fn user(&self, email: &str) -> String {
        self.token(Role::User, email, Some(email))
    }

    /// The HS256 secret, for tests that forge or tamper with tokens on purpose.
    pub fn jwt_secret(&self) -> &str {
        self.minter.secret().expose()
    }

    /// An SDK configuration signed with `keys`, to look at local AWS directly.
    pub async fn sdk(&self, keys: &Keys) -> aws_config::SdkConfig {
        sdk_config(&self.aws_endpoint, keys).await
    }

    /// Deletes `key` from the session-log bucket, as someone allowed to write the bucket would
    /// (with the broker's keys). The bucket is under Object Lock, so this adds a delete marker:
    /// the locked version stays, and a reader of the current objects sees the object gone.
    pub async fn delete_from_log_bucket(&self, key: &str) {
        let sdk = self.sdk(&self.broker).await;
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
        s3.delete_object()
            .bucket(&self.config.session_log_bucket)
            .key(key)
            .send()
            .await
            .expect("a writer of the bucket can delete an object");
    }

    /// Runs the expirer once, exactly as its Lambda does, with the sample scheduled event.
    pub async fn run_expirer(&self) -> shared::services::sessions::ExpiryReport {
        let event: Value = serde_json::from_str(include_str!("../../events/expirer/scheduled.json")).unwrap();
        let app = self.app.clone();
        self.on_system(async move { expirer::handle(&app, event).await.expect("the expirer runs") })
            .await
    }

    /// Runs the organization sync once, exactly as its Lambda does on its schedule, with a
    /// scheduled event.
    pub async fn run_org_sync(&self) -> org_sync::SyncRun {
        let event: serde_json::Value =
            serde_json::from_str(include_str!("../../events/org-sync/scheduled.json")).unwrap();
        let app = self.app.clone();
        self.on_system(async move { org_sync::handle(&app, event).await.expect("the organization sync runs") })
            .await
    }

    /// Serializes the tests of a binary that move the shared clock (or run the expirer), so
    /// one test's time travel cannot expire another's sessions mid-assertion.
    /// Each such test starts with the broker's clock back on the wall clock, which AWS keeps:
    /// one test's time travel cannot make another's fresh credentials look expired.
    pub async fn serial(&self) -> tokio::sync::MutexGuard<'static, ()> {
        static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let guard = SERIAL.lock().await;
        self.clock.reset();
        guard
    }

    /// Runs `work` on the system's runtime (not the test's, which ends with the test).
    /// The events EventBridge delivered for `session` (read from the bus's tap queue in
    /// local AWS), each as its envelope: `detail-type`, `source`, `detail`.
    pub async fn events_of(&self, session: &str) -> Vec<Value> {
        self.events_where(|e| e["detail"]["session_id"] == session).await
    }

    /// Every event EventBridge delivered so far (read from the bus's tap queue in local AWS)
    /// that `wanted` picks, each as its envelope: `detail-type`, `source`, `detail`.
    pub async fn events_where(&self, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
        let sdk = self.sdk(&self.broker).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&self.events_tap_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("the tap is readable");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                if let Some(body) = m.body.as_deref().and_then(|b| serde_json::from_str(b).ok()) {
                    self.events_seen.lock().unwrap().push(body);
                }
                if let Some(r) = m.receipt_handle {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&self.events_tap_url)
                        .receipt_handle(r)
                        .send()
                        .await;
                }
            }
        }
        self.events_seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| wanted(e))
            .cloned()
            .collect()
    }

    /// Slack's request signature (`v0=` + HMAC-SHA256 of `v0:<ts>:<body>`) with `secret`.
    pub fn slack_signature(secret: &str, ts: &str, body: &str) -> String {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("v0:{ts}:{body}").as_bytes());
        let sig: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("v0={sig}")
    }

    /// Posts a form-encoded body to a Slack endpoint (`commands`, `interactions`) as Slack
    /// does, with the given timestamp and signature.
    pub async fn slack_post(&self, endpoint: &str, body: &str, ts: &str, signature: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/chatops/slack/{endpoint}", self.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(body.to_string())
            .send()
            .await
            .expect("the API answers")
    }

    pub async fn on_system<T: Send + 'static>(&self, work: impl std::future::Future<Output = T> + Send + 'static) -> T {
        self.runtime.spawn(work).await.expect("the work completes")
    }

    /// Ends every session earlier tests of the binary left live (the clock moved past any
    /// expiry, then back to the wall clock), so a test's expirer counts are exactly its own.
    /// Call it holding `serial()`. Fails the test when the fifth run still read due items: the
    /// backlog did not drain, and the counts that follow would not be the test's own.
    pub async fn drain_expirer(&self) {
        const RUNS: usize = 5;
        self.clock.advance(Duration::from_secs(13 * 3600));
        let mut last = None;
        for _ in 0..RUNS {
            let report = self.run_expirer().await;
            let drained = report.items_read == 0;
            last = Some(report);
            if drained {
                break;
            }
        }
        self.clock.reset();
        let last = last.expect("the expirer ran");
        assert_eq!(
            last.items_read, 0,
            "the expirer's backlog did not drain in {RUNS} runs: the last run still read {} due items: {last:?}",
            last.items_read
        );
    }

    /// One expirer run that may die (an injected crash): `None` then.
    pub async fn run_expirer_may_die(&self) -> Option<shared::services::sessions::ExpiryReport> {
        let app = self.app.clone();
        let event: Value = serde_json::from_str(include_str!("../../events/expirer/scheduled.json")).unwrap();
        self.runtime
            .spawn(async move { expirer::handle(&app, event).await })
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// The credentials STS issued for the JIT or shell session `session_id` (RoleSessionName
    /// `cib-<id>`), as the broker received them, handed out or not; `None` if STS issued none
    /// (or the process died before it saw the answer).
    pub fn issued_credentials(&self, session_id: &str) -> Option<aws_credential_types::Credentials> {
        let issued = self.assume_gate.issued(&format!("cib-{session_id}"))?;
        Some(aws_credential_types::Credentials::new(
            issued.access_key_id.clone(),
            issued.secret_access_key.expose(),
            Some(issued.session_token.expose().to_string()),
            None,
            "issued by STS",
        ))
    }

    /// IAM as whoever holds `creds` (a session's temporary credentials, or a user's key).
    pub async fn iam_as(&self, creds: aws_credential_types::Credentials) -> aws_sdk_iam::Client {
        let sdk = self.sdk(&self.broker).await;
        aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&sdk)
                .credentials_provider(creds)
                .build(),
        )
    }

    /// A call the sessions' roles allow (`iam:ListRoles`), made with `creds`: `Ok`, or AWS's
    /// error code. This is how tests observe that access was revoked.
    pub async fn try_call(&self, creds: &aws_credential_types::Credentials) -> Result<(), String> {
        self.iam_as(creds.clone())
            .await
            .list_roles()
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                aws_sdk_iam::error::ProvideErrorMetadata::code(&e)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("no code: {e:?}"))
            })
    }

    /// AssumeRole into `role` as `user` (console switch-role, or a session the broker did not
    /// make): the credentials, or AWS's error code.
    pub async fn assume_role_as(
        &self,
        user: &aws_credential_types::Credentials,
        role: &str,
        session_name: &str,
        source_identity: Option<&str>,
    ) -> Result<aws_credential_types::Credentials, String> {
        let sdk = self.sdk(&self.broker).await;
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&sdk)
                .credentials_provider(user.clone())
                .build(),
        );
        let out = sts
            .assume_role()
            .role_arn(role)
            .role_session_name(session_name)
            .set_source_identity(source_identity.map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                aws_sdk_sts::error::ProvideErrorMetadata::code(&e)
                    .unwrap_or("no code")
                    .to_string()
            })?;
        let c = out.credentials.unwrap();
        Ok(aws_credential_types::Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "switched",
        ))
    }

    pub async fn target_iam(&self, target: &TargetAccount) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk(&target.admin).await)
    }

    pub fn client(&self) -> Api {
        Api {
            base: self.base_url.clone(),
            http: reqwest::Client::new(),
        }
    }
}

/// A small HTTP client for the API.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts an RFC 9457 problem with this status, and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.text
        );
        assert_eq!(self.content_type, "application/problem+json", "{}", self.text);
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(
            p["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("tag:cloud-iam-broker,2026:problem/")),
            "{p}"
        );
        assert!(p["title"].is_string() && p["detail"].is_string(), "{p}");
        p
    }

    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.text
        );
        if self.text.is_empty() { Value::Null } else { self.json() }
    }
}

impl Api {
    pub async fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<RawBody>) -> Reply {
        self.send_with_headers(method, path, token, body, &[]).await
    }

    /// `send`, with extra request headers.
    pub async fn send_with_headers(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<RawBody>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method.parse().expect("method"), format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        match body {
            Some(RawBody::Json(v)) => req = req.json(&v),
            Some(RawBody::Raw { content_type, bytes }) => {
                req = req.header("content-type", content_type).body(bytes);
            }
            None => {}
        }
        let resp = req.send().await.expect("the local API answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.expect("body");
        Reply {
            status,
            content_type,
            headers,
            text,
        }
    }

    /// Like `send`, but a dropped connection (the handler crashed) is `None`, not a panic.
    pub async fn try_send(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Option<Reply> {
        let mut req = self
            .http
            .request(method.parse().expect("method"), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.ok()?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.ok()?;
        Some(Reply {
            status,
            content_type,
            headers,
            text,
        })
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send("POST", path, Some(token), Some(RawBody::Json(body))).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send("PUT", path, Some(token), Some(RawBody::Json(body))).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send("PATCH", path, Some(token), Some(RawBody::Json(body))).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send("DELETE", path, Some(token), None).await
    }
}

pub enum RawBody {
    Json(Value),
    Raw { content_type: &'static str, bytes: Vec<u8> },
}

impl TestEnv {
    /// Registers a fresh seeded account through the API; returns its broker id and the seed.
    pub async fn registered_account(&self, name: &str) -> (String, TargetAccount) {
        let target = self.take_account();
        let reply = self
            .client()
            .post("/accounts", &self.admin(), access_key_registration(name, &target))
            .await;
        let id = reply.ok(201)["id"].as_str().unwrap().to_string();
        (id, target)
    }
}

/// The registration body for a seeded account's admin key.
pub fn access_key_registration(name: &str, account: &TargetAccount) -> Value {
    serde_json::json!({
        "name": name,
        "default_region": "eu-west-1",
        "credentials": {
            "type": "access_key",
            "access_key_id": account.admin.access_key_id,
            "secret_access_key": account.admin.secret_access_key,
        }
    })
}

impl Fixture {
    /// A `POST /sessions` body for a JIT session on the fixture's role.
    pub fn jit(&self, seconds: i64) -> Value {
        serde_json::json!({ "account_id": self.account, "type": "jit", "role_arn": self.role, "duration_seconds": seconds, "reason": "incident INC-42" })
    }

    /// A second access key of the provisioned IAM user (the test's stand-in for the person at
    /// the console, who signs in as that user), with a call of its own it may make.
    pub async fn user_key(&self) -> aws_credential_types::Credentials {
        self.iam
            .put_user_policy()
            .user_name(&self.email)
            .policy_name("test-work")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}"#,
            )
            .send()
            .await
            .unwrap();
        let key = self
            .iam
            .create_access_key()
            .user_name(&self.email)
            .send()
            .await
            .unwrap()
            .access_key
            .unwrap();
        aws_credential_types::Credentials::new(key.access_key_id, key.secret_access_key, None, None, "user")
    }

    /// The fixture role's name (IAM calls take names).
    pub fn role_name(&self) -> &str {
        self.role.rsplit('/').next().expect("a role ARN")
    }

    /// The trust statements the API says the role needs for the fixture's user.
    pub async fn trust_statements(&self, env: &TestEnv) -> Vec<Value> {
        let guide = env
            .client()
            .get(
                &format!("/accounts/{}/users/{}", self.account, self.email),
                &env.admin(),
            )
            .await
            .ok(200);
        guide["jit_roles"][0]["trust_policy_statements"]
            .as_array()
            .expect("trust statements")
            .clone()
    }

    /// Replaces the role's trust policy with `statements`.
    pub async fn set_trust(&self, statements: &[Value]) {
        self.iam
            .update_assume_role_policy()
            .role_name(self.role_name())
            .policy_document(serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string())
            .send()
            .await
            .expect("the trust policy is replaced");
    }
}

impl Api {
    /// `DELETE /sessions/{id}` with a reason, as `token`.
    pub async fn end_session(&self, token: &str, id: &str) -> Reply {
        self.send(
            "DELETE",
            &format!("/sessions/{id}"),
            Some(token),
            Some(RawBody::Json(serde_json::json!({ "reason": "done" }))),
        )
        .await
    }
}

/// A JIT role with `trust` and a two-hour maximum, allowed what the sessions do with it: a call
/// tests make (`iam:ListRoles`, `iam:GetRole`) to see whether access is live.
pub async fn jit_role(iam: &aws_sdk_iam::Client, name: &str, trust: &str) {
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .max_session_duration(7200)
        .send()
        .await
        .expect("the role is created");
    iam.put_role_policy()
        .role_name(name)
        .policy_name("work")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListRoles","iam:GetRole"],"Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
}

/// A role's trust policy as IAM serves it (GetRole returns it URL-encoded).
pub async fn role_trust(iam: &aws_sdk_iam::Client, role_name: &str) -> Value {
    let role = iam.get_role().role_name(role_name).send().await.expect("the role");
    let doc = role
        .role
        .expect("a role")
        .assume_role_policy_document
        .unwrap_or_default();
    let decoded = form_urlencoded::parse(format!("d={doc}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(&doc))
        .expect("a JSON trust policy")
}

/// Whether IAM answered `NoSuchEntity`: the only error that says something is absent. Any
/// other (IAM down, a refusal, a throttle) says nothing about it, and a check of "nothing
/// left" must not pass on it.
fn no_such_entity(e: &impl aws_sdk_iam::error::ProvideErrorMetadata) -> bool {
    e.code() == Some("NoSuchEntity")
}

/// The IAM user's access key ids (none if the user is gone: IAM's `NoSuchEntity`). Any other
/// IAM error fails the test with that error.
pub async fn access_keys(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    match iam.list_access_keys().user_name(user).send().await {
        Ok(out) => out
            .access_key_metadata
            .into_iter()
            .filter_map(|k| k.access_key_id)
            .collect(),
        Err(e) if no_such_entity(&e) => Vec::new(),
        Err(e) => panic!("ListAccessKeys for {user} failed (only NoSuchEntity means no keys): {e:?}"),
    }
}

/// Whether the IAM user exists (absent only on IAM's `NoSuchEntity`). Any other IAM error
/// fails the test with that error.
pub async fn iam_user_exists(iam: &aws_sdk_iam::Client, user: &str) -> bool {
    match iam.get_user().user_name(user).send().await {
        Ok(_) => true,
        Err(e) if no_such_entity(&e) => false,
        Err(e) => panic!("GetUser for {user} failed (only NoSuchEntity means no user): {e:?}"),
    }
}

/// IAM and the record agree on a provisioned user: one key, the recorded one, and a login.
pub async fn assert_converged(iam: &aws_sdk_iam::Client, record: &Value, user: &str, what: &str) {
    assert_eq!(record["status"], "provisioned", "{what}: {record}");
    let recorded = record["credential"]["access_key_id"].as_str().expect("a credential");
    assert_eq!(
        access_keys(iam, user).await,
        vec![recorded.to_string()],
        "{what}: exactly the recorded key"
    );
    assert!(
        iam.get_login_profile().user_name(user).send().await.is_ok(),
        "{what}: a login profile"
    );
}

/// The temporary credentials in a `POST /sessions` answer.
pub fn session_credentials(started: &Value) -> aws_credential_types::Credentials {
    let c = &started["credentials"];
    aws_credential_types::Credentials::new(
        c["access_key_id"].as_str().expect("access key"),
        c["secret_access_key"].as_str().expect("secret"),
        c["session_token"].as_str().map(str::to_string),
        None,
        "session",
    )
}

/// An account ready for sessions: a provisioned user (console + credential) in a group that
/// may start both kinds, JIT on with one role that trusts the user.
pub struct Fixture {
    pub account: String,
    pub aws_account: String,
    pub email: String,
    pub token: String,
    pub role: String,
    /// The access group granting the fixture's user sessions on the account.
    pub group: String,
    /// The target account admin's keys (what the account was registered with).
    pub admin_keys: Keys,
    pub iam: aws_sdk_iam::Client,
}

pub async fn fixture(env: &TestEnv, tag: &str) -> Fixture {
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account(tag).await;
    let iam = env.target_iam(&target).await;
    let email = format!("{tag}@example.com");
    let role_name = format!("OnCall-{tag}");
    let role = format!("arn:aws:iam::{}:role/{role_name}", target.aws_account_id);
    let settings = serde_json::json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [role] });
    api.put(&format!("/accounts/{account}/jit"), &admin, settings)
        .await
        .ok(200);
    api.post(
        &format!("/accounts/{account}/users"),
        &admin,
        serde_json::json!({ "email": email, "console_access": true, "credential": true }),
    )
    .await
    .ok(201);
    // The role trusts the user, with the statement the broker says it needs.
    let guide = api
        .get(&format!("/accounts/{account}/users/{email}"), &admin)
        .await
        .ok(200);
    let statements = guide["jit_roles"][0]["trust_policy_statements"].clone();
    let trust = serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string();
    jit_role(&iam, &role_name, &trust).await;
    let group = api
        .post("/groups", &admin, serde_json::json!({ "name": format!("sessions-{tag}"), "accounts": [account], "permissions": { "start_sessions": true, "start_jit_sessions": true } }))
        .await
        .ok(201);
    api.put(
        &format!("/groups/{}/members/{email}", group["id"].as_str().unwrap()),
        &admin,
        serde_json::json!({}),
    )
    .await
    .ok(201);
    Fixture {
        group: group["id"].as_str().unwrap().to_string(),
        account,
        aws_account: target.aws_account_id,
        token: env.user(&email),
        email,
        role,
        iam,
        admin_keys: target.admin.clone(),
    }
}
