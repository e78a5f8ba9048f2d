//! Signed digests of the session logs, after CloudTrail's log file integrity validation: for
//! each account and hour in which session logs were written, one digest object lists every log
//! object written in that hour with its SHA-256 and chain head, and names the digest before it
//! with that digest's signature. The broker signs each digest's SHA-256 with an asymmetric KMS
//! key (RSASSA-PKCS1-v1_5 with SHA-256, as CloudTrail's SHA256withRSA); anyone with the public
//! key and read access to the bucket can then tell, without trusting the broker's database,
//! which log objects were modified, deleted, added or replaced whole, and whether a digest is
//! missing from the chain (`verify`); all but whether the chain was cut short at its end (its
//! newest digests deleted), which takes the newest digest the broker recorded
//! (`check_chain_end`).
//!
//! A log object is rewritten with each event of its session, so it may be listed by several
//! digests; the newest one that lists it holds its expected state. A digest records what S3
//! held when the digest was made; lines appended after the newest digest are `pending` until the
//! next one covers them (as CloudTrail's log files delivered after its newest digest are).

mod verify;

pub use verify::{
    DigestCheck, DigestFile, DigestStatus, LogObject, ObjectCheck, ObjectStatus, Report, Scope, check_chain_end, verify,
};

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, macros::format_description};

/// KMS's name for the signature scheme, stored with each digest.
pub const SIGNING_ALGORITHM: &str = "RSASSA_PKCS1_V1_5_SHA_256";
pub const DIGEST_VERSION: u32 = 1;
/// Each digest covers the log objects last written within one hour.
pub const PERIOD: Duration = Duration::hours(1);
/// A log write is digested within this long (its hour, then the next expirer run, with room
/// for a late run); a write older than this that no digest lists is `unlisted`, not `pending`.
pub const DIGEST_DUE: Duration = Duration::hours(2);
/// The S3 user-metadata keys of a digest object (`x-amz-meta-…`).
pub const SIGNATURE_METADATA: &str = "signature";
pub const ALGORITHM_METADATA: &str = "signing-algorithm";

/// One digest object's body (the exact bytes signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub version: u32,
    pub account_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    /// The KMS key that signed it (its ARN or id).
    pub signing_key: String,
    pub signing_algorithm: String,
    /// The digest before this one (none for an account's first).
    pub previous: Option<DigestLink>,
    /// Log objects written in the period, by key.
    pub objects: Vec<DigestedObject>,
    /// Log objects written in the period that the broker would not vouch for (their chain is
    /// broken, or does not reach the head its session's record keeps, or no session owns them).
    #[serde(default)]
    pub refused: Vec<RefusedObject>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestLink {
    pub key: String,
    /// The previous digest's signature, hex.
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestedObject {
    pub key: String,
    /// SHA-256 (hex) of the object's bytes.
    pub sha256: String,
    /// The log's chain head (the hash of its last line) and its number of lines: a later state
    /// of the log must still have this head after this many lines.
    pub head: String,
    pub lines: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedObject {
    pub key: String,
    pub reason: Refusal,
}

/// Why a digest did not vouch for a log object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// Its lines do not chain.
    ChainBroken,
    /// It chains, but not through the head its session's record keeps.
    HeadMismatch,
    /// No session of the account owns this key.
    NoSession,
}

impl Refusal {
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::ChainBroken => "its lines do not chain",
            Refusal::HeadMismatch => "it does not reach the head its session's record keeps",
            Refusal::NoSession => "no session of the account owns it",
        }
    }
}

/// Where the account's session logs are (`sessions/<account>/<YYYY-MM-DD>/<session>.jsonl`).
pub fn log_prefix(account_id: &str) -> String {
    format!("sessions/{account_id}/")
}

/// Where the account's digests are.
pub fn digest_prefix(account_id: &str) -> String {
    format!("digests/{account_id}/")
}

/// A digest's key: its period in UTC, so that keys sort as the chain runs.
pub fn digest_key(account_id: &str, start: OffsetDateTime, end: OffsetDateTime) -> String {
    let compact = format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = |t: OffsetDateTime| t.to_offset(time::UtcOffset::UTC).format(compact).expect("UTC formats");
    format!("{}{}_{}.json", digest_prefix(account_id), at(start), at(end))
}

/// The end of a digest's period, read from its key (to pick the digests a range needs without
/// reading them).
pub fn period_end_of(key: &str) -> Option<OffsetDateTime> {
    let stem = key.rsplit('/').next()?.strip_suffix(".json")?;
    let end = stem.split('_').nth(1)?;
    let parsed = time::PrimitiveDateTime::parse(end, format_description!("[year][month][day]T[hour][minute][second]Z"));
    parsed.ok().map(|t| t.assume_utc())
}

/// The day partition of a log object's key, and its session id (the file stem).
pub fn log_key_parts<'a>(account_id: &str, key: &'a str) -> Option<(Date, &'a str)> {
    let rest = key.strip_prefix(&log_prefix(account_id))?;
    let (day, file) = rest.split_once('/')?;
    let session = file.strip_suffix(".jsonl")?;
    let day = Date::parse(day, format_description!("[year]-[month]-[day]")).ok()?;
    Some((day, session))
}

/// The start of the hour `t` falls in.
pub fn hour_of(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .expect("zero is a valid minute, second and nanosecond")
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
