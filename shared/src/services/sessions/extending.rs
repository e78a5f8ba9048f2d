//! Extending a live session: its end moves later under the same policy (it may need
//! approval), it keeps its id and log, and a JIT session gets fresh credentials valid until
//! the new end, issued before the old ones run out: no gap. The old credentials are left to
//! expire; both carry the session's role session name, so ending the session revokes both.
//! What each kind checks and issues is its room's (`kinds`); the claim, its undoing, the
//! claim check and the log are this module's.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::{Checked, Granted, SessionService, kinds, rfc3339};
use crate::auth::Principal;
use crate::authz::{self, Action, Target};
use crate::domain::policy::{self, Decision, NoGrant};
use crate::domain::{
    Account, ApprovalRequest, Email, Extension, JitSettings, MAX_SESSION_SECONDS, MIN_SESSION_SECONDS, ManagedUser,
    PendingExtension, Session, SessionId, SessionStatus,
};
use crate::ports::{CloudError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ExtendError {
    #[error("{0}")]
    Denied(String),
    #[error("no session {0}")]
    NotFound(SessionId),
    /// Ended, ending, or never started (409).
    #[error("{0}")]
    NotActive(String),
    #[error("an extension of this session is already waiting for approval")]
    AlreadyPending,
    #[error("{detail}")]
    Refused { slug: &'static str, detail: String },
    #[error("{step} failed: {error}")]
    Cloud { step: String, error: CloudError },
    #[error("session {0} was ended while it was being extended; no credentials were handed out")]
    EndedWhileExtending(SessionId),
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for ExtendError {
    fn from(e: StoreError) -> Self {
        ExtendError::Unavailable(e.to_string())
    }
}

pub(super) fn refused(slug: &'static str, detail: impl Into<String>) -> ExtendError {
    ExtendError::Refused {
        slug,
        detail: detail.into(),
    }
}

/// What the checks of an extension established, for its grant: no second read of them.
pub(super) struct ExtensionChecked {
    /// At once, or after approvals.
    pub(super) decision: Decision,
    account: Account,
    jit: JitSettings,
    /// A JIT session's IAM user, with the credential its fresh credentials are assumed with.
    iam_user: Option<ManagedUser>,
}

/// What `extend` did.
#[derive(Debug)]
pub enum Extended {
    /// Extended; a JIT session's fresh credentials (console sessions keep their password).
    Now(Session, Option<Granted>),
    /// Waiting for approval; the fresh credentials come once, on the requester's `GET`.
    Pending(Session),
}

impl SessionService {
    /// Extends `id` by `duration_seconds` past its current end, or asks for approval to.
    pub async fn extend(
        &self,
        principal: &Principal,
        id: &SessionId,
        duration_seconds: i64,
        reason: &str,
        on_behalf_of: Option<&Email>,
    ) -> Result<Extended, ExtendError> {
        let user = authz::acting_user(principal, on_behalf_of, Action::ExtendSession)
            .map_err(|d| ExtendError::Denied(d.0))?
            .ok_or_else(|| ExtendError::Denied("extending needs a platform identity".into()))?;
        let mut session = self
            .sessions
            .get(id)
            .await?
            .ok_or_else(|| ExtendError::NotFound(id.clone()))?;
        authz::decide(
            principal,
            Action::ExtendSession,
            Some(&user),
            Target {
                account: None,
                owner: Some(&session.user),
                approvers: None,
            },
            &[],
        )
        .map_err(|d| ExtendError::Denied(d.0))?;
        if session.status != SessionStatus::Active {
            return Err(ExtendError::NotActive(format!(
                "session {id} is {}; only active sessions are extended",
                session.status.as_str()
            )));
        }
        if session
            .pending_extension
            .as_ref()
            .is_some_and(|p| p.approval.is_pending(self.clock.now()))
        {
            return Err(ExtendError::AlreadyPending);
        }
        if !(MIN_SESSION_SECONDS as i64..=MAX_SESSION_SECONDS as i64).contains(&duration_seconds) {
            return Err(refused(
                "invalid-duration",
                format!("duration_seconds must be between {MIN_SESSION_SECONDS} and {MAX_SESSION_SECONDS}"),
            ));
        }
        let duration = duration_seconds as u32;
        let now = self.clock.now();
        let new_end = session.expires_at + Duration::from_secs(duration.into());
        let remaining = (new_end - now).whole_seconds().max(0) as u32;
        if session.expires_at <= now {
            return Err(ExtendError::NotActive(format!(
                "session {id}'s time is up; it is being ended"
            )));
        }
        let checked = self.check_extension(&session, remaining).await?;
        let approval = match checked.decision.clone() {
            Decision::Approval(a) => Some(a),
            Decision::Automatic | Decision::BreakGlass { .. } => None,
        };
        let approvals_required = approval.as_ref().map_or(0, |a| a.approvals_required);
        session.pending_extension = Some(PendingExtension {
            duration_seconds: duration,
            reason: reason.to_string(),
            requested_by: principal.subject.clone(),
            approval: ApprovalRequest {
                approvals_required,
                approver_groups: approval.map(|a| a.approver_groups).unwrap_or_default(),
                approvals: Vec::new(),
                requested_at: now,
                // Nothing to extend once the session has ended.
                lapses_at: (now + self.request_lapse).min(session.expires_at),
                decided: None,
            },
        });
        if approvals_required > 0 {
            session.version += 1;
            match self.sessions.save(&session, None).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => {
                    return Err(ExtendError::NotActive("the session changed meanwhile; retry".into()));
                }
                Err(e) => return Err(e.into()),
            }
            let tag = session
                .pending_extension
                .as_ref()
                .map(super::requests::extension_tag)
                .unwrap_or_default();
            let event = self.session_event(
                "extension_requested",
                format!("{id}:{tag}:requested"),
                &session,
                json!({
                    "duration_seconds": duration,
                    "reason": reason,
                    "by": principal.subject,
                    "approvals_required": approvals_required,
                    "lapses_at": session.pending_extension.as_ref().map(|p| rfc3339(p.approval.lapses_at)),
                }),
            );
            self.log_and_keep_head(&mut session, event).await;
            return Ok(Extended::Pending(session));
        }
        self.apply_extension_claim(&mut session, now);
        session.version += 1;
        match self.sessions.save(&session, None).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(ExtendError::NotActive("the session changed meanwhile; retry".into()));
            }
            Err(e) => return Err(e.into()),
        }
        let (session, granted) = self.extension_grant(session, checked).await?;
        Ok(Extended::Now(
            session,
            granted.map(|g| super::starting::relayable(principal, g)),
        ))
    }

    /// What an extension lasting `remaining` seconds from now needs, checked as a start is:
    /// the account active with JIT on and the role still allowed, the user's groups covering it
    /// for that long (the decision says whether approval is needed), the role's maximum. Made
    /// when an extension is asked for and again by the approval that completes it, before the
    /// session's end moves: a check failing after it would leave an extension with nothing issued.
    pub(super) async fn check_extension(
        &self,
        session: &Session,
        remaining: u32,
    ) -> Result<ExtensionChecked, ExtendError> {
        let room = kinds::room(session.kind);
        room.extendable()?;
        let groups = self.groups.groups_of(&session.user).await?;
        let account = self
            .accounts
            .get(&session.account_id)
            .await?
            .ok_or_else(|| ExtendError::NotActive("the session's account is gone".into()))?;
        let jit = self.accounts.get_jit(&account.id).await?.unwrap_or_default();
        if !jit.active {
            return Err(refused(
                "account-inactive",
                format!("access to account {} is not active", account.id),
            ));
        }
        room.check_extension_settings(session, &jit)?;
        let asked = policy::Asked {
            account: &account.id,
            kind: session.kind,
            role: session.role.as_ref(),
            permission_set: session.identity_center.as_ref().map(|ic| &ic.permission_set),
            duration_seconds: remaining,
            break_glass: false,
        };
        let decision = policy::choose(&groups, &asked, jit.max_duration.seconds()).map_err(|no| match no {
            NoGrant::NotGranted(why) => ExtendError::Denied(why),
            NoGrant::TooLong { max } => refused(
                "invalid-duration",
                format!("extended, the session would last {remaining} s from now; your access allows at most {max} s"),
            ),
        })?;
        let iam_user = room.extension_user(self, session, &account, remaining).await?;
        Ok(ExtensionChecked {
            decision,
            account,
            jit,
            iam_user,
        })
    }

    /// Moves the session's end for its pending extension (recorded before any credential is
    /// issued, like a start). JIT credentials are counted as living until the new end at once,
    /// so an end racing the extension keeps its deny long enough for them.
    pub(super) fn apply_extension_claim(&self, session: &mut Session, now: OffsetDateTime) {
        let Some(p) = session.pending_extension.take() else {
            return;
        };
        let new_end = session.expires_at + Duration::from_secs(p.duration_seconds.into());
        session.extensions.push(Extension {
            at: now,
            by: p.requested_by,
            duration_seconds: p.duration_seconds,
            reason: p.reason,
            expires_at: new_end,
        });
        session.expires_at = new_end;
        session.duration_seconds = (new_end - session.started_at).whole_seconds().max(0) as u32;
        kinds::room(session.kind).extension_claimed(session, new_end);
    }

    /// Takes back an extension whose credentials could not be issued (version-conditional: an
    /// end that won meanwhile stands). `credentials_expire_at` stays: it only widens a deny.
    async fn undo_extension(&self, mut session: Session, why: &str) {
        let Some(e) = session.extensions.pop() else {
            return;
        };
        session.expires_at = e.expires_at - Duration::from_secs(e.duration_seconds.into());
        session.duration_seconds = (session.expires_at - session.started_at).whole_seconds().max(0) as u32;
        session.version += 1;
        if let Err(err) = self.sessions.save(&session, None).await {
            tracing::warn!(session = %session.id, error = %err, "taking back a failed extension failed");
            return;
        }
        let event = self.session_event(
            "extension_failed",
            format!("{}:extension-failed-{}", session.id, e.at.unix_timestamp_nanos()),
            &session,
            json!({ "why": why, "expires_at": rfc3339(session.expires_at) }),
        );
        self.log_and_keep_head(&mut session, event).await;
    }

    /// After the claim: a JIT session's fresh credentials (valid until the new end), then the
    /// `extended` event. A console session keeps its password.
    pub(super) async fn extension_grant(
        &self,
        mut session: Session,
        checked: ExtensionChecked,
    ) -> Result<(Session, Option<Granted>), ExtendError> {
        let id = session.id.clone();
        let extension = session.extensions.last().cloned();
        let ExtensionChecked {
            account, jit, iam_user, ..
        } = checked;
        let granted = if let Some(iam_user) = iam_user {
            let now = self.clock.now();
            let remaining = (session.expires_at - now).whole_seconds().max(0) as u32;
            // The credentials asked for last from now to the session's (new) end.
            let mut asking = session.clone();
            asking.duration_seconds = remaining;
            let checked = Checked {
                iam_user: Some(iam_user),
                identity_center: session.identity_center.clone(),
                jit,
                duration: remaining,
                switch_roles: Vec::new(),
                decision: Decision::Automatic,
                shell: None,
            };
            let granted = match self.grant(&account, &asking, &checked, None, true).await {
                Ok(g) => g,
                Err((step, error)) => {
                    // Nothing was issued: the session's end goes back to where it was, so the
                    // record does not claim time its credentials do not have.
                    self.undo_extension(session, &format!("{step} failed: {error}")).await;
                    return Err(ExtendError::Cloud { step, error });
                }
            };
            if let Granted::Jit { credentials, .. } | Granted::Shell { credentials, .. } = &granted {
                session.credentials_expire_at = Some(
                    session
                        .credentials_expire_at
                        .map_or(credentials.expiration, |t| t.max(credentials.expiration)),
                );
            }
            // The claim check, as for a start: an end that won meanwhile revoked the session
            // by identity, which covers these credentials; hand nothing out.
            session.version += 1;
            let mut saved = self.sessions.save(&session, None).await;
            // A conflict is an end that won only if the session is no longer this extension's:
            // another request's log-head catch-up (see `log_and_keep_head`) also moves the
            // version of an active session, and writes nothing else.
            for _ in 0..3 {
                if !matches!(saved, Err(StoreError::Conflict(_))) {
                    break;
                }
                match self.sessions.get(&id).await {
                    Ok(Some(mut current))
                        if current.status == SessionStatus::Active
                            && current.expires_at == session.expires_at
                            && current.extensions.len() == session.extensions.len() =>
                    {
                        current.credentials_expire_at = session.credentials_expire_at;
                        if let Some(head) = self.log_head_now(&current.log_key).await {
                            current.log_head = head;
                        }
                        current.version += 1;
                        saved = self.sessions.save(&current, None).await;
                        if saved.is_ok() {
                            session = current;
                        }
                    }
                    _ => break,
                }
            }
            match saved {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => return Err(ExtendError::EndedWhileExtending(id)),
                Err(e) => return Err(e.into()),
            }
            Some(granted)
        } else {
            None
        };
        let tag = format!("extension{}", session.extensions.len());
        let event = self.session_event(
            "extended",
            format!("{id}:{tag}:extended"),
            &session,
            json!({
                "by": extension.as_ref().map(|e| e.by.clone()),
                "reason": extension.as_ref().map(|e| e.reason.clone()),
                "duration_seconds": extension.as_ref().map(|e| e.duration_seconds),
                "expires_at": rfc3339(session.expires_at),
                "previous_expires_at": extension.as_ref().map(|e| rfc3339(e.expires_at - Duration::from_secs(e.duration_seconds.into()))),
                "credentials_expire_at": session.credentials_expire_at.map(rfc3339),
            }),
        );
        self.log_and_keep_head(&mut session, event).await;
        tracing::info!(session = %id, expires_at = %rfc3339(session.expires_at), "session extended");
        Ok((session, granted))
    }
}
