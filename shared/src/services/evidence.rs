//! Evidence: the signed digests of the session logs (written by every expirer run, for each
//! account and finished hour with log writes), and the verification of an account's logs
//! against them (docs/evidence.md). The format and the verdicts are `domain::evidence`'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use rsa::pkcs8::DecodePublicKey;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use time::{Date, OffsetDateTime};

use crate::domain::evidence::{
    self, ALGORITHM_METADATA, DIGEST_VERSION, Digest, DigestFile, DigestLink, DigestedObject, LogObject, PERIOD,
    Refusal, RefusedObject, Report, SIGNATURE_METADATA, SIGNING_ALGORITHM, Scope, hex,
};
use crate::domain::{AccountId, SessionId, log_chain};
use crate::ports::{
    AccountStore, ArchivedObject, Clock, DigestCursor, DigestCursors, EvidenceSigner, LogArchive, PageRequest,
    SessionStore, StoreError,
};

/// Digests one run writes per account at most (a first run over a long history, or after an
/// outage, catches up over the next runs).
const DIGESTS_PER_RUN: usize = 48;
/// The longest range one verification covers.
const MAX_RANGE_DAYS: i64 = 31;
/// S3 reads in flight at once.
const READS_AT_ONCE: usize = 16;

#[derive(Clone)]
pub struct EvidenceService {
    accounts: Arc<dyn AccountStore>,
    sessions: Arc<dyn SessionStore>,
    archive: Arc<dyn LogArchive>,
    /// `None`: no signing key configured (`EVIDENCE_KEY_ID`), so no digests.
    signer: Option<Arc<dyn EvidenceSigner>>,
    cursors: Arc<dyn DigestCursors>,
    clock: Arc<dyn Clock>,
}

/// What one run of the digester did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DigestRun {
    pub written: u32,
    /// Accounts whose digests could not be written this run (retried next run).
    pub failed: u32,
    /// Log objects a digest refused to vouch for.
    pub refused: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("no such account")]
    NotFound,
    #[error("no evidence key is configured (EVIDENCE_KEY_ID)")]
    Disabled,
    #[error("{0}")]
    BadRange(String),
    #[error("{0}")]
    Unavailable(String),
}

impl From<crate::ports::LogError> for EvidenceError {
    fn from(e: crate::ports::LogError) -> Self {
        EvidenceError::Unavailable(e.to_string())
    }
}

impl From<crate::ports::StoreError> for EvidenceError {
    fn from(e: crate::ports::StoreError) -> Self {
        EvidenceError::Unavailable(e.to_string())
    }
}

impl EvidenceService {
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        sessions: Arc<dyn SessionStore>,
        archive: Arc<dyn LogArchive>,
        signer: Option<Arc<dyn EvidenceSigner>>,
        cursors: Arc<dyn DigestCursors>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        EvidenceService {
            accounts,
            sessions,
            archive,
            signer,
            cursors,
            clock,
        }
    }

    /// Writes the digests now due for every account: one per finished hour with log writes
    /// since the account's cursor. An account that fails (S3, KMS, DynamoDB) keeps its cursor,
    /// so the same hours are digested next run; nothing is skipped.
    pub async fn write_due(&self) -> DigestRun {
        let mut run = DigestRun::default();
        let Some(signer) = &self.signer else {
            return run;
        };
        let cut = evidence::hour_of(self.clock.now());
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        loop {
            let accounts = match self.accounts.list(&page).await {
                Ok(Some(accounts)) => accounts,
                other => {
                    run.failed += 1;
                    let error = other.err().map(|e| e.to_string()).unwrap_or_default();
                    tracing::error!(
                        error,
                        alarm = "digest-failed",
                        "accounts could not be listed for digests"
                    );
                    return run;
                }
            };
            for account in &accounts.items {
                match self.digest_account(signer.as_ref(), &account.id, cut).await {
                    Ok((written, refused)) => {
                        run.written += written;
                        run.refused += refused;
                    }
                    Err(e) => {
                        run.failed += 1;
                        tracing::error!(account = %account.id, error = %e, alarm = "digest-failed", "a digest could not be written; the next run retries it");
                    }
                }
            }
            match accounts.next_cursor {
                Some(next) => page.cursor = Some(next),
                None => return run,
            }
        }
    }

    async fn digest_account(
        &self,
        signer: &dyn EvidenceSigner,
        account: &AccountId,
        cut: OffsetDateTime,
    ) -> Result<(u32, u32), EvidenceError> {
        let stored = self.cursors.cursor(account).await?;
        if stored.as_ref().is_some_and(|c| c.digested_until >= cut) {
            return Ok((0, 0));
        }
        let since = stored.as_ref().map(|c| c.digested_until);
        let mut by_hour: BTreeMap<OffsetDateTime, Vec<ArchivedObject>> = BTreeMap::new();
        for object in self.archive.list(&evidence::log_prefix(account.as_str())).await? {
            if since.is_none_or(|s| object.last_modified >= s) && object.last_modified < cut {
                by_hour
                    .entry(evidence::hour_of(object.last_modified))
                    .or_default()
                    .push(object);
            }
        }
        let complete = by_hour.len() <= DIGESTS_PER_RUN;
        let mut current = stored.clone();
        let (mut written, mut refused) = (0, 0);
        for (hour, objects) in by_hour.into_iter().take(DIGESTS_PER_RUN) {
            let (vouched, refusals) = self.examine(account, &objects).await?;
            let digest = Digest {
                version: DIGEST_VERSION,
                account_id: account.to_string(),
                period_start: hour,
                period_end: hour + PERIOD,
                signed_at: self.clock.now(),
                signing_key: signer.key_id().to_string(),
                signing_algorithm: SIGNING_ALGORITHM.into(),
                previous: current.as_ref().and_then(|c| c.last.clone()),
                objects: vouched,
                refused: refusals,
            };
            let body = serde_json::to_vec(&digest).expect("a digest serializes");
            let signature = hex(&signer
                .sign(&Sha256::digest(&body))
                .await
                .map_err(|e| EvidenceError::Unavailable(format!("signing the digest: {e}")))?);
            let key = evidence::digest_key(account.as_str(), digest.period_start, digest.period_end);
            let created = self
                .archive
                .put_new(
                    &key,
                    body,
                    &[
                        (SIGNATURE_METADATA, &signature),
                        (ALGORITHM_METADATA, SIGNING_ALGORITHM),
                    ],
                )
                .await?;
            // Another run wrote this hour first (racing, or one that died before moving the
            // cursor). Its digest stays, and the cursor may only ever name the one in the bucket;
            // anything else there fails the account's run (`adoptable`).
            let signature = match created {
                true => signature,
                false => match self.adoptable(signer, account, &key, &digest).await? {
                    Some(theirs) => theirs,
                    None => return Ok((written, refused)),
                },
            };
            let next = DigestCursor {
                digested_until: digest.period_end,
                last: Some(DigestLink { key, signature }),
            };
            match self.cursors.advance(account, current.as_ref(), &next).await {
                Ok(()) => {}
                // Another run moved the cursor first: the chain is its to extend.
                Err(StoreError::Conflict(_)) => return Ok((written, refused)),
                Err(e) => return Err(e.into()),
            }
            for r in &digest.refused {
                tracing::error!(account = %account, key = r.key, reason = r.reason.describe(), alarm = "log-tampered", "a session log is not as the broker wrote it; its digest lists it as refused");
            }
            refused += digest.refused.len() as u32;
            written += 1;
            current = Some(next);
        }
        // No writes in the hours up to the cut: the cursor moves past them without a digest.
        if complete && current.as_ref().is_none_or(|c| c.digested_until < cut) {
            let next = DigestCursor {
                digested_until: cut,
                last: current.as_ref().and_then(|c| c.last.clone()),
            };
            match self.cursors.advance(account, current.as_ref(), &next).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((written, refused))
    }

    /// The signature of the digest already at `key`, which another run wrote for the same hour,
    /// for the cursor to name. `None` when that digest chains from elsewhere because the cursor
    /// has since moved past this hour: another run extends the chain from there.
    ///
    /// An error (the account's run fails, `digest-failed`, and its cursor stays) when the object
    /// is not a digest this broker wrote for this account and hour: not a digest, unsigned, of
    /// another account or hour, not signed with the evidence key, or chained from elsewhere
    /// while the cursor is still before this hour. Adopting it would vouch for what someone else
    /// wrote; passing over it in silence would leave the hour undigested with no one told.
    async fn adoptable(
        &self,
        signer: &dyn EvidenceSigner,
        account: &AccountId,
        key: &str,
        ours: &Digest,
    ) -> Result<Option<String>, EvidenceError> {
        let Some(stored) = self.archive.fetch(key).await? else {
            return Err(EvidenceError::Unavailable(format!(
                "{key} was written by another run but cannot be read yet"
            )));
        };
        let foreign = |why: &str| -> Result<Option<String>, EvidenceError> {
            Err(EvidenceError::Unavailable(format!(
                "{key} already holds an object that is not this broker's digest of the hour ({why}); \
                 the hour is not digested until it is looked into"
            )))
        };
        let Ok(theirs) = serde_json::from_slice::<Digest>(&stored.body) else {
            return foreign("not a digest");
        };
        let Some(signature) = stored.metadata.get(SIGNATURE_METADATA) else {
            return foreign("no signature");
        };
        if theirs.account_id != ours.account_id
            || theirs.period_start != ours.period_start
            || theirs.period_end != ours.period_end
        {
            return foreign("a digest of another account or hour");
        }
        if !self.signed_with(signer, &stored.body, signature).await? {
            return foreign("not signed with the evidence key");
        }
        if theirs.previous == ours.previous {
            return Ok(Some(signature.clone()));
        }
        let moved_past = self
            .cursors
            .cursor(account)
            .await?
            .is_some_and(|c| c.digested_until >= ours.period_end);
        if moved_past {
            Ok(None)
        } else {
            foreign("chained from another digest than the account's cursor names")
        }
    }

    /// Whether `signature` (hex) is the evidence key's over `body`, checked with its public key.
    async fn signed_with(
        &self,
        signer: &dyn EvidenceSigner,
        body: &[u8],
        signature: &str,
    ) -> Result<bool, EvidenceError> {
        let Some(signature) = evidence::unhex(signature) else {
            return Ok(false);
        };
        let der = signer.public_key().await.map_err(EvidenceError::Unavailable)?;
        let public = rsa::RsaPublicKey::from_public_key_der(&der)
            .map_err(|e| EvidenceError::Unavailable(format!("the evidence key is not an RSA public key: {e}")))?;
        Ok(public
            .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(body), &signature)
            .is_ok())
    }

    /// Reads each object and vouches for it if it chains and reaches the head its session's
    /// record keeps (a record may lag its log by the lines of an interrupted write, never lead).
    async fn examine(
        &self,
        account: &AccountId,
        objects: &[ArchivedObject],
    ) -> Result<(Vec<DigestedObject>, Vec<RefusedObject>), EvidenceError> {
        // Owned futures: a stream of futures borrowing from here is not `Send` for every
        // lifetime, which the Lambda runtime requires.
        let reads: Vec<_> = objects
            .iter()
            .map(|o| {
                let (this, account, key) = (self.clone(), account.clone(), o.key.clone());
                async move { this.examine_one(&account, &key).await }
            })
            .collect();
        let checked: Vec<Option<Result<DigestedObject, RefusedObject>>> =
            stream::iter(reads).buffered(READS_AT_ONCE).try_collect().await?;
        let (mut vouched, mut refused) = (Vec::new(), Vec::new());
        for c in checked.into_iter().flatten() {
            match c {
                Ok(v) => vouched.push(v),
                Err(r) => refused.push(r),
            }
        }
        Ok((vouched, refused))
    }

    async fn examine_one(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<Result<DigestedObject, RefusedObject>>, EvidenceError> {
        let Some(object) = self.archive.fetch(key).await? else {
            return Ok(None); // deleted since the listing: the verifier reports what is gone
        };
        let refuse = |reason| {
            Ok(Some(Err(RefusedObject {
                key: key.into(),
                reason,
            })))
        };
        let session = match evidence::log_key_parts(account.as_str(), key).map(|(_, id)| SessionId::parse(id)) {
            Some(Ok(id)) => self.sessions.get(&id).await?,
            _ => None,
        };
        let Some(session) = session.filter(|s| s.log_key == key && &s.account_id == account) else {
            return refuse(Refusal::NoSession);
        };
        let heads = match std::str::from_utf8(&object.body).map(|text| log_chain::heads(key, text)) {
            Ok(Ok(heads)) if !heads.is_empty() => heads,
            _ => return refuse(Refusal::ChainBroken),
        };
        if !heads.contains(&session.log_head) {
            return refuse(Refusal::HeadMismatch);
        }
        Ok(Some(Ok(DigestedObject {
            key: key.into(),
            sha256: log_chain::sha256_hex(&object.body),
            head: heads.last().expect("not empty").clone(),
            lines: heads.len(),
        })))
    }

    /// Verifies `account`'s session logs of the days `from`..=`to` against its digests, from S3
    /// and the public key; then the end of the chain in S3 against the newest digest the broker
    /// recorded (the account's digest cursor), which S3 alone cannot show cut short.
    pub async fn verify(&self, account: &AccountId, from: Date, to: Date) -> Result<Report, EvidenceError> {
        let signer = self.signer.as_ref().ok_or(EvidenceError::Disabled)?;
        if to < from {
            return Err(EvidenceError::BadRange("`to` is before `from`".into()));
        }
        if (to - from).whole_days() >= MAX_RANGE_DAYS {
            return Err(EvidenceError::BadRange(format!(
                "a verification covers at most {MAX_RANGE_DAYS} days"
            )));
        }
        if self.accounts.get(account).await?.is_none() {
            return Err(EvidenceError::NotFound);
        }
        let der = signer.public_key().await.map_err(EvidenceError::Unavailable)?;
        let public = rsa::RsaPublicKey::from_public_key_der(&der)
            .map_err(|e| EvidenceError::Unavailable(format!("the evidence key is not an RSA public key: {e}")))?;
        let check = move |body: &[u8], signature: &[u8]| {
            public
                .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(body), signature)
                .is_ok()
        };

        // The newest digest the broker recorded, read before the bucket is listed: a digest
        // written in between is then newer than the record (no truncation), never the reverse.
        let recorded = self.cursors.cursor(account).await?.and_then(|c| c.last).map(|l| l.key);

        let starts = from.midnight().assume_utc();
        let digest_keys: Vec<String> = self
            .archive
            .list(&evidence::digest_prefix(account.as_str()))
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect();
        let first = digest_keys
            .iter()
            .position(|k| evidence::period_end_of(k).is_some_and(|end| end > starts))
            .unwrap_or(digest_keys.len());
        let read_from = first.saturating_sub(1);
        let wanted = digest_keys[read_from..].to_vec();
        let mut files: Vec<Option<DigestFile>> = stream::iter(wanted)
            .map(|key| {
                let archive = self.archive.clone();
                async move {
                    let stored = archive.fetch(&key).await?;
                    Ok::<_, EvidenceError>(stored.map(|o| DigestFile {
                        signature: o.metadata.get(SIGNATURE_METADATA).cloned(),
                        body: o.body,
                        key,
                    }))
                }
            })
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        // The account's digests in the bucket: listed, and those read still there when read.
        let in_bucket: Vec<String> = digest_keys
            .iter()
            .enumerate()
            .filter(|&(i, _)| i < read_from || files.get(i - read_from).is_some_and(|f| f.is_some()))
            .map(|(_, key)| key.clone())
            .collect();
        // By position, not by what was read: a predecessor deleted since the listing must not
        // make the first digest of the range pass for it (and go unchecked).
        let predecessor = if first > 0 && !files.is_empty() {
            files.remove(0)
        } else {
            None
        };
        let files: Vec<DigestFile> = files.into_iter().flatten().collect();

        let scope = Scope {
            account_id: account.as_str(),
            from,
            to,
            now: self.clock.now(),
        };
        let log_keys: Vec<ArchivedObject> = self
            .archive
            .list(&evidence::log_prefix(account.as_str()))
            .await?
            .into_iter()
            .filter(|o| evidence::log_key_parts(account.as_str(), &o.key).is_some_and(|(d, _)| from <= d && d <= to))
            .collect();
        let objects: Vec<LogObject> = stream::iter(log_keys)
            .map(|o| {
                let archive = self.archive.clone();
                async move {
                    let stored = archive.fetch(&o.key).await?;
                    Ok::<_, EvidenceError>(stored.map(|s| LogObject {
                        key: o.key,
                        content: s.body,
                        last_modified: s.last_modified,
                    }))
                }
            })
            .buffered(READS_AT_ONCE)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        let report = evidence::verify(scope, predecessor.as_ref(), &files, &objects, &check);
        Ok(match evidence::check_chain_end(recorded.as_deref(), &in_bucket) {
            Some(truncated) => report.with_digest_check(truncated),
            None => report,
        })
    }
}
