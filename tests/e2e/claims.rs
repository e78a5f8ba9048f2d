//! What README and docs claim about sessions, each checked where it happens: refusals are
//! logged, repeated revocation failures are reported, a tampered log is caught and blocks
//! further events, STS's refusals have a documented status, SourceIdentity is really sent,
//! a wrong ExternalId is refused, and the expirer never scans.
//!
//! Its own binary: it moves the broker's clock, so its tests run one at a time.

use std::time::Duration;

use e2e::registration::{role_registration, trust_issued_external_id};
use e2e::{Fault, Fixture, TestEnv, env, fixture, session_credentials};
use serde_json::{Value, json};

fn jit(f: &Fixture, seconds: i64) -> Value {
    f.jit(seconds)
}

async fn s3(env: &TestEnv) -> aws_sdk_s3::Client {
    let sdk = env.sdk(&env.broker).await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
}

/// An S3 object's text.
async fn object_text(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let out = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
    String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
}

/// Every event in the account's session logs.
async fn logged_events(env: &TestEnv, account: &str) -> Vec<Value> {
    let s3 = s3(env).await;
    let bucket = &env.config.session_log_bucket;
    // Listed whole and filtered here: local S3 miscomputes the signature of a `prefix` with
    // slashes in it.
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let prefix = format!("sessions/{account}/");
    let mut events = Vec::new();
    for object in listed
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o.key().is_some_and(|k| k.starts_with(&prefix)))
    {
        for line in object_text(&s3, bucket, object.key().unwrap()).await.lines() {
            events.push(serde_json::from_str(line).unwrap());
        }
    }
    events
}

#[tokio::test]
async fn a_refused_start_is_logged_with_why() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "refused-log").await;
    let before = logged_events(env, &f.account).await.len();
    let asked_at = time::OffsetDateTime::now_utc();
    let p = env
        .client()
        .post("/sessions", &f.token, jit(&f, 899))
        .await
        .problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/invalid-duration");
    // Refusals go to the caller's refusal log of the day, not to a session log of their own.
    assert_eq!(
        logged_events(env, &f.account).await.len(),
        before,
        "no session log for a refusal"
    );
    let refused = refusal_events(env, &f.email, asked_at).await;
    let last = refused.last().expect("the refusal is logged");
    assert_eq!(last["user"], f.email.as_str());
    assert!(last["why"].as_str().unwrap().contains("duration_seconds"), "{last}");
    assert_eq!(last["duration_seconds"], 899);
}

/// The refusal log events of the caller whose token subject is `email` (fixtures use the
/// e-mail as subject), oldest first: one object per counted refusal. The log is kept per day
/// (UTC) of the refusal, so every day from `asked_at` (taken before the requests) to now is
/// read: requests made just before midnight are logged under the day before.
async fn refusal_events(env: &TestEnv, email: &str, asked_at: time::OffsetDateTime) -> Vec<Value> {
    let scope = format!(
        "{}:{}{email}",
        local_runner::system::ISSUER.len(),
        local_runner::system::ISSUER
    );
    let caller = shared::domain::log_chain::sha256_hex(scope.as_bytes())[..32].to_string();
    let prefix_of = |day: time::Date| {
        format!(
            "refusals/{:04}-{:02}-{:02}/{caller}/",
            day.year(),
            day.month() as u8,
            day.day()
        )
    };
    let today = time::OffsetDateTime::now_utc().date();
    let mut prefixes = vec![prefix_of(asked_at.date())];
    let mut day = asked_at.date();
    while day < today {
        day = day.next_day().expect("a day after");
        prefixes.push(prefix_of(day));
    }
    let s3 = s3(env).await;
    let bucket = &env.config.session_log_bucket;
    // Listed whole and filtered here: local S3 miscomputes the signature of a slashed prefix.
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    // Sorted by key: by day, then by the refusal's number (zero-padded) within the day.
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .filter(|k| prefixes.iter().any(|p| k.starts_with(p.as_str())))
        .map(str::to_string)
        .collect();
    keys.sort();
    let mut events = Vec::new();
    for key in keys {
        for line in object_text(&s3, bucket, &key).await.lines() {
            events.push(serde_json::from_str(line).unwrap());
        }
    }
    events
}

/// A caller without a grant on an account gets the same answer whether the account exists or
/// not, and cannot grow the log bucket: 20 refusals a day logged in full (an object each), the
/// rest counted.
#[tokio::test]
async fn refusals_say_nothing_about_accounts_and_write_a_bounded_log() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "refusal-bound").await;
    let outsider = "outsider@example.com";
    let token = env.user(outsider);
    let objects = || async {
        let s3 = s3(env).await;
        let out = s3
            .list_objects_v2()
            .bucket(&env.config.session_log_bucket)
            .send()
            .await
            .unwrap();
        out.contents().len()
    };
    let before = objects().await;
    let asked_at = time::OffsetDateTime::now_utc();
    let mut body = jit(&f, 900);
    let existing = env.client().post("/sessions", &token, body.clone()).await.problem(403);
    body["account_id"] = json!("01JD0000000000000000000000");
    let unknown = env.client().post("/sessions", &token, body.clone()).await.problem(403);
    assert_eq!(existing["type"], unknown["type"]);
    assert_eq!(existing["title"], unknown["title"]);
    // Concurrently: no refusal record overwrites another.
    let refusals = (0..25).map(|_| async { env.client().post("/sessions", &token, body.clone()).await.problem(403) });
    futures::future::join_all(refusals).await;
    assert_eq!(objects().await, before + 20, "20 refusal objects for the caller's day");
    let events = refusal_events(env, outsider, asked_at).await;
    assert_eq!(events.len(), 20, "the first 20 in full");
    assert!(
        events[19]["note"].as_str().unwrap().contains("counted"),
        "{}",
        events[19]
    );
    assert_eq!(events[0]["why"], existing["detail"]);
}

/// After three failed attempts a revocation is reported as an error (with the alarm field the
/// template's metric filter watches), and retried until it succeeds.
#[tokio::test]
async fn three_failed_revocations_are_reported_as_an_error() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "report").await;
    let started = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        env.faults.inject(f.role_name(), "PutRolePolicy", 0, Fault::Fail);
    }
    api.end_session(&f.token, &id).await.problem(503);
    let alarms = || {
        e2e::captured_logs()
            .lines()
            .filter(|l| l.contains(&id) && l.contains("\"alarm\":\"revocation-failing\"") && l.contains("\"ERROR\""))
            .count()
    };
    assert_eq!(alarms(), 0, "one failure is a warning");
    env.clock.advance(Duration::from_secs(61));
    env.run_expirer().await;
    assert_eq!(alarms(), 0, "two failures are warnings");
    env.clock.advance(Duration::from_secs(121));
    env.run_expirer().await;
    assert_eq!(alarms(), 1, "the third failure is reported as an error");
    env.clock.advance(Duration::from_secs(181));
    env.run_expirer().await;
    let done = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(
        (done["status"].as_str(), done["revocation_failures"].as_u64()),
        (Some("ended"), Some(3))
    );
    assert_eq!(
        env.try_call(&session_credentials(&started)).await,
        Err("AccessDenied".into())
    );
}

/// A log changed in S3 reads `verified: false`, and no further event is appended to it; the
/// end still revokes access and stays due, since it could not be logged.
#[tokio::test]
async fn a_tampered_log_is_caught_and_blocks_further_events() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "tamper").await;
    let started = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap();
    let log = api.get(&format!("/sessions/{id}/log"), &f.token).await.ok(200);
    assert_eq!(log["verified"], true);
    let key = log["key"].as_str().unwrap().to_string();
    let s3 = s3(env).await;
    let bucket = &env.config.session_log_bucket;
    let original = object_text(&s3, bucket, &key).await;
    let tampered = original.replace("incident INC-42", "routine check");
    assert_ne!(tampered, original);
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(tampered.clone().into_bytes().into())
        .send()
        .await
        .unwrap();
    let log = api.get(&format!("/sessions/{id}/log"), &f.token).await.ok(200);
    assert_eq!(log["verified"], false, "{log}");
    assert!(log["problem"].is_string(), "{log}");

    api.end_session(&f.token, id).await.problem(503);
    assert_eq!(
        env.try_call(&session_credentials(&started)).await,
        Err("AccessDenied".into()),
        "access is revoked even though the end cannot be logged"
    );
    assert_eq!(
        object_text(&s3, bucket, &key).await,
        tampered,
        "nothing was appended to a tampered log"
    );
    let session = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(session["status"], "ending", "the end stays due until it can be logged");
}

/// STS refusing the AssumeRole (here: the role trusts the user only with another
/// SourceIdentity) is a 422 `aws-refused` naming the step; nothing is handed out and the session
/// is withdrawn. The same trust naming the user's own e-mail as SourceIdentity lets the start
/// through, so the refusal was for the value sent, not for none (a missing key refuses both).
#[tokio::test]
async fn an_assume_role_the_trust_refuses_is_aws_refused_and_source_identity_is_sent() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "trust-refuses").await;
    let mut statements = f.trust_statements(env).await;
    statements[0]["Condition"]["StringEquals"]["sts:SourceIdentity"] = json!("someone-else@example.com");
    f.set_trust(&statements).await;
    let reply = api.post("/sessions", &f.token, jit(&f, 900)).await;
    let p = reply.problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/aws-refused");
    assert!(
        p["detail"].as_str().unwrap().starts_with("assume the role failed"),
        "{p}"
    );
    assert!(!reply.text.contains("secret_access_key"));
    let listed = api.get("/sessions", &f.token).await.ok(200);
    assert_eq!(listed["items"][0]["status"], "ended", "withdrawn: {listed}");
    statements[0]["Condition"]["StringEquals"]["sts:SourceIdentity"] = json!(f.email);
    f.set_trust(&statements).await;
    let started = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    assert!(
        started["credentials"]["session_token"].is_string(),
        "{} sent as SourceIdentity: {started}",
        f.email
    );
}

#[tokio::test]
async fn an_allowed_role_missing_in_iam_is_refused_as_not_allowed() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "missing-role").await;
    let ghost = format!("arn:aws:iam::{}:role/Ghost", f.aws_account);
    let settings = json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [f.role, ghost] });
    api.put(&format!("/accounts/{}/jit", f.account), &env.admin(), settings)
        .await
        .ok(200);
    let body = json!({ "account_id": f.account, "type": "jit", "role_arn": ghost, "duration_seconds": 900, "reason": "incident INC-42" });
    let p = api.post("/sessions", &f.token, body).await.problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/role-not-allowed");
    assert!(p["detail"].as_str().unwrap().contains("does not exist"), "{p}");
}

#[tokio::test]
async fn a_wrong_external_id_is_refused() {
    let env = env();
    let _serial = env.serial().await;
    let target = env.take_account();
    // The role trusts one issued ExternalId; another, also issued, is refused by AWS.
    trust_issued_external_id(env, &target).await;
    let other = env
        .client()
        .post("/accounts/external-ids", &env.admin(), serde_json::Value::Null)
        .await
        .ok(201)["external_id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = env
        .client()
        .post(
            "/accounts",
            &env.admin(),
            role_registration("wrong-external-id", &target, &other),
        )
        .await;
    let p = reply.problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/invalid-credentials");
    assert!(!reply.text.contains(&other));
}

/// The expirer reads the due index and nothing else: one query a partition, no scan.
#[tokio::test]
async fn the_expirer_never_scans() {
    let env = env();
    let _serial = env.serial().await;
    env.drain_expirer().await;
    let f = fixture(env, "no-scan").await;
    env.client().post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    env.clock.advance(Duration::from_secs(901));
    env.calls.start();
    let report = env.run_expirer().await;
    let calls = env.calls.stop();
    assert_eq!((report.items_read, report.expired), (1, 1), "{report:?}");
    let of = |op: &str| calls.iter().filter(|c| c.operation == op).count();
    assert_eq!(of("dynamodb:Scan"), 0);
    // One query of each partition of the due index (the ends', then the activity snapshots');
    // the digester that runs after them pages through the accounts (another index), which
    // grows with accounts, not sessions.
    let due_queries: Vec<String> = calls
        .iter()
        .filter(|c| c.operation == "dynamodb:Query")
        .filter_map(|c| c.dynamodb_body.as_ref())
        .filter(|b| b["IndexName"] == "GSI2")
        .map(|b| {
            b["ExpressionAttributeValues"][":p"]["S"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        due_queries,
        ["DUE", "DUE#ACTIVITY"],
        "{:?}",
        calls.iter().map(|c| &c.operation).collect::<Vec<_>>()
    );
}

/// A due item that cannot be decoded is skipped, counted and alarmed; the sessions due beside
/// it are still ended.
#[tokio::test]
async fn an_undecodable_due_item_never_stops_an_expirer_run() {
    let env = env();
    let _serial = env.serial().await;
    env.drain_expirer().await;
    let f = fixture(env, "corrupt-due").await;
    let started = env.client().post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    let ddb = aws_sdk_dynamodb::Client::new(&env.sdk(&env.broker).await);
    let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.into());
    // Sorted first in the due index, and missing every field a session has.
    ddb.put_item()
        .table_name(&env.config.table_name)
        .item("PK", s("SESSION#corrupt"))
        .item("SK", s("SESSION"))
        .item("GSI2PK", s("DUE"))
        .item("GSI2SK", s("000000000001#corrupt"))
        .item("entity", s("session"))
        .send()
        .await
        .unwrap();
    env.clock.advance(Duration::from_secs(901));
    let report = env.run_expirer().await;
    ddb.delete_item()
        .table_name(&env.config.table_name)
        .key("PK", s("SESSION#corrupt"))
        .key("SK", s("SESSION"))
        .send()
        .await
        .unwrap();
    assert_eq!((report.undecodable, report.expired), (1, 1), "{report:?}");
    let session = env.client().get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(session["status"], "expired");
}
