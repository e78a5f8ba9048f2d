//! The digest format and the verifier, on hand-made logs and digests (a stand-in signature:
//! the real RSA one is checked end to end in tests/e2e/evidence.rs).

use super::*;
use time::macros::{date, datetime};

#[test]
fn keys_sort_as_periods_run_and_give_back_their_parts() {
    let a = digest_key("acc1", datetime!(2026-11-24 09:00 UTC), datetime!(2026-11-24 10:00 UTC));
    let b = digest_key("acc1", datetime!(2026-11-24 10:00 UTC), datetime!(2026-11-24 11:00 UTC));
    assert_eq!(a, "digests/acc1/20261124T090000Z_20261124T100000Z.json");
    assert!(a < b);
    assert_eq!(period_end_of(&b), Some(datetime!(2026-11-24 11:00 UTC)));
    assert_eq!(period_end_of("digests/acc1/junk.json"), None);
    let (day, session) = log_key_parts("acc1", "sessions/acc1/2026-11-24/S1.jsonl").unwrap();
    assert_eq!((day, session), (time::macros::date!(2026 - 11 - 24), "S1"));
    assert!(log_key_parts("acc2", "sessions/acc1/2026-11-24/S1.jsonl").is_none());
    assert_eq!(
        hour_of(datetime!(2026-11-24 09:59:59.9 UTC)),
        datetime!(2026-11-24 09:00 UTC)
    );
    assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
    assert_eq!(unhex("0g"), None);
}

const ACCOUNT: &str = "acc1";

fn log(key: &str, events: &[&str]) -> String {
    let mut head = crate::domain::log_chain::genesis(key);
    let mut out = String::new();
    for e in events {
        let (line, hash) = crate::domain::log_chain::chain(serde_json::json!({ "type": e }), &head);
        out.push_str(&line);
        out.push('\n');
        head = hash;
    }
    out
}

fn entry(key: &str, content: &str) -> DigestedObject {
    let heads = crate::domain::log_chain::heads(key, content).unwrap();
    DigestedObject {
        key: key.into(),
        sha256: crate::domain::log_chain::sha256_hex(content.as_bytes()),
        head: heads.last().unwrap().clone(),
        lines: heads.len(),
    }
}

/// The stand-in signature: the body's hash under a named key.
fn sign(signer: &str, body: &[u8]) -> String {
    crate::domain::log_chain::sha256_hex(&[signer.as_bytes(), body].concat())
}

fn check(body: &[u8], signature: &[u8]) -> bool {
    hex(signature) == sign("broker", body)
}

fn digest(
    hour: u8,
    previous: Option<&DigestFile>,
    objects: Vec<DigestedObject>,
    refused: Vec<RefusedObject>,
) -> DigestFile {
    let start = datetime!(2026-11-24 00:00 UTC) + Duration::hours(hour.into());
    let d = Digest {
        version: DIGEST_VERSION,
        account_id: ACCOUNT.into(),
        period_start: start,
        period_end: start + PERIOD,
        signed_at: start + PERIOD,
        signing_key: "k".into(),
        signing_algorithm: SIGNING_ALGORITHM.into(),
        previous: previous.map(|p| DigestLink {
            key: p.key.clone(),
            signature: p.signature.clone().unwrap(),
        }),
        objects,
        refused,
    };
    let body = serde_json::to_vec(&d).unwrap();
    DigestFile {
        key: digest_key(ACCOUNT, d.period_start, d.period_end),
        signature: Some(sign("broker", &body)),
        body,
    }
}

fn object(key: &str, content: &str, hour: u8) -> LogObject {
    LogObject {
        key: key.into(),
        content: content.as_bytes().to_vec(),
        last_modified: datetime!(2026-11-24 00:30 UTC) + Duration::hours(hour.into()),
    }
}

const SCOPE: Scope<'static> = Scope {
    account_id: ACCOUNT,
    from: date!(2026 - 11 - 24),
    to: date!(2026 - 11 - 24),
    now: datetime!(2026-11-24 04:00 UTC),
};

const A: &str = "sessions/acc1/2026-11-24/A.jsonl";
const B: &str = "sessions/acc1/2026-11-24/B.jsonl";
const C: &str = "sessions/acc1/2026-11-24/C.jsonl";

/// A and B written in hour 1, B appended to and C written in hour 2.
fn world() -> (Vec<DigestFile>, Vec<LogObject>) {
    let a = log(A, &["requested", "started"]);
    let b1 = log(B, &["requested"]);
    let b2 = log(B, &["requested", "started", "ended"]);
    let c = log(C, &["requested"]);
    let d1 = digest(1, None, vec![entry(A, &a), entry(B, &b1)], vec![]);
    let d2 = digest(2, Some(&d1), vec![entry(B, &b2), entry(C, &c)], vec![]);
    let objects = vec![object(A, &a, 1), object(B, &b2, 2), object(C, &c, 2)];
    (vec![d1, d2], objects)
}

fn status_of(report: &Report, key: &str) -> &'static str {
    report
        .objects
        .iter()
        .find(|o| o.key == key)
        .map(|o| o.status.name())
        .unwrap_or("absent")
}

#[test]
fn untouched_logs_and_digests_verify() {
    let (digests, objects) = world();
    let report = verify(SCOPE, None, &digests, &objects, &check);
    assert!(report.valid, "{report:#?}");
    assert_eq!(report.object_counts.get("valid"), Some(&3));
    assert_eq!(report.digest_counts.get("valid"), Some(&2));
}

#[test]
fn an_edited_a_deleted_and_an_added_object_are_each_reported() {
    let (digests, mut objects) = world();
    objects[0].content = log(A, &["requested", "startee"]).into_bytes();
    objects.retain(|o| o.key != C);
    let added = "sessions/acc1/2026-11-24/X.jsonl";
    objects.push(object(added, &log(added, &["requested"]), 1));
    let late = "sessions/acc1/2026-11-24/Y.jsonl";
    objects.push(object(late, &log(late, &["requested"]), 3));
    let report = verify(SCOPE, None, &digests, &objects, &check);
    let later = Scope {
        now: datetime!(2026-11-24 06:00 UTC),
        ..SCOPE
    };
    assert_eq!(
        status_of(&verify(later, None, &digests, &objects, &check), late),
        "unlisted",
        "the digester has had its time"
    );
    assert!(!report.valid);
    assert_eq!(status_of(&report, A), "modified");
    assert_eq!(status_of(&report, B), "valid");
    assert_eq!(status_of(&report, C), "missing");
    assert_eq!(status_of(&report, added), "unlisted");
    assert_eq!(status_of(&report, late), "pending", "written after the newest digest");
}

#[test]
fn a_log_replaced_by_a_valid_chain_of_its_own_is_modified_and_an_honest_append_is_pending() {
    let (digests, mut objects) = world();
    objects[1].content = log(B, &["requested", "ended"]).into_bytes();
    objects[1].last_modified = datetime!(2026-11-24 03:10 UTC);
    assert_eq!(
        status_of(&verify(SCOPE, None, &digests, &objects, &check), B),
        "modified"
    );
    objects[1].content = log(B, &["requested", "started", "ended", "activity"]).into_bytes();
    assert_eq!(
        status_of(&verify(SCOPE, None, &digests, &objects, &check), B),
        "pending"
    );
    objects[1].last_modified = datetime!(2026-11-24 02:10 UTC);
    assert_eq!(
        status_of(&verify(SCOPE, None, &digests, &objects, &check), B),
        "modified",
        "changed within a period a digest already covers"
    );
}

#[test]
fn a_log_rewritten_whole_and_vouched_for_again_is_caught_by_the_earlier_digest() {
    let (mut digests, mut objects) = world();
    // B rewritten (with its session record) after digest 1, then digest 3 vouches for it.
    let rewritten = log(B, &["requested", "approved"]);
    let d3 = digest(3, Some(&digests[1]), vec![entry(B, &rewritten)], vec![]);
    digests.push(d3);
    objects[1].content = rewritten.into_bytes();
    let report = verify(SCOPE, None, &digests, &objects, &check);
    assert_eq!(status_of(&report, B), "modified", "{report:#?}");
    assert_eq!(status_of(&report, A), "valid");
}

#[test]
fn a_digest_signed_with_another_key_is_not_trusted() {
    let (mut digests, objects) = world();
    digests[1].signature = Some(sign("intruder", &digests[1].body));
    let report = verify(SCOPE, None, &digests, &objects, &check);
    assert_eq!(report.digests[1].status, DigestStatus::InvalidSignature);
    assert!(!report.valid);
    let mut unsigned = world().0;
    unsigned[0].signature = None;
    assert_eq!(
        verify(SCOPE, None, &unsigned, &objects, &check).digests[0].status,
        DigestStatus::InvalidSignature
    );
}

#[test]
fn a_missing_digest_breaks_the_chain_and_a_digest_filed_elsewhere_is_unreadable() {
    let (digests, objects) = world();
    let d3 = digest(3, Some(&digests[1]), vec![], vec![]);
    let report = verify(SCOPE, None, &[digests[0].clone(), d3.clone()], &objects, &check);
    assert_eq!(report.digests[1].status, DigestStatus::BrokenLink, "{report:#?}");
    assert!(!report.valid);
    let report = verify(
        SCOPE,
        Some(&digests[0]),
        &[digests[1].clone(), d3.clone()],
        &objects,
        &check,
    );
    assert!(
        report.digests.iter().all(|d| d.status == DigestStatus::Valid),
        "the range starts mid-chain"
    );
    let soon = Scope {
        now: datetime!(2026-11-24 03:00 UTC),
        ..SCOPE
    };
    let none_left = verify(soon, None, &[], &objects, &check);
    assert!(none_left.valid, "written within the last two hours: pending");
    let much_later = Scope {
        now: datetime!(2026-11-24 09:00 UTC),
        ..SCOPE
    };
    let none_left = verify(much_later, None, &[], &objects, &check);
    assert!(!none_left.valid, "every digest deleted: old logs are unlisted");
    assert_eq!(status_of(&none_left, A), "unlisted");
    let mut moved = d3;
    moved.key = "digests/acc1/20261124T050000Z_20261124T060000Z.json".into();
    let report = verify(
        SCOPE,
        None,
        &[digests[0].clone(), digests[1].clone(), moved],
        &objects,
        &check,
    );
    assert_eq!(report.digests[2].status, DigestStatus::Unreadable);
}

#[test]
fn objects_a_digest_refused_are_reported_as_it_saw_them() {
    let a = log(A, &["requested"]);
    let d1 = digest(
        1,
        None,
        vec![],
        vec![
            RefusedObject {
                key: A.into(),
                reason: Refusal::ChainBroken,
            },
            RefusedObject {
                key: B.into(),
                reason: Refusal::NoSession,
            },
        ],
    );
    let objects = vec![object(A, &a, 1), object(B, &log(B, &["requested"]), 1)];
    let report = verify(SCOPE, None, &[d1], &objects, &check);
    assert_eq!(status_of(&report, A), "modified");
    assert_eq!(status_of(&report, B), "unlisted");
}

#[test]
fn a_chain_that_ends_before_the_digest_the_broker_recorded_is_truncated() {
    let (digests, objects) = world();
    let keys: Vec<String> = digests.iter().map(|d| d.key.clone()).collect();
    let newest = keys[1].as_str();
    assert!(
        check_chain_end(Some(newest), &keys).is_none(),
        "the chain reaches the record"
    );
    assert!(check_chain_end(None, &keys).is_none(), "the broker recorded no digest");
    let next = digest(3, Some(&digests[1]), vec![], vec![]);
    assert!(
        check_chain_end(Some(newest), &[keys.clone(), vec![next.key.clone()]].concat()).is_none(),
        "a digest written before the cursor moved to it"
    );

    // The newest digest deleted, with the log only it lists: what is left verifies, since B's
    // appended lines are recent enough to be pending. Only the broker's record tells.
    let left: Vec<LogObject> = objects.iter().filter(|o| o.key != C).cloned().collect();
    let report = verify(SCOPE, None, &digests[..1], &left, &check);
    assert!(report.valid, "the bucket alone cannot tell: {report:#?}");
    let end = check_chain_end(Some(newest), &keys[..1]).expect("cut short");
    assert_eq!((end.key.as_str(), end.status), (newest, DigestStatus::Truncated));
    let detail = end.detail.clone().unwrap();
    assert!(
        detail.starts_with("truncated:") && detail.contains(&keys[0]),
        "names the newest left: {detail}"
    );
    let report = report.with_digest_check(end);
    assert!(!report.valid);
    assert_eq!(report.digest_counts.get("truncated"), Some(&1));
    assert_eq!(report.digest_counts.get("valid"), Some(&1));
    assert_eq!(report.digests.last().map(|d| d.key.as_str()), Some(newest));

    // Every digest and every log of the account deleted: nothing in the bucket fails.
    let report = verify(SCOPE, None, &[], &[], &check);
    assert!(report.valid, "{report:#?}");
    let end = check_chain_end(Some(newest), &[]).expect("cut short");
    assert!(end.detail.as_deref().unwrap().contains("none of the account's digests"));
    let report = report.with_digest_check(end);
    assert!(!report.valid);
    assert_eq!(report.digest_counts.get("truncated"), Some(&1));

    // The recorded digest gone, a later one there (whose link to it is broken too): still named.
    let gap = check_chain_end(Some(newest), &[keys[0].clone(), next.key.clone()]).expect("not there");
    assert_eq!(gap.status, DigestStatus::Truncated);
    assert!(gap.detail.as_deref().unwrap().contains(&next.key));
}
