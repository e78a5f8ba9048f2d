//! Applying revocations to a role: record the cuts in DynamoDB (the authority), render the
//! role's deny pages from the record, write them, and read them back until IAM serves them.
//!
//! IAM has no conditional writes and its reads are eventually consistent, so:
//! - a lease per role serializes writers (each apply holds it under its own id, and renews it
//!   before every IAM write, so one whose lease lapsed stops instead of writing an old render);
//! - the record is the authority: nothing is read-modified-written from IAM's copy, so an
//!   old or unparseable document in IAM can never drop a deny;
//! - a revocation counts as done only once every page reads back as written.
//!
//! Several cuts on one role (an expirer run's batch) cost one record write and one write per
//! page in use: at most 242 revoked sessions per role (page 0's slots), one IAM write. A role that no
//! longer exists needs no deny (its sessions died with it).

use std::sync::Arc;
use std::time::Duration;

use crate::domain::RoleArn;
use crate::domain::revocation::{Cut, REVOCATIONS_POLICY, RoleRevocations};
use crate::ports::{Clock, CloudError, RevocationStore, SessionStore, StoreError, TargetIam};

/// How long one revocation may hold a role before another may take it over.
const ROLE_LEASE: Duration = Duration::from_secs(60);
/// Waiting for the lease: attempts, and the pause between them.
const LEASE_ATTEMPTS: u32 = 100;
const LEASE_PAUSE: Duration = Duration::from_millis(100);
/// A lease taken or renewed this recently is not renewed before a write: a write begun by then
/// ends within the AWS call timeout (10 s by default), well inside the 60 s term.
const RENEW_AFTER: Duration = Duration::from_secs(20);
/// Reading back a write: attempts, and the first pause (doubling, as IAM propagates in seconds).
const READ_BACK_ATTEMPTS: u32 = 8;
const READ_BACK_PAUSE: Duration = Duration::from_millis(100);

/// The role's lease as this apply holds it: since when its current term runs.
struct Term<'a> {
    lease: &'a str,
    owner: &'a str,
    since: time::OffsetDateTime,
}

#[derive(Clone)]
pub struct Revoker {
    pub(crate) records: Arc<dyn RevocationStore>,
    /// Leases live with the sessions.
    pub(crate) leases: Arc<dyn SessionStore>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Revoker {
    pub fn new(records: Arc<dyn RevocationStore>, leases: Arc<dyn SessionStore>, clock: Arc<dyn Clock>) -> Self {
        Revoker { records, leases, clock }
    }

    /// Records `cuts` on `role` and makes IAM deny them.
    pub async fn apply(&self, iam: &dyn TargetIam, role: &RoleArn, cuts: &[Cut]) -> Result<(), String> {
        // One lease per role, however its ARN is spelt: every spelling writes the same pages.
        let lease = format!("role-policy:{}", role.identity());
        let owner = &ulid::Ulid::new().to_string();
        // The record is read while the lease is taken: its write is conditional on its version,
        // so a read made before the lease was held is at worst stale, and then written again.
        let first_read = self.records.get_revocations(role);
        let mut held = None;
        let now = self.clock.now();
        let (first, read) = futures::join!(self.leases.lease(&lease, owner, now, now + ROLE_LEASE), first_read);
        if first.map_err(|e| e.to_string())? {
            held = Some(now);
        }
        for _ in 1..LEASE_ATTEMPTS {
            if held.is_some() {
                break;
            }
            tokio::time::sleep(LEASE_PAUSE).await;
            let now = self.clock.now();
            if self
                .leases
                .lease(&lease, owner, now, now + ROLE_LEASE)
                .await
                .map_err(|e| e.to_string())?
            {
                held = Some(now);
            }
        }
        let Some(since) = held else {
            return Err("another revocation on this role is in progress; retrying later".into());
        };
        // A failed early read is read again under the lease (never a return that keeps it).
        let read = read.ok();
        let mut term = Term {
            lease: &lease,
            owner,
            since,
        };
        let result = self.apply_held(iam, role, cuts, &mut term, read).await;
        if let Err(e) = self.leases.release_lease(&lease, owner).await {
            tracing::warn!(error = %e, "releasing a role lease failed; it lapses by itself");
        }
        result
    }

    async fn apply_held(
        &self,
        iam: &dyn TargetIam,
        role: &RoleArn,
        cuts: &[Cut],
        term: &mut Term<'_>,
        read: Option<Option<RoleRevocations>>,
    ) -> Result<(), String> {
        let record = self.record(role, cuts, read).await?;
        let rendered = record.render();
        // Highest page first, the inline page last: an entry never moves to a lower page (a
        // record from before pages were kept is laid out again, upwards), so it is written on
        // its new page before it leaves its old one.
        for (i, doc) in rendered.managed.iter().enumerate().rev() {
            let page = i + 1;
            self.renew(term).await?;
            match iam.put_revocation_page(role, page, doc).await {
                Ok(()) => {}
                Err(CloudError::NotFound(e)) => {
                    return gone_or(iam, role, format!("write revocation page {page}: {e}")).await;
                }
                Err(e) => return Err(format!("write revocation page {page}: {e}")),
            }
            self.read_back(|| iam.get_revocation_page(role, page), doc).await?;
        }
        self.renew(term).await?;
        match &rendered.inline {
            Some(doc) => {
                match iam.put_role_policy(role, REVOCATIONS_POLICY, doc).await {
                    Ok(()) => {}
                    Err(CloudError::NotFound(e)) => {
                        return gone_or(iam, role, format!("write the role's revocations: {e}")).await;
                    }
                    Err(e) => return Err(format!("write the role's revocations: {e}")),
                }
                self.read_back(|| iam.get_role_policy(role, REVOCATIONS_POLICY), doc)
                    .await?;
            }
            None => match iam.delete_role_policy(role, REVOCATIONS_POLICY).await {
                Ok(()) | Err(CloudError::NotFound(_)) => {}
                Err(e) => return Err(format!("remove the role's empty revocations: {e}")),
            },
        }
        Ok(())
    }

    /// Keeps the lease for another term before an IAM write, or stops: a writer whose lease
    /// lapsed (and was taken over) must not write what may now be an old render. A term taken
    /// or renewed less than `RENEW_AFTER` ago still has most of its time: nobody can have taken
    /// it over (only a lapsed lease is taken), so the write goes ahead without a renewal.
    async fn renew(&self, term: &mut Term<'_>) -> Result<(), String> {
        let now = self.clock.now();
        if now < term.since + RENEW_AFTER {
            return Ok(());
        }
        match self.leases.lease(term.lease, term.owner, now, now + ROLE_LEASE).await {
            Ok(true) => {
                term.since = now;
                Ok(())
            }
            Ok(false) => Err("the role's lease was taken over; retrying later".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Adds the cuts to the role's record (pruning what is dead) and saves it, retrying on a
    /// concurrent writer. Cuts the pages cannot hold are refused, with an alarm.
    async fn record(
        &self,
        role: &RoleArn,
        cuts: &[Cut],
        mut read: Option<Option<RoleRevocations>>,
    ) -> Result<RoleRevocations, String> {
        for _ in 0..5 {
            let stored = match read.take() {
                Some(first) => first,
                None => self.records.get_revocations(role).await.map_err(|e| e.to_string())?,
            };
            let mut record = stored.unwrap_or_default();
            record.prune(self.clock.now());
            if let Err(overflow) = record.apply(cuts) {
                // An alarm: the template's metric filter matches the `alarm` field.
                tracing::error!(role = %role, revoked = overflow.sessions, console = overflow.console, capacity = overflow.capacity, alarm = "revocation-capacity", "revocation cannot be recorded: {overflow}");
                return Err(overflow.to_string());
            }
            record.version += 1;
            match self.records.put_revocations(role, &record).await {
                Ok(()) => return Ok(record),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the role's revocation record kept changing; retrying later".into())
    }

    /// Reads a page until IAM serves what was written.
    async fn read_back<F, Fut>(&self, read: F, written: &str) -> Result<(), String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<String>, CloudError>>,
    {
        let want: serde_json::Value = serde_json::from_str(written).map_err(|e| e.to_string())?;
        let mut pause = READ_BACK_PAUSE;
        for attempt in 1..=READ_BACK_ATTEMPTS {
            let seen = read().await.map_err(|e| format!("read back: {e}"))?;
            if seen
                .as_deref()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .is_some_and(|v| v == want)
            {
                return Ok(());
            }
            if attempt < READ_BACK_ATTEMPTS {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        Err("IAM does not serve the written revocation yet; retrying later".into())
    }
}

/// After an IAM "not found": `Ok` when the role itself is gone (its sessions died with it),
/// else `failed`. Other entities (a page's policy or version) can be "not found" for a moment
/// while IAM propagates; that is a failure to retry, not a revocation done.
async fn gone_or(iam: &dyn TargetIam, role: &RoleArn, failed: String) -> Result<(), String> {
    match iam.get_role(role).await {
        Err(CloudError::NotFound(_)) => Ok(()),
        _ => Err(failed),
    }
}
