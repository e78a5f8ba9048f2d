//! Signed evidence digests, end to end: sessions through the API, the expirer writing digests
//! (signed by the local AWS's KMS, in the Object Lock bucket), and `GET /accounts/{id}/evidence`
//! catching each tampering done to S3 as an attacker with write access to the bucket would.
//! The broker's clock moves two hours ahead (S3's stays), so the writes fall in a finished hour.
//! Also the operational metrics (CloudWatch Embedded Metric Format) a run emits, which the
//! template's alarms watch.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use e2e::{Fixture, TestEnv, env, fixture};
use rsa::pkcs8::DecodePublicKey;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use shared::adapters::recording::HttpFault;
use shared::domain::log_chain;

// Runs that find an object at the key of the hour they digest: another run's (racing), or
// someone else's.
#[path = "evidence/adoption.rs"]
mod adoption;

fn s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

async fn bucket_client(env: &TestEnv) -> (aws_sdk_s3::Client, String) {
    (s3(&env.sdk(&env.broker).await), env.config.session_log_bucket.clone())
}

async fn keys_under(env: &TestEnv, prefix: &str) -> Vec<String> {
    let (s3, bucket) = bucket_client(env).await;
    let out = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    out.contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect()
}

async fn log_key(env: &TestEnv, account: &str, session: &str) -> String {
    keys_under(env, &format!("sessions/{account}/"))
        .await
        .into_iter()
        .find(|k| k.ends_with(&format!("/{session}.jsonl")))
        .expect("the session has a log")
}

async fn read(env: &TestEnv, key: &str) -> (String, std::collections::HashMap<String, String>) {
    let (s3, bucket) = bucket_client(env).await;
    let out = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
    let metadata = out.metadata.clone().unwrap_or_default();
    let body = out.body.collect().await.unwrap().into_bytes();
    (String::from_utf8(body.to_vec()).unwrap(), metadata)
}

async fn write(env: &TestEnv, key: &str, body: Vec<u8>, metadata: &[(&str, &str)]) {
    let (s3, bucket) = bucket_client(env).await;
    let mut put = s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body));
    for (k, v) in metadata {
        put = put.metadata(*k, *v);
    }
    put.send()
        .await
        .expect("a writer of the bucket can overwrite (a new version)");
}

async fn delete(env: &TestEnv, key: &str) {
    let (s3, bucket) = bucket_client(env).await;
    // Under Object Lock this only adds a delete marker; the locked version stays (and a
    // reader of the current objects sees the object gone, as the verifier does).
    s3.delete_object().bucket(bucket).key(key).send().await.unwrap();
}

/// A log that chains perfectly, made by someone who knows the format but not the session.
fn forged_log(key: &str, types: &[&str]) -> String {
    let mut head = log_chain::genesis(key);
    let mut out = String::new();
    for t in types {
        let (line, hash) = log_chain::chain(json!({ "type": t, "event_id": format!("forged:{t}") }), &head);
        out.push_str(&line);
        out.push('\n');
        head = hash;
    }
    out
}

async fn verify(env: &TestEnv, f: &Fixture) -> Value {
    // The log keys carry the day of the request (UTC, the broker's clock at the time); the range
    // covers it whatever the clock did since.
    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = (today.previous_day().unwrap(), today.next_day().unwrap());
    let path = format!("/accounts/{}/evidence?from={from}&to={to}", f.account);
    let report = env.client().get(&path, &env.admin()).await.ok(200);
    // An auditor checks the same evidence and gets the same verdicts.
    let auditor = env.token(e2e::Role::Auditor, "audit@example.com", Some("audit@example.com"));
    let audited = env.client().get(&path, &auditor).await.ok(200);
    assert_eq!(audited["objects"], report["objects"], "the auditor's report differs");
    assert_eq!(audited["digests"], report["digests"], "the auditor's report differs");
    report
}

fn status(report: &Value, key: &str) -> String {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == key)
        .map(|o| o["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{key} is not in the report: {report:#}"))
}

/// The system's captured log lines (JSON, as in Lambda) that raise `alarm` for `account`: the
/// digester's `digest-failed` and `log-tampered` errors name the broker's account id in their
/// `account` field (shared/src/services/evidence.rs), so one test's lines are told from
/// another's in the binary's shared capture.
fn alarms_for(alarm: &str, account: &str) -> Vec<Value> {
    e2e::captured_logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            // tracing's JSON lines keep the event's fields under `fields`.
            let fields = if line["fields"].is_object() {
                &line["fields"]
            } else {
                line
            };
            fields["alarm"] == alarm && fields["account"] == account
        })
        .collect()
}

async fn start(env: &TestEnv, f: &Fixture) -> String {
    let body = json!({ "account_id": f.account, "type": "jit", "role_arn": f.role, "duration_seconds": 900, "reason": "incident INC-42" });
    env.client().post("/sessions", &f.token, body).await.ok(201)["session"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn digests_vouch_for_untouched_logs_and_catch_each_tampering() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "evidence-a").await;
    let api = env.client();
    let (s1, s2) = (start(env, &f).await, start(env, &f).await);
    api.end_session(&f.token, &s1).await.ok(200);
    let (k1, k2) = (log_key(env, &f.account, &s1).await, log_key(env, &f.account, &s2).await);

    // Within the hour, nothing is digested yet: the logs are pending, and that is not a failure.
    env.run_expirer().await;
    let report = verify(env, &f).await;
    assert_eq!(
        (status(&report, &k1).as_str(), report["valid"].as_bool()),
        ("pending", Some(true))
    );

    env.clock.advance(Duration::from_secs(2 * 3600));
    env.run_expirer().await; // expires s2, then digests the hour
    let digests = keys_under(env, &format!("digests/{}/", f.account)).await;
    assert_eq!(digests.len(), 1, "{digests:?}");
    let report = verify(env, &f).await;
    assert_eq!(report["valid"], true, "{report:#}");
    assert_eq!(report["object_counts"], json!({ "valid": 2 }));
    assert_eq!(report["digest_counts"], json!({ "valid": 1 }));

    // The digest verifies offline: its SHA-256, the KMS public key, RSASSA-PKCS1-v1_5.
    let (body, metadata) = read(env, &digests[0]).await;
    let digest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(metadata["signing-algorithm"], "RSASSA_PKCS1_V1_5_SHA_256");
    assert_eq!(digest["objects"].as_array().unwrap().len(), 2);
    let kms = aws_sdk_kms::Client::new(&env.sdk(&env.broker).await);
    let evidence_key = env
        .config
        .evidence_key_id
        .clone()
        .expect("the local system signs digests");
    let der = kms
        .get_public_key()
        .key_id(&evidence_key)
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap();
    let public = rsa::RsaPublicKey::from_public_key_der(der.as_ref()).unwrap();
    let signature = shared::domain::evidence::unhex(&metadata["signature"]).unwrap();
    let scheme = || rsa::Pkcs1v15Sign::new::<Sha256>();
    assert!(
        public
            .verify(scheme(), &Sha256::digest(body.as_bytes()), &signature)
            .is_ok()
    );
    assert!(
        public
            .verify(scheme(), &Sha256::digest(b"another body"), &signature)
            .is_err()
    );

    // Edited, deleted, added: each reported.
    let (content, _) = read(env, &k1).await;
    write(env, &k1, content.replace("INC-42", "INC-43").into_bytes(), &[]).await;
    delete(env, &k2).await;
    let added = k1.replace(&s1, &shared::domain::SessionId::generate().to_string());
    write(
        env,
        &added,
        forged_log(&added, &["requested", "started"]).into_bytes(),
        &[],
    )
    .await;
    let report = verify(env, &f).await;
    assert_eq!(report["valid"], false);
    assert_eq!(status(&report, &k1), "modified");
    assert_eq!(status(&report, &k2), "missing");
    assert_eq!(status(&report, &added), "unlisted");

    // A digest re-signed with another key (to hide the deletion) is not trusted.
    let own = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let mut forged: Value = digest.clone();
    forged["objects"] = json!(
        digest["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["key"] != k2)
            .collect::<Vec<_>>()
    );
    let forged_body = serde_json::to_vec(&forged).unwrap();
    let own_hex = sign_as_kms_does(&kms, &own, &forged_body).await;
    write(
        env,
        &digests[0],
        forged_body,
        &[
            ("signature", &own_hex),
            ("signing-algorithm", "RSASSA_PKCS1_V1_5_SHA_256"),
        ],
    )
    .await;
    let report = verify(env, &f).await;
    assert_eq!(report["digests"][0]["status"], "invalid-signature", "{report:#}");
    assert_eq!(report["valid"], false);

    // Every digest deleted: the logs, older than the digester needs, are unlisted, not pending.
    delete(env, &digests[0]).await;
    let report = verify(env, &f).await;
    assert_eq!(
        (status(&report, &k1).as_str(), report["valid"].as_bool()),
        ("unlisted", Some(false))
    );
}

#[tokio::test]
async fn a_digest_refuses_logs_not_as_the_broker_wrote_them_and_kms_down_delays_it_without_a_gap() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "evidence-b").await;
    let api = env.client();
    let (honest, replaced) = (start(env, &f).await, start(env, &f).await);
    api.end_session(&f.token, &honest).await.ok(200);
    api.end_session(&f.token, &replaced).await.ok(200);
    let honest_key = log_key(env, &f.account, &honest).await;
    // Replaced whole by a log that chains perfectly, but not through the head the session's
    // record keeps; and a log no session owns.
    let replaced_key = log_key(env, &f.account, &replaced).await;
    write(
        env,
        &replaced_key,
        forged_log(&replaced_key, &["requested", "ended"]).into_bytes(),
        &[],
    )
    .await;
    let orphan = honest_key.replace(&honest, &shared::domain::SessionId::generate().to_string());
    write(env, &orphan, forged_log(&orphan, &["requested"]).into_bytes(), &[]).await;

    env.clock.advance(Duration::from_secs(2 * 3600));
    // KMS cannot sign: no digest, and the cursor stays, so the next run writes the same hour.
    env.calls.fail_every("kms:Sign", HttpFault::Unavailable);
    env.run_expirer().await;
    let signs_refused = env.calls.stop().iter().filter(|c| c.operation == "kms:Sign").count();
    // One Sign, this account's (the only one with writes since its cursor), refused once: an
    // unavailable call is not retried, and the account's digesting stops at its failure.
    assert_eq!(signs_refused, 1);
    assert!(keys_under(env, &format!("digests/{}/", f.account)).await.is_empty());
    // This account's digest failed, once (one run, one try per account), and said so as an
    // error with the alarm's name.
    let failed = alarms_for("digest-failed", &f.account);
    assert_eq!(failed.len(), 1, "one digest-failed for {}: {failed:#?}", f.account);
    assert_eq!(failed[0]["level"], "ERROR", "{:#}", failed[0]);

    env.run_expirer().await;
    let digests = keys_under(env, &format!("digests/{}/", f.account)).await;
    assert_eq!(digests.len(), 1, "{digests:?}");
    let (body, _) = read(env, &digests[0]).await;
    let digest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(digest["previous"], Value::Null, "the account's first digest");
    let refused: Vec<(&str, &str)> = digest["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert!(
        refused.contains(&(replaced_key.as_str(), "head-mismatch")),
        "{refused:?}"
    );
    assert!(refused.contains(&(orphan.as_str(), "no-session")), "{refused:?}");
    // Each log the digest refused raised `log-tampered` for this account, naming its key; and
    // the run that wrote the digest raised no further digest-failed.
    let tampered = alarms_for("log-tampered", &f.account);
    let mut keys: Vec<&str> = tampered
        .iter()
        .map(|line| {
            assert_eq!(line["level"], "ERROR", "{line:#}");
            let fields = if line["fields"].is_object() {
                &line["fields"]
            } else {
                line
            };
            fields["key"].as_str().unwrap_or_else(|| panic!("a key: {line:#}"))
        })
        .collect();
    keys.sort_unstable();
    let mut expected = vec![replaced_key.as_str(), orphan.as_str()];
    expected.sort_unstable();
    assert_eq!(keys, expected, "log-tampered for {}: {tampered:#?}", f.account);
    assert_eq!(alarms_for("digest-failed", &f.account).len(), 1);

    let report = verify(env, &f).await;
    assert_eq!(status(&report, &honest_key), "valid");
    assert_eq!(status(&report, &replaced_key), "modified");
    assert_eq!(status(&report, &orphan), "unlisted");
    assert_eq!(report["valid"], false);
}

/// Writes the digest of the hour before `hour` as the broker would have written it then (the
/// account's first, listing no log, signed with the evidence key through KMS) and records it in
/// the account's digest cursor as the broker does, so that the digester's next digest chains
/// from it. S3's clock stays on the wall clock, so the digester itself can only digest the
/// current hour: this is how a test gets a chain of two. Returns the digest's key.
async fn digest_of_the_hour_before(env: &TestEnv, f: &Fixture, hour: time::OffsetDateTime) -> String {
    use shared::domain::evidence;
    use shared::ports::DigestCursors as _;
    let period_start = hour - evidence::PERIOD;
    let digest = evidence::Digest {
        version: evidence::DIGEST_VERSION,
        account_id: f.account.clone(),
        period_start,
        period_end: hour,
        signed_at: hour,
        signing_key: env
            .config
            .evidence_key_id
            .clone()
            .expect("the local system signs digests"),
        signing_algorithm: evidence::SIGNING_ALGORITHM.into(),
        previous: None,
        objects: vec![],
        refused: vec![],
    };
    let body = serde_json::to_vec(&digest).unwrap();
    let kms = aws_sdk_kms::Client::new(&env.sdk(&env.broker).await);
    let signature = sign_as_kms_does(&kms, &digest.signing_key, &body).await;
    let key = evidence::digest_key(&f.account, period_start, hour);
    write(
        env,
        &key,
        body,
        &[
            (evidence::SIGNATURE_METADATA, &signature),
            (evidence::ALGORITHM_METADATA, evidence::SIGNING_ALGORITHM),
        ],
    )
    .await;
    let store = shared::adapters::aws::dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&env.sdk(&env.broker).await),
        env.config.table_name.clone(),
    );
    let cursor = shared::ports::DigestCursor {
        digested_until: hour,
        last: Some(evidence::DigestLink {
            key: key.clone(),
            signature,
        }),
    };
    let account = shared::domain::AccountId::parse(&f.account).unwrap();
    store
        .advance(&account, None, &cursor)
        .await
        .expect("the account's first digest cursor");
    key
}

#[tokio::test]
async fn the_newest_digest_deleted_with_the_logs_only_it_lists_is_a_truncated_chain() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "evidence-d").await;
    let api = env.client();
    // Before the session's writes, so that they fall in this hour or later.
    let hour = shared::domain::evidence::hour_of(time::OffsetDateTime::now_utc());
    let earlier = digest_of_the_hour_before(env, &f, hour).await;
    let s1 = start(env, &f).await;
    api.end_session(&f.token, &s1).await.ok(200);
    let k1 = log_key(env, &f.account, &s1).await;

    env.clock.advance(Duration::from_secs(2 * 3600));
    env.run_expirer().await;
    let digests = keys_under(env, &format!("digests/{}/", f.account)).await;
    assert_eq!(digests.len(), 2, "{digests:?}");
    assert_eq!(digests[0], earlier);
    let newest = digests[1].clone();
    let (body, _) = read(env, &newest).await;
    let digest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(digest["previous"]["key"], earlier.as_str(), "{digest:#}");
    let listed: Vec<String> = digest["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    assert!(listed.contains(&k1), "{listed:?}");
    let report = verify(env, &f).await;
    assert_eq!(report["valid"], true, "{report:#}");
    assert_eq!(report["digest_counts"], json!({ "valid": 2 }));

    // The newest digest deleted, with the logs only it lists: what is left of the chain links,
    // and no log is left to be unlisted. The broker's record of its newest digest says so.
    delete(env, &newest).await;
    for key in &listed {
        delete(env, key).await;
    }
    let report = verify(env, &f).await;
    assert_eq!(report["valid"], false, "{report:#}");
    assert_eq!(report["digest_counts"], json!({ "valid": 1, "truncated": 1 }));
    assert_eq!(report["object_counts"], json!({}));
    assert_eq!(report["digests"][0]["key"], earlier.as_str());
    let truncated = &report["digests"][1];
    assert_eq!(truncated["key"], newest.as_str(), "{report:#}");
    assert_eq!(truncated["status"], "truncated");
    let detail = truncated["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("truncated:") && detail.contains(&earlier),
        "names the newest digest left: {detail}"
    );
}

#[tokio::test]
async fn every_digest_and_log_of_an_account_deleted_is_a_truncated_chain() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "evidence-e").await;
    let api = env.client();
    let s1 = start(env, &f).await;
    api.end_session(&f.token, &s1).await.ok(200);

    env.clock.advance(Duration::from_secs(2 * 3600));
    env.run_expirer().await;
    let digests = keys_under(env, &format!("digests/{}/", f.account)).await;
    assert_eq!(digests.len(), 1, "{digests:?}");
    let logs = keys_under(env, &format!("sessions/{}/", f.account)).await;
    assert!(!logs.is_empty());
    let report = verify(env, &f).await;
    assert_eq!(report["valid"], true, "{report:#}");

    // Nothing of the account left in the bucket, so nothing there fails; the broker recorded a
    // digest all the same.
    for key in digests.iter().chain(&logs) {
        delete(env, key).await;
    }
    let report = verify(env, &f).await;
    assert_eq!(report["valid"], false, "{report:#}");
    assert_eq!(report["digest_counts"], json!({ "truncated": 1 }));
    assert_eq!(report["object_counts"], json!({}));
    assert_eq!(report["digests"][0]["key"], digests[0].as_str());
    assert_eq!(report["digests"][0]["status"], "truncated");
    let detail = report["digests"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("truncated:") && detail.contains("none of the account's digests"),
        "{detail}"
    );
}

#[tokio::test]
async fn bad_ranges_and_unknown_accounts_are_refused_clearly() {
    let env = env();
    // One at a time with the others: its 4xx answers would otherwise be counted in the
    // metrics test's exact sums.
    let _serial = env.serial().await;
    let f = fixture(env, "evidence-c").await;
    let api = env.client();
    let admin = env.admin();
    let path = |q: &str| format!("/accounts/{}/evidence?{q}", f.account);
    let p = api
        .get(&path("from=2026-11-24&to=2026-11-01"), &admin)
        .await
        .problem(422);
    assert!(p["type"].as_str().unwrap().ends_with("/invalid-range"), "{p}");
    api.get(&path("from=2026-01-01&to=2026-03-01"), &admin)
        .await
        .problem(422);
    api.get(&path("from=yesterday"), &admin).await.problem(400);
    api.get("/accounts/01JAAAAAAAAAAAAAAAAAAAAAAA/evidence", &admin)
        .await
        .problem(404);
    api.get(&path(""), &f.token).await.problem(403);
}

#[tokio::test]
async fn requests_and_expirer_runs_emit_their_metrics_in_embedded_metric_format() {
    let env = env();
    let _serial = env.serial().await;
    shared::metrics::capture();
    let f = fixture(env, "evidence-metrics").await;
    let api = env.client();
    let already = shared::metrics::captured().len();
    let ended = start(env, &f).await;
    api.end_session(&f.token, &ended).await.ok(200);
    let other_role = f.role.replace("OnCall-", "NotAllowed-");
    let refused = json!({ "account_id": f.account, "type": "jit", "role_arn": other_role, "duration_seconds": 900, "reason": "not on the list" });
    let p = api.post("/sessions", &f.token, refused).await.problem(422);
    assert!(p["type"].as_str().unwrap().ends_with("/role-not-allowed"), "{p}");
    let last = start(env, &f).await;
    let expires_at = api.get(&format!("/sessions/{last}"), &f.token).await.ok(200)["expires_at"]
        .as_str()
        .map(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).expect("RFC 3339"))
        .expect("the session's expires_at");
    let digests_before = keys_under(env, "digests/").await.len();
    env.clock.advance(Duration::from_secs(2 * 3600));
    // The broker's clock around the run: the run reads it once, between these two.
    let run_from = shared::ports::Clock::now(&*env.clock);
    env.run_expirer().await;
    let run_to = shared::ports::Clock::now(&*env.clock);
    let digests_written = keys_under(env, "digests/").await.len() - digests_before;
    assert!(
        !keys_under(env, &format!("digests/{}/", f.account)).await.is_empty(),
        "the run digested this account's hour"
    );

    let mut sums = std::collections::BTreeMap::<String, f64>::new();
    for line in &shared::metrics::captured()[already..] {
        let doc: Value = serde_json::from_str(line).expect("each line is one JSON document");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "CloudIamBroker");
        assert_eq!(directive["Dimensions"], json!([["Function"], []]));
        assert!(doc["_aws"]["Timestamp"].as_i64().is_some());
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            let value = doc[name]
                .as_f64()
                .unwrap_or_else(|| panic!("{name} has no value in {line}"));
            *sums.entry(name.to_string()).or_default() += value;
        }
    }
    let sum = |name: &str| sums.get(name).copied().unwrap_or_default();
    // Two starts (each `requested`, then `started`), one end, one refusal (the one 4xx), and
    // the expirer's run: the second session expired, nothing failed or was tampered with.
    for (name, n) in [
        ("SessionsRequested", 2.0),
        ("SessionsStarted", 2.0),
        ("SessionsEnded", 1.0),
        ("SessionsRefused", 1.0),
        ("SessionsExpired", 1.0),
        ("RevocationsFailed", 0.0),
        ("Api4xx", 1.0),
        ("Api5xx", 0.0),
        ("ExpirerErrors", 0.0),
        ("DigestFailures", 0.0),
        ("LogsTampered", 0.0),
    ] {
        assert_eq!(sum(name), n, "{name}: {sums:?}");
    }
    // One per digest the run put in the bucket: this account's hour (two, should its writes
    // have straddled an hour), and no other account's.
    assert_eq!(
        sum("DigestsWritten"),
        digests_written as f64,
        "DigestsWritten: {sums:?}"
    );
    // The session started last was due 15 minutes in; the expirer ran 1 h 45 min late: the
    // lag is the run's clock less that session's end (due time), in whole seconds. The wall
    // clock moved on since the start, so the exact second is the one the run read, between
    // `run_from` and `run_to`; 6300 s plus the seconds the test took from the start to the run.
    let (lag_from, lag_to) = (
        (run_from - expires_at).whole_seconds(),
        (run_to - expires_at).whole_seconds(),
    );
    assert!(lag_from >= 6300 && lag_to < 6300 + 60, "{lag_from}..={lag_to}");
    let lag = sum("ExpirerLag");
    assert!(
        (lag_from as f64..=lag_to as f64).contains(&lag),
        "ExpirerLag {lag} is not {lag_from}..={lag_to} s (1 h 45 min after the last session's end): {sums:?}"
    );
}

/// A digest body's signature as the digester makes it (RSASSA-PKCS1-v1_5 over its SHA-256, by
/// KMS with `key`), hex-encoded.
async fn sign_as_kms_does(kms: &aws_sdk_kms::Client, key: &str, body: &[u8]) -> String {
    let signature = kms
        .sign()
        .key_id(key)
        .message(aws_sdk_kms::primitives::Blob::new(Sha256::digest(body).to_vec()))
        .message_type(aws_sdk_kms::types::MessageType::Digest)
        .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
        .send()
        .await
        .unwrap()
        .signature
        .unwrap();
    shared::domain::evidence::hex(signature.as_ref())
}

/// Without an evidence key (`EVIDENCE_KEY_ID` unset) no digests are written and verification
/// answers `409 evidence-disabled` (docs/evidence.md). The local system always has the key, so
/// the same app is built here from the system's configuration without it, over the same local
/// AWS, and the sample verification event is handed to the accounts function's handler as its
/// Lambda would be invoked; the system, with the key, answers the same account 200 and digests
/// its hour.
#[tokio::test]
async fn without_an_evidence_key_verification_is_409_evidence_disabled_and_nothing_is_digested() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "evidence-off").await;
    let api = env.client();
    let s1 = start(env, &f).await;
    api.end_session(&f.token, &s1).await.ok(200);

    let mut config = env.config.clone();
    config.evidence_key_id = None;
    let sdk = env.sdk(&env.broker).await;
    let clock: Arc<dyn shared::ports::Clock> = env.clock.clone();
    let overrides = shared::app::Overrides {
        clock: Some(clock),
        ..Default::default()
    }
    .with_everything();
    let keyless = shared::App::on_aws(&config, &sdk, overrides).expect("the app builds without the key");

    let event = include_str!("../../events/accounts/verify-evidence.json")
        .replace("01ARZ3NDEKTSV4RRFFQ69G5FAV", &f.account)
        .replace("{{ADMIN_TOKEN}}", &env.admin());
    let request = lambda_http::request::from_str(&event).expect("the sample event parses");
    let app = keyless.clone();
    let response = env
        .on_system(async move { accounts::handle(&app, request).await })
        .await;
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    assert_eq!(response.status().as_u16(), 409, "{body}");
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{body}"
    );
    let problem: Value = serde_json::from_str(&body).expect("a problem");
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/evidence-disabled")),
        "{problem}"
    );
    // The system, with the key, verifies the same account.
    assert_eq!(verify(env, &f).await["valid"], true);

    // An hour gone by: the keyless digester writes nothing, the system's digests the hour.
    env.clock.advance(Duration::from_secs(2 * 3600));
    let run = env.on_system(async move { keyless.evidence.write_due().await }).await;
    assert_eq!((run.written, run.failed, run.refused), (0, 0, 0), "{run:?}");
    assert!(
        keys_under(env, &format!("digests/{}/", f.account)).await.is_empty(),
        "no digest without the key"
    );
    env.run_expirer().await;
    assert!(
        !keys_under(env, &format!("digests/{}/", f.account)).await.is_empty(),
        "the system's run digests the hour"
    );
}
