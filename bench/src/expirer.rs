//! Expirer scale: with LIVE live sessions of which DUE are due, the items one expirer run reads
//! and its duration. Target: items read <= 2 x due, no scan. The duration is local AWS's (moto
//! evaluates an index query by walking the table in Python), not DynamoDB's.

use std::time::{Duration, Instant};

use shared::adapters::aws::dynamodb::DynamoStore;
use shared::domain::{Session, SessionId};

pub struct ExpirerScale {
    pub items_read: u64,
    pub ratio: f64,
    pub expired: u64,
    pub failed: u64,
    pub run_seconds: f64,
    /// The run's DynamoDB reads, and how long seeding took.
    pub store: String,
    pub scans: usize,
    /// IAM policy documents written (role inline policies and managed-policy versions).
    pub iam_writes: usize,
}

pub async fn expirer_scale(live: usize, due: usize) -> ExpirerScale {
    let env = e2e::env();
    let f = e2e::fixture(env, "bench").await;
    let now = time::OffsetDateTime::now_utc();
    let make = |expires_at: time::OffsetDateTime| {
        let id = SessionId::generate();
        let log_key = format!("sessions/{}/bench/{id}.jsonl", f.account);
        crate::seed::live_session(
            &f,
            id,
            (expires_at - Duration::from_secs(900), expires_at),
            (log_key, String::new()),
            "expirer benchmark",
        )
    };
    let mut sessions: Vec<Session> = (0..due).map(|_| make(now - Duration::from_secs(60))).collect();
    sessions.extend((due..live).map(|_| make(now + Duration::from_secs(12 * 3600))));
    let sdk = env.sdk(&env.broker).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), env.config.table_name.clone());
    let seeding = Instant::now();
    store.seed_live_sessions(&sessions).await.expect("seeding");
    let seeded_in = seeding.elapsed();

    let run = Instant::now();
    env.calls.start();
    let report = env.run_expirer().await;
    let calls = env.calls.stop();
    let took = run.elapsed();
    let scans = calls.iter().filter(|c| c.operation == "dynamodb:Scan").count();
    let queries = calls.iter().filter(|c| c.operation == "dynamodb:Query").count();
    let iam_writes = calls
        .iter()
        .filter(|c| {
            matches!(
                c.operation.as_str(),
                "iam:PutRolePolicy" | "iam:CreatePolicy" | "iam:CreatePolicyVersion"
            )
        })
        .count();
    let ratio = report.items_read as f64 / due.max(1) as f64;
    ExpirerScale {
        items_read: report.items_read as u64,
        ratio,
        expired: report.expired as u64,
        failed: report.failed as u64,
        run_seconds: took.as_secs_f64(),
        store: format!(
            "{queries} index queries, {scans} scans; seeding took {:.0} s",
            seeded_in.as_secs_f64()
        ),
        scans,
        iam_writes,
    }
}
