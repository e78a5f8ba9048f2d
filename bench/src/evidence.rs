//! Evidence scale: OBJECTS session logs written within an hour (each three chained events,
//! with its session record), then one digester run over that hour and one verification of the
//! day. Figures: the digest's size and how long writing it took, and how long verifying took.
//! Both read every object (and the digester each object's session record) from local AWS, so
//! the times are moto's (Python serving each GetObject), not S3's.

use std::time::Instant;

use futures::StreamExt;
use shared::adapters::aws::dynamodb::DynamoStore;
use shared::domain::log_chain;
use shared::domain::{AccountId, SessionId};

pub struct EvidenceScale {
    pub objects: usize,
    pub seeding_seconds: f64,
    pub digests_written: u32,
    pub digest_bytes: Vec<i64>,
    pub write_seconds: f64,
    pub verify_seconds: f64,
    pub verified_valid: usize,
    pub verify_ok: bool,
}

pub async fn evidence_scale(objects: usize) -> EvidenceScale {
    let env = e2e::env();
    let f = e2e::fixture(env, "bench-evidence").await;
    let now = time::OffsetDateTime::now_utc();
    let day = now.date();
    let sdk = env.sdk(&env.broker).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let bucket = env.config.session_log_bucket.clone();
    let mut sessions = Vec::with_capacity(objects);
    let mut bodies = Vec::with_capacity(objects);
    for _ in 0..objects {
        let id = SessionId::generate();
        let key = format!("sessions/{}/{day}/{id}.jsonl", f.account);
        let mut head = log_chain::genesis(&key);
        let mut body = String::new();
        for kind in ["requested", "started", "ended"] {
            let event = serde_json::json!({ "v": 1, "event_id": format!("{id}:{kind}"), "type": kind, "session_id": id.to_string(), "reason": "evidence benchmark" });
            let (line, next) = log_chain::chain(event, &head);
            body.push_str(&line);
            body.push('\n');
            head = next;
        }
        sessions.push(crate::seed::live_session(
            &f,
            id,
            (now, now + time::Duration::hours(12)),
            (key.clone(), head),
            "evidence benchmark",
        ));
        bodies.push((key, body));
    }
    let seeding = Instant::now();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), env.config.table_name.clone());
    store.seed_live_sessions(&sessions).await.expect("seeding records");
    futures::stream::iter(bodies)
        .map(|(key, body)| {
            let s3 = s3.clone();
            let bucket = bucket.clone();
            async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(body.into_bytes().into())
                    .send()
                    .await
                    .expect("seeding a log object");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let seeding_seconds = seeding.elapsed().as_secs_f64();

    // The hour the objects were written in is over for the broker (S3's clock stays).
    env.clock.advance(std::time::Duration::from_secs(2 * 3600));
    let app = env.app.clone();
    let write = Instant::now();
    let run = env.on_system(async move { app.evidence.write_due().await }).await;
    let write_seconds = write.elapsed().as_secs_f64();
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(format!("digests/{}/", f.account))
        .send()
        .await
        .expect("listing digests");
    let digest_bytes = listed
        .contents
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o.size)
        .collect();

    let app = env.app.clone();
    let account = AccountId::parse(&f.account).unwrap();
    let verify = Instant::now();
    let report = env
        .on_system(async move { app.evidence.verify(&account, day, day).await })
        .await
        .expect("verification runs");
    let verify_seconds = verify.elapsed().as_secs_f64();
    env.clock.reset();
    EvidenceScale {
        objects,
        seeding_seconds,
        digests_written: run.written,
        digest_bytes,
        write_seconds,
        verify_seconds,
        verified_valid: report.object_counts.get("valid").copied().unwrap_or(0),
        verify_ok: report.valid,
    }
}
