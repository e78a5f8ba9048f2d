//! Ending sessions (early, by the expirer, or withdrawing a failed start) so that access is
//! actually revoked, exactly once.
//!
//! Every end first claims the session with a version-conditional write: of any number of
//! concurrent ends and expiries exactly one revokes and writes the end event. What is taken
//! back in AWS is `revoking`'s (each kind's room says what); then the live Session Manager
//! sessions the session opened are terminated as its room says (`kinds::SsmAtEnd`, through
//! `shell`), and the end is logged.
//!
//! The expirer claims a run's due sessions first, then revokes them per role in one batch:
//! one record write and (up to 242 revoked sessions per role, page 0's slots) one IAM write per role.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::kinds::{self, SsmAtEnd};
use super::shell::ShellReach;
use super::{ExpiryReport, SessionError, SessionService, rfc3339};
use crate::domain::{Ending, Session, SessionStatus};
use crate::ports::{LogTail, StoreError, TargetIam};

/// How long a claim on an end holds before another run may take it over.
const END_LEASE: Duration = Duration::from_secs(120);
/// How many accounts one expirer run works on at once.
const EXPIRER_ACCOUNTS_AT_ONCE: usize = 8;
/// Within an account, how many claims (and, after the batch revocation, finishes) at once.
const SESSIONS_AT_ONCE: usize = 16;
/// After this many failed revocations the failure is reported as an error, not just retried.
pub const REPORT_AFTER_FAILURES: u32 = 3;
/// An account reached for a batch of ends (see `reach`).
struct Reach {
    iam: Box<dyn TargetIam>,
    shell: Result<ShellReach, String>,
    /// The JIT roles the account allows now, read with the account (a console session's end
    /// cuts them too; `None`: not read, each console end reads them). Read before the console
    /// lock is put back, which is as good as after: the console user's deny refuses every
    /// role outside the session's own `switch_roles` (`iam_policies`), so a role allowed
    /// meanwhile cannot be switched into.
    allowed_roles: Option<Vec<crate::domain::RoleArn>>,
}

/// How long after a shell session's end began its Session Manager sessions are swept again:
/// IAM applies a deny within seconds, not at once, and a session opened meanwhile outlives it.
const SHELL_SWEEP_AFTER: Duration = Duration::from_secs(60);

impl SessionService {
    /// Ends a session whose start failed, taking back whatever was granted. Best effort: if
    /// this fails too, the session stays live and due, so the expirer ends it.
    pub(super) async fn withdraw(&self, session: Session, reason: &str) {
        if let Err(e) = self
            .end_claimed(session, "cloud-iam-broker", reason, SessionStatus::Ended)
            .await
        {
            tracing::warn!(error = %e, "withdrawing a failed start failed; the expirer will end it");
        }
    }

    /// Ends a session early. Concurrent ends produce one end; repeating returns the session.
    pub async fn end(
        &self,
        principal: &crate::auth::Principal,
        id: &crate::domain::SessionId,
        reason: &str,
        on_behalf_of: Option<&crate::domain::Email>,
    ) -> Result<Session, SessionError> {
        use crate::authz::{self, Action};
        authz::acting_user(principal, on_behalf_of, Action::EndSession).map_err(|d| SessionError::Denied(d.0))?;
        let session = self.session_or_404(id).await?;
        let actor = self.authorize(principal, Action::EndSession, on_behalf_of, Some(&session))?;
        let by = match (&actor.user, principal.role) {
            (Some(user), crate::auth::Role::Bot) => format!("{} for {user}", principal.subject),
            _ => principal.subject.clone(),
        };
        if session.status == SessionStatus::Pending {
            return match self.withdraw_request(id, &by, reason).await {
                Ok(s) => Ok(s),
                // Decided meanwhile: end what that decision left (an approval started it).
                Err(super::RequestError::NotPending(_)) => {
                    let current = self.session_or_404(id).await?;
                    match current.status {
                        SessionStatus::Active => self.end_claimed(current, &by, reason, SessionStatus::Ended).await,
                        _ => Ok(current),
                    }
                }
                // Not withdrawn: say so, never 200 with the request still open.
                Err(e) => Err(SessionError::Unavailable(e.to_string())),
            };
        }
        if session.status != SessionStatus::Active {
            return Ok(session);
        }
        self.end_claimed(session, &by, reason, SessionStatus::Ended).await
    }

    /// Claims an active session's end, revokes, logs and finishes it. Losing the claim to a
    /// concurrent end returns the session as that end left it.
    pub(super) async fn end_claimed(
        &self,
        session: Session,
        by: &str,
        reason: &str,
        outcome: SessionStatus,
    ) -> Result<Session, SessionError> {
        // The account is reached, and the log read, while the claim is made: only the winner
        // uses them, and a loser's cost a few reads, not a write. The end's line is then
        // written over the log as read (`append_over`), unless something was logged since.
        let reaching = [session.clone()];
        let (claimed, reach, tail) = futures::join!(
            self.claim(session, by, reason, outcome),
            self.reach(&reaching),
            self.log.read_tail(&reaching[0].log_key)
        );
        match claimed? {
            Ok(claimed) => {
                let claimed = vec![claimed];
                let tails = vec![tail.ok().flatten()];
                let mut done = self.complete_ends(claimed, tails, reach.as_ref()).await;
                done.pop().expect("one in, one out")
            }
            Err(current) => Ok(current),
        }
    }

    /// The version-conditional claim: `Ok(claimed)` for the winner, `Err(current)` for a loser.
    async fn claim(
        &self,
        mut session: Session,
        by: &str,
        reason: &str,
        outcome: SessionStatus,
    ) -> Result<Result<Session, Session>, SessionError> {
        let now = self.clock.now();
        session.status = SessionStatus::Ending;
        session.ending = Some(Ending {
            at: now,
            by: by.to_string(),
            reason: reason.to_string(),
            outcome,
            revoked_at: None,
        });
        session.version += 1;
        match self.sessions.save(&session, Some(now + END_LEASE)).await {
            Ok(()) => Ok(Ok(session)),
            Err(StoreError::Conflict(_)) => {
                let current = self.sessions.get(&session.id).await?;
                current
                    .map(Err)
                    .ok_or_else(|| SessionError::NotFound(session.id.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The account of a batch of sessions (one account's), reached once: its secret opened
    /// once, IAM, and Session Manager when the batch holds shell sessions. `Err` says why not
    /// (then every revocation there fails and stays due).
    async fn reach(&self, sessions: &[Session]) -> Result<Reach, String> {
        let Some(first) = sessions.first() else {
            return Err("no session".into());
        };
        let step = |(step, e): (String, crate::ports::CloudError)| format!("{step}: {e}");
        // The account and its settings in one read: the console cut's roles and the shell
        // recording come with it. Settings that cannot be read (an item that does not decode)
        // must not stop the ends: then the account alone, and each setting read where needed.
        let (account, settings) = match self.accounts.get_with_settings(&first.account_id).await {
            Ok(read) => (read.account, Some((read.jit, read.shell))),
            Err(e) => {
                tracing::warn!(error = %e, "reading the account with its settings failed; reading it alone");
                let account = self.accounts.get(&first.account_id).await.map_err(|e| e.to_string())?;
                (account, None)
            }
        };
        let account = account.ok_or_else(|| "the account is gone".to_string())?;
        let (allowed_roles, shell_settings) = match settings {
            Some((jit, shell)) => (Some(jit.map(|j| j.allowed_roles).unwrap_or_default()), Some(shell)),
            None => (None, None),
        };
        let access = self.target.opened(&account).await.map_err(step)?;
        let iam = self.target.iam_with(&access).await.map_err(step)?;
        // Session Manager: shell sessions' own, and the ones JIT credentials may have opened
        // (their session policy keeps those in the account's default Region). Reached for the
        // most any session of the batch needs.
        let needs = sessions.iter().map(|s| kinds::room(s.kind).at_end()).max();
        let shell = if needs == Some(SsmAtEnd::Close) {
            let conn = self.target.shell_with(&access).await.map_err(step);
            let recording = match shell_settings {
                Some(settings) => Ok(settings),
                None => self.accounts.get_shell(&account.id).await.map_err(|e| e.to_string()),
            };
            match (conn, recording) {
                (Ok(conn), Ok(settings)) => Ok(ShellReach {
                    conn,
                    recording: settings.map(|s| s.recording),
                }),
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        } else if needs == Some(SsmAtEnd::Sweep) {
            self.target
                .shell_with(&access)
                .await
                .map(|conn| ShellReach { conn, recording: None })
                .map_err(step)
        } else {
            Err("no shell or JIT session in this batch".into())
        };
        Ok(Reach {
            iam,
            shell,
            allowed_roles,
        })
    }

    /// Revokes claimed sessions of one account (batched per role), then logs and finishes
    /// each (over its log as `tails` read it, where one was); a failed one is scheduled for a
    /// retry through the due index.
    async fn complete_ends(
        &self,
        sessions: Vec<Session>,
        tails: Vec<Option<LogTail>>,
        reach: Result<&Reach, &String>,
    ) -> Vec<Result<Session, SessionError>> {
        let mut revoked = match reach {
            Ok(r) => self.revoke_all(&sessions, &*r.iam, r.allowed_roles.as_deref()).await,
            Err(e) => sessions.iter().map(|_| Err(format!("connect: {e}"))).collect(),
        };
        let shell = match reach {
            Ok(r) => r.shell.as_ref().map_err(Clone::clone),
            Err(e) => Err(format!("connect: {e}")),
        };
        // Revoked first, so no new Session Manager session can open; then the live ones,
        // which outlive their credentials, are terminated (also when the deny failed: what is
        // live goes either way). A session opened while IAM still propagated the deny is found
        // by a second sweep, `SHELL_SWEEP_AFTER` after the end began.
        let mut sessions = sessions;
        let now = self.clock.now();
        let mut sweep_again: Vec<Option<OffsetDateTime>> = sessions.iter().map(|_| None).collect();
        let closes = sessions
            .iter_mut()
            .zip(revoked.iter_mut())
            .zip(sweep_again.iter_mut())
            .filter(|((s, _), _)| kinds::room(s.kind).at_end() == SsmAtEnd::Close)
            .map(|((session, result), again)| async {
                let closed = match &shell {
                    Ok(reach) => self.close_shell_sessions(session, reach).await,
                    Err(e) => Err(e.clone()),
                };
                match closed {
                    Err(e) => {
                        *result = Err(match result {
                            Err(before) => format!("{before}; {e}"),
                            Ok(()) => e,
                        })
                    }
                    Ok(()) => {
                        let began = session.ending.as_ref().map_or(now, |e| e.at);
                        if result.is_ok() && now < began + SHELL_SWEEP_AFTER {
                            *again = Some(began + SHELL_SWEEP_AFTER);
                        }
                    }
                }
            });
        // A batch may hold hundreds of sessions: Session Manager's reads and terminations go
        // as many at a time as the other per-session steps, not all at once (its API rates).
        use futures::StreamExt;
        // Collected first: a stream over the lazy `map` would hold its closure across the
        // awaits, which the compiler cannot prove `Send` for every lifetime.
        let closes: Vec<_> = closes.collect();
        futures::stream::iter(closes)
            .buffer_unordered(SESSIONS_AT_ONCE)
            .collect::<Vec<()>>()
            .await;
        // JIT credentials may have opened Session Manager sessions (a shell, a port forward, ECS
        // Exec) whose data channel outlives the deny: terminated too. Best effort: an account
        // that does not let the broker list or terminate them still has the deny.
        let sweeps = sessions
            .iter_mut()
            .zip(revoked.iter())
            .filter(|(s, result)| kinds::room(s.kind).at_end() == SsmAtEnd::Sweep && result.is_ok())
            .map(|(session, _)| async {
                match &shell {
                    Ok(reach) => self.close_jit_ssm_sessions(session, reach).await,
                    Err(e) => tracing::warn!(session = %session.id, error = %e, "Session Manager not reached; the JIT session's own sessions, if any, were not swept"),
                }
            });
        let sweeps: Vec<_> = sweeps.collect();
        futures::stream::iter(sweeps)
            .buffer_unordered(SESSIONS_AT_ONCE)
            .collect::<Vec<()>>()
            .await;
        let tails = tails.into_iter().chain(std::iter::repeat_with(|| None));
        futures::stream::iter(sessions.into_iter().zip(revoked).zip(sweep_again).zip(tails))
            .map(|(((session, result), again), tail)| async move {
                match again {
                    Some(at) => self.sweep_later(session, at).await,
                    None => self.finish_end(session, result, tail).await,
                }
            })
            .buffered(SESSIONS_AT_ONCE)
            .collect()
            .await
    }

    /// A shell session whose credentials are revoked and whose live Session Manager sessions
    /// are terminated stays `ending`, due again at `at` for the sweep that finishes it.
    async fn sweep_later(&self, mut session: Session, at: OffsetDateTime) -> Result<Session, SessionError> {
        session.last_error = None;
        session.version += 1;
        self.sessions.save(&session, Some(at)).await?;
        tracing::info!(session = %session.id, "shell session revoked and terminated; swept again before it ends");
        Ok(session)
    }

    /// Logs and finishes a claimed session whose revocation went as `revoked` says.
    async fn finish_end(
        &self,
        mut session: Session,
        revoked: Result<(), String>,
        tail: Option<LogTail>,
    ) -> Result<Session, SessionError> {
        if let Err(e) = revoked {
            session.revocation_failures += 1;
            session.last_error = Some(e.clone());
            let attempt = session.revocation_failures;
            if attempt >= REPORT_AFTER_FAILURES {
                tracing::error!(session = %session.id, attempts = attempt, error = %e, alarm = "revocation-failing", "revocation keeps failing: access may still be live");
            } else {
                tracing::warn!(session = %session.id, attempts = attempt, error = %e, "revocation failed; will retry");
            }
            let event = self.session_event(
                "revocation_failed",
                format!("{}:revocation_failed:{attempt}", session.id),
                &session,
                json!({ "attempt": attempt, "error": e }),
            );
            if let Ok(head) = self.record(&session.log_key, event).await {
                session.log_head = head;
            }
            session.version += 1;
            // Back off a minute per failure, up to ten.
            let retry_at = self.clock.now() + Duration::from_secs(60 * u64::from(attempt.min(10)));
            self.sessions.save(&session, Some(retry_at)).await?;
            return Err(SessionError::RevocationFailed(e));
        }
        let Some(ending) = session.ending.clone() else {
            // A claim always records its ending; a stored session without one is corrupt.
            return Err(SessionError::Unavailable(format!(
                "session {} is ending with no ending recorded",
                session.id
            )));
        };
        let event = self.session_event(
            ending.outcome.as_str(),
            format!("{}:end", session.id),
            &session,
            json!({ "ended_at": rfc3339(ending.at), "ended_by": ending.by, "end_reason": ending.reason, "revoked": true }),
        );
        // Logged first (the bus never announces an end the log lacks); then the bus and the
        // record's finish at once, one round trip less on every end.
        match self
            .log
            .append_over(&session.log_key, tail.as_ref(), event.clone())
            .await
        {
            Ok(head) => session.log_head = head,
            Err(e) => {
                // Access is revoked; the end still has to be logged, so keep it due for a retry.
                session.last_error = Some(e.to_string());
                session.version += 1;
                self.sessions
                    .save(&session, Some(self.clock.now() + Duration::from_secs(60)))
                    .await?;
                return Err(SessionError::Unavailable(format!(
                    "access was revoked but the end could not be logged: {e}"
                )));
            }
        }
        session.status = ending.outcome;
        session.last_error = None;
        session.version += 1;
        if let Some(e) = session.ending.as_mut() {
            e.revoked_at = Some(self.clock.now());
        }
        // Its calls are copied into the log once CloudTrail has delivered them (`activity`).
        session.activity_due_at = crate::domain::activity::snapshot_due(&session);
        let (finished, ()) = futures::join!(self.sessions.finish(&session), self.publish(&event));
        finished?;
        tracing::info!(session = %session.id, outcome = session.status.as_str(), "session ended");
        Ok(session)
    }

    /// One expirer run: ends every session whose time is up and retries ends that failed or
    /// were interrupted. Idempotent and safe to overlap with other runs and with early ends.
    ///
    /// Accounts are worked on concurrently (up to `EXPIRER_ACCOUNTS_AT_ONCE`), each with one
    /// connection; within an account the run claims every due session first, then revokes
    /// them per role in one batch.
    pub async fn expire_due(&self, limit: u32) -> Result<ExpiryReport, SessionError> {
        use futures::StreamExt;
        let now = self.clock.now();
        let due = self.sessions.due(now, limit).await?;
        let lag_seconds = due
            .sessions
            .iter()
            .filter_map(Session::due_at)
            .min()
            .map_or(0, |oldest| (now - oldest).whole_seconds().max(0));
        let mut by_account: BTreeMap<String, Vec<Session>> = BTreeMap::new();
        let (pending, live): (Vec<Session>, Vec<Session>) = due
            .sessions
            .into_iter()
            .partition(|s| s.status == SessionStatus::Pending);
        let lapsed: Vec<_> = futures::stream::iter(pending)
            .map(|s| self.lapse(s, now))
            .buffer_unordered(SESSIONS_AT_ONCE)
            .collect()
            .await;
        for session in live {
            by_account
                .entry(session.account_id.to_string())
                .or_default()
                .push(session);
        }
        let reports: Vec<ExpiryReport> = futures::stream::iter(by_account.into_values())
            .map(|sessions| self.expire_account(sessions, now))
            .buffer_unordered(EXPIRER_ACCOUNTS_AT_ONCE)
            .collect()
            .await;
        let mut report = ExpiryReport {
            items_read: due.read,
            undecodable: due.undecodable,
            lag_seconds,
            ..Default::default()
        };
        for l in lapsed {
            match l {
                Ok(true) => report.lapsed += 1,
                Ok(false) => report.skipped += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "lapsing a request failed; it stays due");
                    report.failed += 1;
                }
            }
        }
        for r in reports {
            report.expired += r.expired;
            report.retried += r.retried;
            report.skipped += r.skipped;
            report.failed += r.failed;
        }
        Ok(report)
    }

    /// The expirer's claim on one due session: `Ok(Ok(_))` when this run won it.
    async fn claim_due(&self, session: Session, now: OffsetDateTime) -> Result<Result<Session, Session>, SessionError> {
        match session.status {
            SessionStatus::Active if session.expires_at <= now => {
                self.claim(session, "expirer", "the session's time is up", SessionStatus::Expired)
                    .await
            }
            // Created and never claim-checked, long past any function's timeout: a start that
            // died midway (whatever it obtained was never handed out). Ended by identity.
            SessionStatus::Active
                if session.version == 1
                    && session.request.is_none()
                    && session.started_at + super::START_LEASE <= now =>
            {
                self.claim(
                    session,
                    "expirer",
                    "the start did not complete; access withdrawn",
                    SessionStatus::Ended,
                )
                .await
            }
            SessionStatus::Ending => {
                // Re-claim (the lease lapsed): the version check lets one run through.
                let mut s = session;
                s.version += 1;
                match self.sessions.save(&s, Some(now + END_LEASE)).await {
                    Ok(()) => Ok(Ok(s)),
                    Err(StoreError::Conflict(_)) => Ok(Err(s)),
                    Err(e) => Err(e.into()),
                }
            }
            _ => Ok(Err(session)),
        }
    }

    /// Claims an account's due sessions, then completes them together.
    async fn expire_account(&self, sessions: Vec<Session>, now: OffsetDateTime) -> ExpiryReport {
        use futures::StreamExt;
        let mut report = ExpiryReport::default();
        let mut claimed = Vec::new();
        let mut retried = Vec::new();
        let claims: Vec<_> = futures::stream::iter(sessions)
            .map(|session| async move {
                let retry = session.status == SessionStatus::Ending;
                (retry, self.claim_due(session, now).await)
            })
            .buffered(SESSIONS_AT_ONCE)
            .collect()
            .await;
        for (retry, won) in claims {
            match won {
                Ok(Ok(s)) => {
                    retried.push(retry);
                    claimed.push(s);
                }
                Ok(Err(_)) => report.skipped += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a due session failed; it stays due");
                    report.failed += 1;
                }
            }
        }
        if claimed.is_empty() {
            return report;
        }
        let reach = self.reach(&claimed).await;
        let done = self.complete_ends(claimed, Vec::new(), reach.as_ref()).await;
        for (result, retry) in done.into_iter().zip(retried) {
            match result {
                Ok(s) if !s.status.is_live() && retry => report.retried += 1,
                Ok(s) if !s.status.is_live() => report.expired += 1,
                Ok(_) => report.skipped += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "expiring a session failed; it stays due");
                    report.failed += 1;
                }
            }
        }
        report
    }
}
