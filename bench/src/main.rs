//! Benchmarks that print figures (nothing here is a timed test; these machines are shared).
//!
//! `bench expirer [LIVE] [DUE]`: with LIVE live sessions of which DUE are due, the items one
//! expirer run reads and its duration. Target: items read <= 2 x due, no scan. The duration is
//! local AWS's (moto evaluates an index query by walking the table in Python), not DynamoDB's.

use std::time::{Duration, Instant};

use shared::adapters::aws::dynamodb::DynamoStore;
use shared::domain::{
    AccountId, AwsAccountId, Email, IamUserName, RoleArn, Session, SessionId, SessionKind, SessionStatus,
};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("expirer") | None => {
            let live = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000usize);
            let due = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100usize);
            expirer_scale(live, due).await;
        }
        Some(other) => {
            eprintln!("unknown benchmark {other}; try: bench expirer [LIVE] [DUE]");
            std::process::exit(2);
        }
    }
}

async fn expirer_scale(live: usize, due: usize) {
    let env = e2e::env();
    let f = e2e::fixture(env, "bench").await;
    let now = time::OffsetDateTime::now_utc();
    let user = Email::parse(&f.email).unwrap();
    let make = |expires_at: time::OffsetDateTime| {
        let id = SessionId::generate();
        Session {
            account_id: AccountId::parse(&f.account).unwrap(),
            aws_account_id: AwsAccountId::parse(&f.aws_account).unwrap(),
            kind: SessionKind::Jit,
            user: user.clone(),
            iam_user: IamUserName::parse(&f.email).unwrap(),
            role: Some(RoleArn::parse(&f.role).unwrap()),
            duration_seconds: 900,
            reason: "expirer benchmark".into(),
            requested_by: f.email.clone(),
            started_at: expires_at - Duration::from_secs(900),
            expires_at,
            status: SessionStatus::Active,
            ending: None,
            revocation_failures: 0,
            last_error: None,
            log_key: format!("sessions/{}/bench/{id}.jsonl", f.account),
            log_head: String::new(),
            version: 1,
            id,
        }
    };
    let mut sessions: Vec<Session> = (0..due).map(|_| make(now - Duration::from_secs(60))).collect();
    sessions.extend((due..live).map(|_| make(now + Duration::from_secs(12 * 3600))));
    let sdk = env.sdk(&env.broker).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), env.config.table_name.clone());
    let seeding = Instant::now();
    store.seed_live_sessions(&sessions).await.expect("seeding");
    let seeded_in = seeding.elapsed();

    let run = Instant::now();
    let report = env.run_expirer().await;
    let took = run.elapsed();
    let ratio = report.items_read as f64 / due.max(1) as f64;
    println!("| benchmark | live sessions | due | items read | read/due | expired | failed | run time | target |");
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| expirer scale | {live} | {due} | {} | {ratio:.2} | {} | {} | {:.1} s | read/due <= 2.00: {} |",
        report.items_read,
        report.expired,
        report.failed,
        took.as_secs_f64(),
        if ratio <= 2.0 { "met" } else { "MISSED" }
    );
    if report.failed > 0 {
        let logs = e2e::captured_logs();
        for line in logs
            .lines()
            .filter(|l| l.contains("revocation failed") || l.contains("expiring a session failed"))
            .take(3)
        {
            eprintln!("{line}");
        }
    }
    eprintln!(
        "(seeding {live} sessions took {:.1} s; the run's time is local AWS's, see the module docs)",
        seeded_in.as_secs_f64()
    );
}
