//! Cold init and memory of the release bootstraps, under a small Lambda Runtime API emulator.
//!
//! Cold init: the time from spawning a bootstrap to its first `GET .../invocation/next` (the
//! first request for work), the median of several starts, side by side with a hello-world
//! `lambda_http` bootstrap built with the same profile. Target: <= 1.5x the hello-world.
//!
//! Memory: the bootstrap's peak RSS (`VmHWM`) after serving every sample event of its function
//! (`events/<function>/`) several times against local AWS. Target: < 64 MB.
//!
//! The bootstraps are built for this machine (x86_64) with the release profile; the arm64 ones
//! that Lambda runs cannot execute here.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

pub const FUNCTIONS: [&str; 7] = [
    "accounts",
    "users",
    "groups",
    "sessions",
    "chatops",
    "chatops-worker",
    "expirer",
];
pub const HELLO: &str = "hello-world";

pub struct ColdInit {
    pub median_ms: f64,
    pub runs: usize,
}

pub struct Memory {
    pub function: String,
    pub invocations: usize,
    pub statuses: String,
    pub peak_rss_mb: f64,
}

/// The emulator's state: events waiting for a `next`, and what came back.
#[derive(Clone)]
struct Emulator {
    queue: Arc<Mutex<VecDeque<Value>>>,
    queued: Arc<Notify>,
    first_next: mpsc::UnboundedSender<Instant>,
    results: mpsc::UnboundedSender<(String, Value)>,
    sequence: Arc<Mutex<u64>>,
}

struct Running {
    addr: std::net::SocketAddr,
    emulator: Emulator,
    first_next: mpsc::UnboundedReceiver<Instant>,
    results: mpsc::UnboundedReceiver<(String, Value)>,
    server: tokio::task::JoinHandle<()>,
}

async fn start_emulator() -> Running {
    let (first_tx, first_next) = mpsc::unbounded_channel();
    let (results_tx, results) = mpsc::unbounded_channel();
    let emulator = Emulator {
        queue: Arc::default(),
        queued: Arc::default(),
        first_next: first_tx,
        results: results_tx,
        sequence: Arc::default(),
    };
    let router = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(emulator.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("an address");
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    Running {
        addr,
        emulator,
        first_next,
        results,
        server,
    }
}

async fn next(State(e): State<Emulator>) -> (StatusCode, HeaderMap, String) {
    e.first_next.send(Instant::now()).ok();
    let event = loop {
        let waiting = e.queued.notified();
        if let Some(event) = e.queue.lock().unwrap().pop_front() {
            break event;
        }
        waiting.await;
    };
    let id = {
        let mut n = e.sequence.lock().unwrap();
        *n += 1;
        format!("req-{n}")
    };
    let mut headers = HeaderMap::new();
    let deadline = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 30_000;
    headers.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().expect("header"),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-west-1:123456789012:function:bench"
            .parse()
            .expect("header"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".parse().expect("header"),
    );
    headers.insert("content-type", "application/json".parse().expect("header"));
    (StatusCode::OK, headers, event.to_string())
}

async fn response(State(e): State<Emulator>, UrlPath(id): UrlPath<String>, body: String) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    e.results.send((id, value)).ok();
    StatusCode::ACCEPTED
}

async fn error(State(e): State<Emulator>, UrlPath(id): UrlPath<String>, body: String) -> StatusCode {
    e.results
        .send((id, serde_json::json!({ "statusCode": "error", "body": body })))
        .ok();
    StatusCode::ACCEPTED
}

async fn init_error(body: String) -> StatusCode {
    eprintln!("a bootstrap failed to initialise: {body}");
    StatusCode::ACCEPTED
}

/// The environment Lambda gives a function, plus the function's own configuration.
fn command(binary: &Path, runtime_api: std::net::SocketAddr, config: &[(String, String)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .envs(config.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    cmd
}

pub fn release_binary(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release")
        .join(name)
}

/// The function's configuration as the SAM template sets it, pointed at the local system.
pub fn function_config(env: &e2e::TestEnv) -> Vec<(String, String)> {
    let c = &env.config;
    [
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", env.broker.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", env.broker.secret_access_key.clone()),
        ("AWS_ENDPOINT_URL", env.aws_endpoint.clone()),
        ("TABLE_NAME", c.table_name.clone()),
        ("KMS_KEY_ID", c.kms_key_id.clone()),
        ("SESSION_LOG_BUCKET", c.session_log_bucket.clone()),
        ("JWT_ALGORITHM", "HS256".into()),
        ("JWT_HS256_SECRET", env.jwt_secret().to_string()),
        ("JWT_ISSUER", local_runner::system::ISSUER.into()),
        ("JWT_AUDIENCE", local_runner::system::AUDIENCE.into()),
        ("FEDERATION_ENDPOINT", c.federation_endpoint.clone()),
        // The chatops function and the worker read the signing secret from its SecureString
        // parameter in the local AWS at cold start, as on AWS: their cold init includes that call.
        (
            "SLACK_SIGNING_SECRET_PARAMETER",
            c.slack_signing_secret_parameter.clone().unwrap_or_default(),
        ),
        ("SLACK_TEAM_ID", local_runner::system::SLACK_TEAM_ID.into()),
        (
            "SLACK_JOBS_QUEUE_URL",
            c.slack.jobs_queue_url.clone().unwrap_or_default(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `config` as the template gives it to `function`: the Slack settings to the chat-ops
/// functions only (another function named a parameter it does not read would refuse to start).
fn for_function(function: &str, config: &[(String, String)]) -> Vec<(String, String)> {
    config
        .iter()
        .filter(|(name, _)| function.starts_with("chatops") || !name.starts_with("SLACK_"))
        .cloned()
        .collect()
}

/// Median time from spawn to the first request for work, over `runs` starts.
pub async fn cold_init(binary: &str, config: &[(String, String)], runs: usize) -> ColdInit {
    let path = release_binary(binary);
    let config = &for_function(binary, config);
    let mut times = Vec::new();
    for _ in 0..runs {
        let mut running = start_emulator().await;
        let started = Instant::now();
        let mut child = command(&path, running.addr, config)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let first = tokio::time::timeout(Duration::from_secs(10), running.first_next.recv())
            .await
            .unwrap_or_else(|_| panic!("{binary} did not ask for work within 10 s"))
            .expect("the emulator runs");
        times.push(first - started);
        child.kill().await.ok();
        running.server.abort();
    }
    ColdInit {
        median_ms: crate::median_ms(&times),
        runs,
    }
}

/// Serves every sample event of `function` `rounds` times, then reads the peak RSS.
pub async fn memory(env: &e2e::TestEnv, function: &str, config: &[(String, String)], rounds: usize) -> Memory {
    let events = sample_events(env, function);
    let config = &for_function(function, config);
    let mut running = start_emulator().await;
    let mut child = command(&release_binary(function), running.addr, config)
        .spawn()
        .expect("the bootstrap starts");
    let pid = child.id().expect("a pid");
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    let mut invocations = 0;
    for _ in 0..rounds {
        for event in &events {
            running.emulator.queue.lock().unwrap().push_back(event.clone());
            running.emulator.queued.notify_one();
            let (_, result) = tokio::time::timeout(Duration::from_secs(60), running.results.recv())
                .await
                .unwrap_or_else(|_| panic!("{function} did not answer within 60 s"))
                .expect("the emulator runs");
            let status = match &result["statusCode"] {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => "ok".into(),
            };
            *statuses.entry(status).or_default() += 1;
            invocations += 1;
        }
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    let hwm_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    child.kill().await.ok();
    running.server.abort();
    Memory {
        function: function.to_string(),
        invocations,
        statuses: statuses
            .iter()
            .map(|(s, n)| format!("{n}x{s}"))
            .collect::<Vec<_>>()
            .join(" "),
        peak_rss_mb: hwm_kb / 1024.0,
    }
}

/// The function's sample events with real tokens in place of the placeholders.
fn sample_events(env: &e2e::TestEnv, function: &str) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(function);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the events folder")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let admin = env.admin();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .expect("an event")
                .replace("{{ADMIN_TOKEN}}", &admin);
            serde_json::from_str(&text).expect("JSON")
        })
        .collect()
}
