//! Digest runs that find an object already at the key of the hour they digest. Another run's
//! digest of that hour (two runs racing) is adopted, so the account keeps one chain; anything
//! else there (written by whoever can write to the bucket) is neither adopted nor passed over:
//! the account's run fails, says so, and its cursor stays before the hour (docs/evidence.md).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{TestEnv, env, fixture};
use serde_json::{Value, json};
use shared::ports::{ArchivedObject, LogArchive, LogError, StoredObject};
use shared::services::evidence::EvidenceService;
use tokio::sync::oneshot;

use super::{
    alarms_for, delete, digest_of_the_hour_before, keys_under, log_key, read, sign_as_kms_does, start, status, verify,
    write,
};

/// The session-log bucket as a digester sees it, with the first digest write under `prefix`
/// held until the test lets it go: a test can then run two digesters at once in the order that
/// tries the chain the most.
struct HeldDigestWrite {
    inner: Arc<dyn LogArchive>,
    prefix: String,
    held: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

impl HeldDigestWrite {
    /// The bucket, its next write under `prefix` held; the receiver says the write was reached,
    /// the sender lets it go on.
    fn holding(
        inner: Arc<dyn LogArchive>,
        prefix: String,
    ) -> (Arc<HeldDigestWrite>, oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel();
        let archive = HeldDigestWrite {
            inner,
            prefix,
            held: Mutex::new(Some((reached_tx, go_rx))),
        };
        (Arc::new(archive), reached_rx, go_tx)
    }
}

#[async_trait::async_trait]
impl LogArchive for HeldDigestWrite {
    async fn list(&self, prefix: &str) -> Result<Vec<ArchivedObject>, LogError> {
        self.inner.list(prefix).await
    }

    async fn fetch(&self, key: &str) -> Result<Option<StoredObject>, LogError> {
        self.inner.fetch(key).await
    }

    async fn put_new(&self, key: &str, body: Vec<u8>, metadata: &[(&str, &str)]) -> Result<bool, LogError> {
        if key.starts_with(&self.prefix) {
            let held = self.held.lock().unwrap().take();
            if let Some((reached, go)) = held {
                reached.send(()).ok();
                go.await.ok();
            }
        }
        self.inner.put_new(key, body, metadata).await
    }
}

/// A digester over the system's table, evidence key and clock, as another expirer run's is,
/// reading and writing the bucket through `archive`.
fn digester(env: &TestEnv, sdk: &aws_config::SdkConfig, archive: Arc<dyn LogArchive>) -> EvidenceService {
    let store = Arc::new(shared::adapters::aws::dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        env.config.table_name.clone(),
    ));
    let key = env
        .config
        .evidence_key_id
        .clone()
        .expect("the local system signs digests");
    EvidenceService::new(
        store.clone(),
        store.clone(),
        archive,
        Some(shared::adapters::aws::kms::evidence_key(sdk, &key)),
        store,
        env.clock.clone(),
    )
}

/// Two digest runs racing for one account's cursor leave one chain (docs/evidence.md: "The move
/// is a conditional write, so two runs cannot both extend the chain from the same digest"). The
/// order that tries it the most, made deterministic: a second digester has read the cursor and
/// signed the hour, and is held just before writing its digest, while the expirer's run digests
/// the same hour and moves the cursor; then the held write goes on. Afterwards each digest in the
/// bucket names the one before it with that digest's signature there, the cursor records the
/// newest digest with the signature the bucket holds for it (the next digest names the cursor's
/// signature as `previous`: any other in the bucket would break the chain there, a fork), one
/// digest lists the session's log, and the chain verifies.
#[tokio::test]
async fn two_digest_runs_racing_for_the_cursor_leave_one_chain() {
    use shared::ports::DigestCursors as _;
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "evidence-race").await;
    let api = env.client();
    // Before the session's writes, so that they fall in this hour or later.
    let hour = shared::domain::evidence::hour_of(time::OffsetDateTime::now_utc());
    let earlier = digest_of_the_hour_before(env, &f, hour).await;
    let s1 = start(env, &f).await;
    api.end_session(&f.token, &s1).await.ok(200);
    let k1 = log_key(env, &f.account, &s1).await;
    env.clock.advance(Duration::from_secs(2 * 3600));

    // The second digester, its first write of this account's digests held.
    let sdk = env.sdk(&env.broker).await;
    let (_, bucket) = shared::adapters::aws::s3_log::bucket(&sdk, &env.config.session_log_bucket);
    let (held, reached, go) = HeldDigestWrite::holding(bucket, format!("digests/{}/", f.account));
    let second = digester(env, &sdk, held);
    let second_run = tokio::spawn(env.on_system(async move { second.write_due().await }));
    tokio::time::timeout(Duration::from_secs(60), reached)
        .await
        .expect("the second digester reached its write")
        .expect("the held write reports");
    // Meanwhile the expirer's run digests the same hour and moves the cursor.
    env.run_expirer().await;
    go.send(()).ok();
    let second_run = tokio::time::timeout(Duration::from_secs(60), second_run)
        .await
        .expect("the second digester finishes")
        .expect("the second digester does not panic");

    let digests = keys_under(env, &format!("digests/{}/", f.account)).await;
    assert!(digests.len() >= 2, "{digests:?}");
    assert_eq!(digests[0], earlier);
    // One chain in the bucket: each digest names the one before it with its signature there.
    let mut previous: Option<(String, String)> = None;
    let mut listing_k1 = Vec::new();
    for key in &digests {
        let (body, metadata) = read(env, key).await;
        let digest: Value = serde_json::from_str(&body).unwrap();
        match &previous {
            None => assert_eq!(digest["previous"], Value::Null, "{key}: {digest:#}"),
            Some((before, signature)) => {
                assert_eq!(digest["previous"]["key"], before.as_str(), "{key}: {digest:#}");
                assert_eq!(
                    digest["previous"]["signature"],
                    signature.as_str(),
                    "{key} names another signature than the bucket holds for {before}: the chain forked"
                );
            }
        }
        if digest["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["key"] == k1.as_str())
        {
            listing_k1.push(key.clone());
        }
        previous = Some((key.clone(), metadata["signature"].clone()));
    }
    assert_eq!(listing_k1.len(), 1, "one digest for the log's hour: {listing_k1:?}");
    // The cursor records the newest digest as the bucket holds it.
    let (newest, newest_signature) = previous.expect("digests");
    let store = shared::adapters::aws::dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        env.config.table_name.clone(),
    );
    let account = shared::domain::AccountId::parse(&f.account).unwrap();
    let recorded = store
        .cursor(&account)
        .await
        .expect("the cursor reads")
        .and_then(|c| c.last)
        .expect("the account's newest digest is recorded");
    assert_eq!(recorded.key, newest, "the second run: {second_run:?}");
    assert_eq!(
        recorded.signature, newest_signature,
        "the cursor records {newest} with a signature the bucket no longer holds (the held run \
         overwrote the digest after the expirer's run moved the cursor): the next digest would \
         name the recorded one and break the chain at the bucket's; second run: {second_run:?}"
    );
    let report = verify(env, &f).await;
    assert_eq!(report["valid"], true, "{report:#}");
    assert_eq!(report["digest_counts"], json!({ "valid": digests.len() }));
    assert_eq!(status(&report, &k1), "valid");
}

/// A digest run that finds, at the key of the hour it digests, an object that is not this
/// broker's digest of that hour (someone with write access to the bucket put it there) neither
/// adopts it nor passes over it: the account's run fails (`digest-failed`, DigestFailuresAlarm),
/// the account's cursor does not move, and the object stays as found. First a digest of the
/// hour chained as the broker would chain it but signed with another key (adopted before, the
/// cursor then naming it), then an object that is no digest at all (passed over in silence
/// before). Once the object is removed, the next run digests the hour.
#[tokio::test]
async fn an_object_not_ours_at_the_next_digest_key_fails_the_run_and_keeps_the_cursor() {
    use shared::domain::evidence;
    use shared::ports::DigestCursors as _;
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "evidence-foreign").await;
    let api = env.client();
    let s1 = start(env, &f).await;
    api.end_session(&f.token, &s1).await.ok(200);

    // The hour the digester digests first: the earliest of the account's log writes.
    let sdk = env.sdk(&env.broker).await;
    let (_, bucket) = shared::adapters::aws::s3_log::bucket(&sdk, &env.config.session_log_bucket);
    let hour = bucket
        .list(&evidence::log_prefix(&f.account))
        .await
        .expect("the bucket lists")
        .iter()
        .map(|o| evidence::hour_of(o.last_modified))
        .min()
        .expect("the session has a log");
    let key = evidence::digest_key(&f.account, hour, hour + evidence::PERIOD);
    let store = shared::adapters::aws::dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        env.config.table_name.clone(),
    );
    let account = shared::domain::AccountId::parse(&f.account).unwrap();
    let cursor_before = store.cursor(&account).await.expect("the cursor reads");

    // A digest of that hour, chained from where the account's cursor is, claiming the evidence
    // key, but signed with another KMS key.
    let kms = aws_sdk_kms::Client::new(&sdk);
    let other_key = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let digest = evidence::Digest {
        version: evidence::DIGEST_VERSION,
        account_id: f.account.clone(),
        period_start: hour,
        period_end: hour + evidence::PERIOD,
        signed_at: hour + evidence::PERIOD,
        signing_key: env
            .config
            .evidence_key_id
            .clone()
            .expect("the local system signs digests"),
        signing_algorithm: evidence::SIGNING_ALGORITHM.into(),
        previous: cursor_before.as_ref().and_then(|c| c.last.clone()),
        objects: vec![],
        refused: vec![],
    };
    let body = serde_json::to_vec(&digest).unwrap();
    let signature = sign_as_kms_does(&kms, &other_key, &body).await;
    write(
        env,
        &key,
        body.clone(),
        &[
            (evidence::SIGNATURE_METADATA, &signature),
            (evidence::ALGORITHM_METADATA, evidence::SIGNING_ALGORITHM),
        ],
    )
    .await;

    env.clock.advance(Duration::from_secs(2 * 3600));
    // The digest-failed lines for this account naming the key and `why`.
    let failures = |why: &str| {
        alarms_for("digest-failed", &f.account)
            .iter()
            .filter(|line| {
                assert_eq!(line["level"], "ERROR", "{line:#}");
                let text = line.to_string();
                text.contains(&key) && text.contains(why)
            })
            .count()
    };
    let app = env.app.clone();
    let run = env.on_system(async move { app.evidence.write_due().await }).await;
    assert!(run.failed >= 1, "{run:?}");
    assert_eq!(failures("not signed with the evidence key"), 1);
    assert_eq!(
        store.cursor(&account).await.expect("the cursor reads"),
        cursor_before,
        "the cursor moved past a digest the evidence key did not sign"
    );
    assert_eq!(read(env, &key).await.0, String::from_utf8(body).unwrap());
    assert_eq!(
        keys_under(env, &format!("digests/{}/", f.account)).await,
        std::slice::from_ref(&key)
    );

    // Not a digest at all: the same, where the run used to pass over it without a word.
    write(env, &key, b"not a digest".to_vec(), &[]).await;
    let app = env.app.clone();
    let run = env.on_system(async move { app.evidence.write_due().await }).await;
    assert!(run.failed >= 1, "{run:?}");
    assert_eq!(failures("not a digest"), 1);
    assert_eq!(store.cursor(&account).await.expect("the cursor reads"), cursor_before);
    assert_eq!(read(env, &key).await.0, "not a digest");

    // Once the object is gone (a delete marker: the bucket keeps its versions), the next run
    // digests the hour, and the cursor names the broker's digest; the chain verifies.
    delete(env, &key).await;
    let app = env.app.clone();
    env.on_system(async move { app.evidence.write_due().await }).await;
    let (body, metadata) = read(env, &key).await;
    assert_ne!(body, "not a digest");
    let recorded = store
        .cursor(&account)
        .await
        .expect("the cursor reads")
        .and_then(|c| c.last)
        .expect("the account's digest is recorded");
    assert_eq!(
        (recorded.key.as_str(), recorded.signature.as_str()),
        (key.as_str(), metadata["signature"].as_str())
    );
    assert_eq!(failures("not a digest"), 1, "no further failure");
    assert_eq!(verify(env, &f).await["valid"], true);
}
