//! Verification of an account's session logs against its signed digests, from what S3 holds
//! and the public key alone: every digest's signature and link to the one before it, then every
//! log object of the range against the newest trustworthy digest that lists it. What the bucket
//! alone cannot show, a chain cut short at its end (its newest digests deleted, with the logs
//! only they list), `check_chain_end` shows against the newest digest the broker recorded.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::{Date, OffsetDateTime};

use super::{Digest, DigestedObject, Refusal, log_key_parts, period_end_of, unhex};
use crate::domain::log_chain;

/// A digest object as read from S3.
#[derive(Debug, Clone)]
pub struct DigestFile {
    pub key: String,
    pub body: Vec<u8>,
    /// The `signature` metadata (hex), if the object has one.
    pub signature: Option<String>,
}

/// A session-log object as read from S3.
#[derive(Debug, Clone)]
pub struct LogObject {
    pub key: String,
    pub content: Vec<u8>,
    pub last_modified: OffsetDateTime,
}

/// Whose logs, which days of them (by the day in their keys, inclusive), and when the check
/// is made.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub account_id: &'a str,
    pub from: Date,
    pub to: Date,
    pub now: OffsetDateTime,
}

impl Scope<'_> {
    fn covers(&self, key: &str) -> bool {
        log_key_parts(self.account_id, key).is_some_and(|(day, _)| self.from <= day && day <= self.to)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestStatus {
    Valid,
    /// Not signed by the broker's key (or not signed at all): nothing it lists is trusted.
    InvalidSignature,
    /// Not a digest of this account, or not filed under its own period.
    Unreadable,
    /// Signed, but the digest it names as its predecessor is not the one before it: a digest
    /// was deleted or replaced.
    BrokenLink,
    /// The newest digest the broker recorded for the account (its digest cursor), not in the
    /// bucket: the chain there ends before it (its newest digests, or all of them, deleted).
    Truncated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectStatus {
    Valid,
    /// Differs from what its newest digest lists (or that digest refused it).
    Modified,
    /// Listed by a digest, gone from S3.
    Missing,
    /// In S3, listed by no digest though one should list it by now.
    Unlisted,
    /// Written after the newest digest, within the time the digester takes (`DIGEST_DUE`); it
    /// chains on from what digests list, if any.
    Pending,
}

#[derive(Debug, Clone, Serialize)]
pub struct DigestCheck {
    pub key: String,
    pub status: DigestStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectCheck {
    pub key: String,
    pub status: ObjectStatus,
    /// The digest it was checked against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No digest and no object failed (pending objects do not fail).
    pub valid: bool,
    /// Counts by status, digests and objects apart.
    pub digest_counts: BTreeMap<&'static str, usize>,
    pub object_counts: BTreeMap<&'static str, usize>,
    pub digests: Vec<DigestCheck>,
    pub objects: Vec<ObjectCheck>,
}

impl Report {
    /// The report with `check` added to its digests (a check made outside `verify`: the end of
    /// the chain against the broker's record, `check_chain_end`), counts and verdict redone.
    pub fn with_digest_check(self, check: DigestCheck) -> Report {
        let mut digests = self.digests;
        digests.push(check);
        report(digests, self.objects)
    }
}

/// The end of the chain in the bucket against the newest digest the broker recorded for the
/// account (`recorded`, the key its digest cursor keeps): a `truncated` check naming that
/// digest when it is not among `in_bucket` (the account's digest keys in the bucket, in key
/// order, so in chain order), and `None` when it is there or the broker recorded none. A digest
/// after it is no truncation (one is written before the cursor moves). The bucket alone cannot
/// tell a chain cut short at its end from one that ends there: this needs the broker's record.
pub fn check_chain_end(recorded: Option<&str>, in_bucket: &[String]) -> Option<DigestCheck> {
    let recorded = recorded?;
    if in_bucket.iter().any(|k| k == recorded) {
        return None;
    }
    let detail = match in_bucket.last() {
        None => "truncated: the broker recorded this digest as the account's newest, but the bucket holds \
                 none of the account's digests (the whole chain was deleted)"
            .to_string(),
        Some(newest) if newest.as_str() < recorded => format!(
            "truncated: the broker recorded this digest as the account's newest, but the newest in the \
             bucket is {newest} (the digests after it were deleted)"
        ),
        Some(newest) => format!(
            "the broker recorded this digest as the account's newest, but it is not in the bucket \
             (whose newest is {newest})"
        ),
    };
    Some(DigestCheck {
        key: recorded.to_string(),
        status: DigestStatus::Truncated,
        detail: Some(detail),
    })
}

enum Listing<'a> {
    Vouched(&'a DigestedObject),
    Refused(Refusal),
}

/// Checks `digests` (the account's, in key order, from the first whose period ends after the
/// range starts) chained from `predecessor` (the digest before them, if any), and the range's
/// log `objects` (all of them, as listed in S3) against them. `check_signature(body, signature)`
/// verifies with the public key.
pub fn verify(
    scope: Scope<'_>,
    predecessor: Option<&DigestFile>,
    digests: &[DigestFile],
    objects: &[LogObject],
    check_signature: &dyn Fn(&[u8], &[u8]) -> bool,
) -> Report {
    let mut checks = Vec::new();
    let mut trusted: Vec<(&str, Digest)> = Vec::new();
    let mut before = predecessor;
    for file in digests {
        let (status, detail, parsed) = check_digest(scope.account_id, file, before, check_signature);
        checks.push(DigestCheck {
            key: file.key.clone(),
            status,
            detail,
        });
        if let Some(digest) = parsed.filter(|_| matches!(status, DigestStatus::Valid | DigestStatus::BrokenLink)) {
            trusted.push((&file.key, digest));
        }
        before = Some(file);
    }

    // The newest trustworthy listing of each key in range, and every state digests vouched for
    // (a log only grows, so each of them must still be a prefix of it).
    let mut listings: BTreeMap<&str, (&str, Listing<'_>)> = BTreeMap::new();
    let mut vouched: BTreeMap<&str, Vec<(&str, &DigestedObject)>> = BTreeMap::new();
    for (key, digest) in &trusted {
        for o in digest.objects.iter().filter(|o| scope.covers(&o.key)) {
            listings.insert(&o.key, (key, Listing::Vouched(o)));
            vouched.entry(&o.key).or_default().push((key, o));
        }
        for r in digest.refused.iter().filter(|r| scope.covers(&r.key)) {
            listings.insert(&r.key, (key, Listing::Refused(r.reason)));
        }
    }
    let covered_until = trusted.iter().map(|(_, d)| d.period_end).max();

    let mut results = Vec::new();
    let mut present = BTreeSet::new();
    for object in objects.iter().filter(|o| scope.covers(&o.key)) {
        present.insert(object.key.as_str());
        // Not yet digested is believable only for a write the digester has not had time for:
        // deleting the newest digests (or all of them) does not make old logs pending.
        let after_digests = covered_until.is_none_or(|end| object.last_modified >= end)
            && scope.now - object.last_modified < super::DIGEST_DUE;
        let (status, digest, detail) = match listings.get(object.key.as_str()) {
            Some((digest, Listing::Vouched(expected))) => {
                let (status, detail) = check_object(object, expected, after_digests);
                let earlier = vouched[object.key.as_str()]
                    .iter()
                    .find(|(_, state)| !extends(object, state));
                match earlier {
                    // Rewritten whole (with its record) and vouched for again since: the
                    // earlier digest still tells.
                    Some((first, _)) if status != ObjectStatus::Modified => (
                        ObjectStatus::Modified,
                        Some(first.to_string()),
                        Some("it no longer begins with what an earlier digest listed".into()),
                    ),
                    _ => (status, Some(digest.to_string()), detail),
                }
            }
            Some((digest, Listing::Refused(why))) => {
                let status = match why {
                    Refusal::NoSession => ObjectStatus::Unlisted,
                    _ => ObjectStatus::Modified,
                };
                let detail = format!("the digest refused it: {}", why.describe());
                (status, Some(digest.to_string()), Some(detail))
            }
            None if after_digests => (
                ObjectStatus::Pending,
                None,
                Some("written after the newest digest".into()),
            ),
            None => (
                ObjectStatus::Unlisted,
                None,
                Some("no digest lists it, though one should by now".into()),
            ),
        };
        results.push(ObjectCheck {
            key: object.key.clone(),
            status,
            digest,
            detail,
        });
    }
    for (key, (digest, _)) in listings.iter().filter(|(k, _)| !present.contains(*k)) {
        results.push(ObjectCheck {
            key: key.to_string(),
            status: ObjectStatus::Missing,
            digest: Some(digest.to_string()),
            detail: Some("listed by its digest, not in the bucket".into()),
        });
    }
    results.sort_by(|a, b| a.key.cmp(&b.key));
    report(checks, results)
}

fn check_digest(
    account_id: &str,
    file: &DigestFile,
    before: Option<&DigestFile>,
    check_signature: &dyn Fn(&[u8], &[u8]) -> bool,
) -> (DigestStatus, Option<String>, Option<Digest>) {
    let signed = file
        .signature
        .as_deref()
        .and_then(unhex)
        .is_some_and(|sig| check_signature(&file.body, &sig));
    if !signed {
        let why = if file.signature.is_none() {
            "it has no signature"
        } else {
            "its signature is not the broker's key's"
        };
        return (DigestStatus::InvalidSignature, Some(why.into()), None);
    }
    let Ok(digest) = serde_json::from_slice::<Digest>(&file.body) else {
        return (DigestStatus::Unreadable, Some("its body is not a digest".into()), None);
    };
    let filed_right = digest.account_id == account_id
        && file.key == super::digest_key(account_id, digest.period_start, digest.period_end)
        && period_end_of(&file.key) == Some(digest.period_end);
    if !filed_right {
        return (
            DigestStatus::Unreadable,
            Some("it is not filed under its own account and period".into()),
            None,
        );
    }
    let link = match (&digest.previous, before) {
        (None, None) => Ok(()),
        (None, Some(b)) => Err(format!("it starts a new chain, but {} comes before it", b.key)),
        (Some(p), Some(b)) if p.key == b.key && Some(&p.signature) == b.signature.as_ref() => Ok(()),
        (Some(p), Some(b)) if p.key == b.key => Err(format!("{} was signed again since this digest named it", p.key)),
        (Some(p), _) => Err(format!("the digest it follows, {}, is missing", p.key)),
    };
    match link {
        Ok(()) => (DigestStatus::Valid, None, Some(digest)),
        Err(why) => (DigestStatus::BrokenLink, Some(why), Some(digest)),
    }
}

fn check_object(object: &LogObject, expected: &DigestedObject, after_digests: bool) -> (ObjectStatus, Option<String>) {
    if crate::domain::log_chain::sha256_hex(&object.content) == expected.sha256 {
        return (ObjectStatus::Valid, None);
    }
    // Appended to since: still valid so far if its first lines are the digested ones.
    if after_digests && extends(object, expected) {
        return (
            ObjectStatus::Pending,
            Some("lines were appended after the newest digest".into()),
        );
    }
    (
        ObjectStatus::Modified,
        Some("its content differs from what its digest lists".into()),
    )
}

/// Whether the object's first lines are those of the digested state `state`.
fn extends(object: &LogObject, state: &DigestedObject) -> bool {
    std::str::from_utf8(&object.content)
        .ok()
        .and_then(|text| log_chain::heads(&object.key, text).ok())
        .is_some_and(|heads| state.lines > 0 && heads.len() >= state.lines && heads[state.lines - 1] == state.head)
}

fn report(digests: Vec<DigestCheck>, objects: Vec<ObjectCheck>) -> Report {
    let mut digest_counts = BTreeMap::new();
    for d in &digests {
        *digest_counts.entry(d.status.name()).or_insert(0) += 1;
    }
    let mut object_counts = BTreeMap::new();
    for o in &objects {
        *object_counts.entry(o.status.name()).or_insert(0) += 1;
    }
    let valid = digests.iter().all(|d| d.status == DigestStatus::Valid)
        && objects
            .iter()
            .all(|o| matches!(o.status, ObjectStatus::Valid | ObjectStatus::Pending));
    Report {
        valid,
        digest_counts,
        object_counts,
        digests,
        objects,
    }
}

impl DigestStatus {
    /// The status as it is serialized.
    pub fn name(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::InvalidSignature => "invalid-signature",
            Self::Unreadable => "unreadable",
            Self::BrokenLink => "broken-link",
            Self::Truncated => "truncated",
        }
    }
}

impl ObjectStatus {
    /// The status as it is serialized.
    pub fn name(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Modified => "modified",
            Self::Missing => "missing",
            Self::Unlisted => "unlisted",
            Self::Pending => "pending",
        }
    }
}
