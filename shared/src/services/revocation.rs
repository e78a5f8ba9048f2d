//! Applying revocations to a role: record the cuts in DynamoDB (the authority), render the
//! role's deny pages from the record, write them, and read them back until IAM serves them.
//!
//! IAM has no conditional writes and its reads are eventually consistent, so:
//! - a lease per role serializes writers (each apply holds it under its own id, and renews it
//!   before an IAM write once its term is 20 s old, so one whose lease lapsed stops instead of
//!   writing an old render), and gives it back in the write that marks its render served;
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
/// Recording cuts on a record others are writing too: attempts (each re-reads it).
const RECORD_ATTEMPTS: u32 = 30;
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
    ///
    /// A group commit: the cuts are recorded first, lease or not. The lease's holder writes the
    /// render of the record it holds and marks that version `served`; a revocation waiting for
    /// the lease is done as soon as the version its cuts made is served (read back by another),
    /// and takes the lease itself otherwise. So ends crowding one role take a few turns, not one
    /// turn each.
    pub async fn apply(&self, iam: &dyn TargetIam, role: &RoleArn, cuts: &[Cut]) -> Result<(), String> {
        // One lease per role, however its ARN is spelt: every spelling writes the same pages.
        let lease = format!("role-policy:{}", role.identity());
        let owner = &ulid::Ulid::new().to_string();
        // The record is read while the lease is taken: its write is conditional on its version,
        // so a read made before the lease was held is at worst stale, and then written again.
        let now = self.clock.now();
        let (first, read) = futures::join!(
            self.leases.lease(&lease, owner, now, now + ROLE_LEASE),
            self.records.get_revocations(role)
        );
        let first = first.map_err(|e| e.to_string())?;
        // A failed early read is read again (`record`), never a return that keeps the lease.
        let recorded = match self.record(role, cuts, read.ok()).await {
            Ok(r) => r,
            Err(e) => {
                if first {
                    self.release(&lease, owner).await;
                }
                return Err(e);
            }
        };
        let mine = recorded.version;
        let mut latest = recorded;
        let mut held = first.then_some(now);
        for _ in 1..LEASE_ATTEMPTS {
            if held.is_some() {
                break;
            }
            tokio::time::sleep(LEASE_PAUSE).await;
            let now = self.clock.now();
            let (got, current) = futures::join!(
                self.leases.lease(&lease, owner, now, now + ROLE_LEASE),
                self.records.get_revocations(role)
            );
            let got = got.map_err(|e| e.to_string())?;
            if let Ok(Some(current)) = current
                && current.served >= mine
            {
                // Another revocation read back a render holding these cuts.
                if got {
                    self.release(&lease, owner).await;
                }
                return Ok(());
            }
            if got {
                // Read again now that the lease is held: a read made beside taking it may
                // predate the last holder's render, and rendering an older record than IAM
                // serves would drop the cuts recorded in between.
                match self.records.get_revocations(role).await {
                    Ok(Some(current)) => latest = current,
                    Ok(None) => {}
                    Err(e) => {
                        self.release(&lease, owner).await;
                        return Err(e.to_string());
                    }
                }
                held = Some(now);
            }
        }
        let Some(since) = held else {
            return Err("another revocation on this role is in progress; retrying later".into());
        };
        let mut term = Term {
            lease: &lease,
            owner,
            since,
        };
        let result = self.write_render(iam, role, &mut term, &latest).await;
        if result.is_ok() {
            self.mark_served_and_release(role, &latest, &lease, owner).await;
        } else {
            self.release(&lease, owner).await;
        }
        result
    }

    async fn release(&self, lease: &str, owner: &str) {
        if let Err(e) = self.leases.release_lease(lease, owner).await {
            tracing::warn!(error = %e, "releasing a role lease failed; it lapses by itself");
        }
    }

    /// Marks `rendered` served and gives the lease back in one write, the usual case (nobody
    /// recorded a cut meanwhile, the lease still ours); else each on its own: a waiter that
    /// takes the lease before the mark lands writes again, which is only a turn more.
    async fn mark_served_and_release(&self, role: &RoleArn, rendered: &RoleRevocations, lease: &str, owner: &str) {
        let mut marked = rendered.clone();
        marked.served = rendered.version;
        marked.version += 1;
        if self
            .records
            .put_revocations_releasing(role, &marked, lease, owner)
            .await
            .is_ok()
        {
            return;
        }
        futures::join!(self.mark_served(role, rendered), self.release(lease, owner));
    }

    /// Records that IAM serves the render of `version` (never moving `served` back: every
    /// later render holds every cut an earlier one did). Best effort: unmarked, waiters take
    /// the lease and write again.
    async fn mark_served(&self, role: &RoleArn, rendered: &RoleRevocations) {
        // First over the rendered record itself (no read: unchanged since, the usual case).
        let mut current = Some(rendered.clone());
        for _ in 0..3 {
            let mut record = match current.take() {
                Some(r) => r,
                None => match self.records.get_revocations(role).await {
                    Ok(Some(r)) => r,
                    _ => return,
                },
            };
            if record.served >= rendered.version {
                return;
            }
            record.served = rendered.version;
            record.version += 1;
            match self.records.put_revocations(role, &record).await {
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => {
                    tracing::warn!(role = %role, error = %e, "marking a role's revocations served failed");
                    return;
                }
                Ok(()) => return,
            }
        }
    }

    /// Writes `record`'s render to the role's pages, each read back until IAM serves it.
    async fn write_render(
        &self,
        iam: &dyn TargetIam,
        role: &RoleArn,
        term: &mut Term<'_>,
        record: &RoleRevocations,
    ) -> Result<(), String> {
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
        for attempt in 0..RECORD_ATTEMPTS {
            if attempt > 0 {
                // Ends crowding one role all record their cuts: spread the retries out.
                let jitter = rand::random::<u64>() % (20 * u64::from(attempt.min(10)) + 1);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
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
