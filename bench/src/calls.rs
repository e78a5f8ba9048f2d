//! Backend calls per operation: for a JIT start, a console start, ending each, a request and
//! the approval that starts it, the AWS calls the broker makes (recorded at the SDK's HTTP
//! client) and the sign-in federation requests (recorded at its stand-in), by service; the
//! critical path (the longest chain of calls each of which waited for the one before); and the
//! latency that path would have on AWS, from per-service figures (`FIGURES`).
//!
//! Which calls waited for which is read from when they ran: two calls that overlapped ran
//! concurrently, a call that started after another finished is counted after it. That is what
//! the code did, not what it could have done.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

/// What a call is taken to cost from a Lambda function in the same Region, warm connection, in
/// ms: by `service:Operation` first, then by service (`federation` is the sign-in endpoint).
/// Only DynamoDB's and S3's are AWS's figures; the rest are stated assumptions. Sources:
/// docs/benchmarks.md §6.
pub const FIGURES: &[(&str, f64)] = &[
    ("dynamodb:Query", 15.0),
    ("dynamodb:BatchGetItem", 15.0),
    ("dynamodb:TransactWriteItems", 25.0),
    ("dynamodb", 10.0),
    ("s3", 60.0),
    ("kms:Sign", 50.0),
    ("kms", 25.0),
    ("sts:GetCallerIdentity", 20.0),
    ("sts", 50.0),
    ("iam", 100.0),
    ("scheduler", 50.0),
    ("events", 30.0),
    ("ec2", 100.0),
    ("ssm", 50.0),
    ("cloudtrail", 500.0),
    ("federation", 200.0),
    // IAM Identity Center's admin API and identity store: assumed like IAM's control plane
    // (stated assumptions, not AWS figures).
    ("sso", 100.0),
    ("identitystore", 50.0),
];

/// Calls per operation before issue 15 (this benchmark on `5245121`; the sequences are in
/// docs/benchmarks.md §6): the baseline the console start, the ends and the approval are to
/// halve. The request waiting for approval has no target.
pub fn before(operation: &str) -> Option<usize> {
    match operation {
        "JIT start" => Some(20),
        "JIT end" => Some(16),
        "console start" => Some(20),
        "console end" => Some(21),
        "approval that starts it" => Some(32),
        _ => None,
    }
}

/// One call as it ran.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: String,
    pub started: Instant,
    pub ended: Instant,
}

impl Call {
    pub fn service(&self) -> &str {
        self.operation.split(':').next().unwrap_or_default()
    }

    fn figure_ms(&self) -> f64 {
        let figure = |key: &str| FIGURES.iter().find(|(k, _)| *k == key).map(|(_, ms)| *ms);
        figure(&self.operation)
            .or_else(|| figure(self.service()))
            .unwrap_or(50.0)
    }
}

/// One operation's calls, summed up.
pub struct Profile {
    pub operation: &'static str,
    pub calls: usize,
    pub by_service: BTreeMap<String, usize>,
    /// Calls on the longest chain of calls that waited for each other.
    pub depth: usize,
    /// That chain's cost on AWS by `FIGURES`, in ms (the heaviest chain, which may differ from
    /// the longest).
    pub projected_ms: f64,
    /// The operations, in the order they started, with `|` between calls that overlapped.
    pub sequence: String,
    pub api_ms: f64,
}

impl Profile {
    pub fn of(operation: &'static str, mut calls: Vec<Call>, api: Duration) -> Profile {
        calls.sort_by_key(|c| c.started);
        let mut by_service = BTreeMap::new();
        for c in &calls {
            *by_service.entry(c.service().to_string()).or_insert(0) += 1;
        }
        // Longest (and heaviest) chain ending at each call: calls are sorted by start, so every
        // call that finished before this one started comes earlier.
        let mut depth = vec![0usize; calls.len()];
        let mut weight = vec![0f64; calls.len()];
        for i in 0..calls.len() {
            let before = (0..i).filter(|&j| calls[j].ended <= calls[i].started);
            depth[i] = 1 + before.clone().map(|j| depth[j]).max().unwrap_or(0);
            weight[i] = calls[i].figure_ms() + before.map(|j| weight[j]).fold(0.0, f64::max);
        }
        let mut sequence = String::new();
        for (i, c) in calls.iter().enumerate() {
            if i > 0 {
                let overlapped = calls[..i].iter().any(|p| p.ended > c.started);
                sequence.push_str(if overlapped { " | " } else { " → " });
            }
            sequence.push_str(&c.operation);
        }
        Profile {
            operation,
            calls: calls.len(),
            by_service,
            depth: depth.into_iter().max().unwrap_or(0),
            projected_ms: weight.into_iter().fold(0.0, f64::max),
            sequence,
            api_ms: api.as_secs_f64() * 1000.0,
        }
    }

    pub fn services(&self) -> String {
        self.by_service
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub async fn measure(samples: usize) -> Vec<Profile> {
    let env = e2e::env();
    env.on_system(run(env, samples.max(1))).await
}

/// Runs `request` with the calls recorded: the SDK's and the federation stand-in's.
async fn recorded<T>(env: &e2e::TestEnv, request: impl std::future::Future<Output = T>) -> (T, Vec<Call>, Duration) {
    let signins = env.federation.requests().len();
    env.calls.start();
    let started = Instant::now();
    let out = request.await;
    let took = started.elapsed();
    let mut calls: Vec<Call> = env
        .calls
        .stop()
        .into_iter()
        .map(|c| Call {
            operation: c.operation,
            started: c.started,
            ended: c.started + c.elapsed,
        })
        .collect();
    calls.extend(env.federation.requests()[signins..].iter().map(|r| Call {
        operation: format!("federation:{}", r.action),
        started: r.received,
        ended: r.received + r.took,
    }));
    (out, calls, took)
}

/// The sample with the median API latency, so one slow outlier does not set the figures.
fn median(operation: &'static str, mut runs: Vec<(Vec<Call>, Duration)>) -> Profile {
    runs.sort_by_key(|(_, took)| *took);
    let (calls, took) = runs.swap_remove(runs.len() / 2);
    Profile::of(operation, calls, took)
}

async fn run(env: &'static e2e::TestEnv, samples: usize) -> Vec<Profile> {
    let api = env.client();
    let f = e2e::fixture(env, "calls").await;
    let (mut jit, mut jit_end, mut console, mut console_end) = (vec![], vec![], vec![], vec![]);
    for _ in 0..samples {
        let body = json!({ "account_id": f.account, "type": "jit", "role_arn": f.role, "duration_seconds": 900, "reason": "calls benchmark" });
        let (reply, calls, took) = recorded(env, api.post("/sessions", &f.token, body)).await;
        let id = reply.ok(201)["session"]["id"].as_str().expect("an id").to_string();
        jit.push((calls, took));
        let (reply, calls, took) = recorded(env, api.end_session(&f.token, &id)).await;
        reply.ok(200);
        jit_end.push((calls, took));

        let body =
            json!({ "account_id": f.account, "type": "console", "duration_seconds": 900, "reason": "calls benchmark" });
        let (reply, calls, took) = recorded(env, api.post("/sessions", &f.token, body)).await;
        let id = reply.ok(201)["session"]["id"].as_str().expect("an id").to_string();
        console.push((calls, took));
        let (reply, calls, took) = recorded(env, api.end_session(&f.token, &id)).await;
        reply.ok(200);
        console_end.push((calls, took));
    }

    // A group whose JIT sessions need one approval from an approver group.
    let g = e2e::fixture(env, "calls-approval").await;
    let approver = "calls-approver@example.com";
    let admin = env.admin();
    let approvers = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "calls-approvers", "accounts": [], "permissions": {} }),
        )
        .await
        .ok(201)["id"]
        .as_str()
        .expect("an id")
        .to_string();
    api.put(&format!("/groups/{approvers}/members/{approver}"), &admin, json!({}))
        .await
        .ok(201);
    api.patch(
        &format!("/groups/{}", g.group),
        &admin,
        json!({ "policy": { "approval": { "approvals_required": 1, "approver_group_ids": [approvers] } } }),
    )
    .await
    .ok(200);
    let approver = env.user(approver);
    let (mut request, mut approval) = (vec![], vec![]);
    for _ in 0..samples {
        let body = json!({ "account_id": g.account, "type": "jit", "role_arn": g.role, "duration_seconds": 900, "reason": "calls benchmark" });
        let (reply, calls, took) = recorded(env, api.post("/sessions", &g.token, body)).await;
        let id = reply.ok(202)["session"]["id"].as_str().expect("an id").to_string();
        request.push((calls, took));
        let (reply, calls, took) = recorded(
            env,
            api.post(
                &format!("/sessions/{id}/approvals"),
                &approver,
                json!({ "reason": "calls benchmark" }),
            ),
        )
        .await;
        assert_eq!(reply.ok(200)["status"], "active");
        approval.push((calls, took));
        api.end_session(&g.token, &id).await.ok(200);
    }
    let (ic_start, ic_end) = identity_center(env, samples).await;
    vec![
        median("JIT start", jit),
        median("JIT end", jit_end),
        median("console start", console),
        median("console end", console_end),
        median("request (pending approval)", request),
        median("approval that starts it", approval),
        median("Identity Center start", ic_start),
        median("Identity Center end", ic_end),
    ]
}

type Runs = Vec<(Vec<Call>, Duration)>;

/// An Identity Center session started and ended `samples` times on an account of the seeded
/// organization (registered, one member enabled, its Identity Center set up, a permission set
/// granted). The start's calls include its polls of the assignment's status, each waiting for the
/// local AWS's provisioning delay (`CIB_LOCAL_SSO_PROVISION_MS`, 1 s by default; AWS documents no
/// figure): the polls are printed as calls, and the wait between them is the API time, not the
/// projection.
async fn identity_center(env: &'static e2e::TestEnv, samples: usize) -> (Runs, Runs) {
    let api = env.client();
    let e2e::identity_center::Granted {
        account,
        permission_set: set,
        email,
    } = e2e::identity_center::granted(
        env,
        "calls",
        env.organization.account("sandbox-1"),
        "CallsReadOnly",
        "calls-ic",
    )
    .await;
    let token = env.user(&email);
    let (mut starts, mut ends) = (vec![], vec![]);
    for _ in 0..samples {
        let body = json!({ "account_id": account, "type": "identity_center", "permission_set_arn": set,
                           "duration_seconds": 900, "reason": "calls benchmark" });
        let (reply, calls, took) = recorded(env, api.post("/sessions", &token, body)).await;
        let id = reply.ok(201)["session"]["id"].as_str().expect("an id").to_string();
        starts.push((calls, took));
        let (reply, calls, took) = recorded(env, api.end_session(&token, &id)).await;
        reply.ok(200);
        ends.push((calls, took));
    }
    (starts, ends)
}
