//! Requests waiting for approval (a start or an extension): approvals, denials, cancels,
//! lapses; and break-glass reviews.
//!
//! Every decision is a version-conditional write of the session's record, retried after
//! reading it again when another decision got there first: any number of concurrent
//! approvals, denials and cancels produce one outcome, and only the write that completes
//! the approvals grants (once).

use serde_json::json;
use time::OffsetDateTime;

use super::{SessionService, StartError, StartRequest, kinds, rfc3339};
use crate::auth::{Principal, Role};
use crate::authz::{self, Action, Target};
use crate::domain::{
    AccessGroup, ApprovalRequest, Email, Outcome, Review, Session, SessionId, SessionStatus, Vote, VoteRefused,
};
use crate::ports::{Page, PageRequest, SessionFilter, StoreError};

/// Decisions racing on one request retry at most this often (each retry follows a write
/// that succeeded, so this bounds the contention, not the work).
const MAX_TRIES: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    Denied(String),
    #[error("no session {0}")]
    NotFound(SessionId),
    /// Decided already, lapsed, or never a request (409).
    #[error("{0}")]
    NotPending(String),
    #[error("your approval is already counted")]
    AlreadyApproved,
    #[error("this break-glass session was already reviewed")]
    AlreadyReviewed,
    #[error("only break-glass sessions are reviewed")]
    NotBreakGlass,
    #[error("too many concurrent decisions on this request; retry")]
    Busy,
    #[error("the cursor is not one this API returned")]
    BadCursor,
    /// The last approval could not start the session (checks or the grant failed).
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Extend(#[from] super::extending::ExtendError),
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for RequestError {
    fn from(e: StoreError) -> Self {
        RequestError::Unavailable(e.to_string())
    }
}

impl From<super::SessionError> for RequestError {
    fn from(e: super::SessionError) -> Self {
        match e {
            super::SessionError::Denied(d) => RequestError::Denied(d),
            super::SessionError::NotFound(id) => RequestError::NotFound(id),
            other => RequestError::Unavailable(other.to_string()),
        }
    }
}

impl From<VoteRefused> for RequestError {
    fn from(e: VoteRefused) -> Self {
        match e {
            VoteRefused::NotPending(why) => RequestError::NotPending(why),
            VoteRefused::AlreadyApproved => RequestError::AlreadyApproved,
        }
    }
}

/// What the approval completing a request found when it checked it again.
enum Rechecked {
    Start(crate::domain::Account, super::Checked),
    Extension(super::extending::ExtensionChecked),
}

impl Rechecked {
    fn decision(&self) -> &crate::domain::policy::Decision {
        match self {
            Rechecked::Start(_, checked) => &checked.decision,
            Rechecked::Extension(checked) => &checked.decision,
        }
    }
}

/// Which of a session's requests is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Start,
    Extension,
}

fn open_request(s: &Session) -> Result<Which, RequestError> {
    match (s.status, &s.pending_extension) {
        (SessionStatus::Pending, _) => Ok(Which::Start),
        (SessionStatus::Active, Some(_)) => Ok(Which::Extension),
        (status, _) => Err(RequestError::NotPending(format!(
            "session {} has no pending request (it is {})",
            s.id,
            status.as_str()
        ))),
    }
}

/// A copy of the session's open request, if it has one.
fn open_request_of(s: &Session) -> Option<ApprovalRequest> {
    let which = open_request(s).ok()?;
    Some(request_mut(&mut s.clone(), which).clone())
}

/// An extension request's name in event ids.
pub(super) fn extension_tag(p: &crate::domain::PendingExtension) -> String {
    format!("extension-{}", p.approval.requested_at.unix_timestamp_nanos())
}

fn request_mut(s: &mut Session, which: Which) -> &mut ApprovalRequest {
    match which {
        Which::Start => s.request.as_mut().expect("a pending session records its request"),
        Which::Extension => &mut s.pending_extension.as_mut().expect("checked").approval,
    }
}

impl SessionService {
    /// Who decides: the caller, or the user a bot acts for.
    fn decider(
        &self,
        principal: &Principal,
        on_behalf_of: Option<&Email>,
        action: Action,
    ) -> Result<Email, RequestError> {
        authz::acting_user(principal, on_behalf_of, action)
            .map_err(|d| RequestError::Denied(d.0))?
            .ok_or_else(|| RequestError::Denied("this needs a platform identity (an e-mail)".into()))
    }

    fn may_decide(
        principal: &Principal,
        decider: &Email,
        s: &Session,
        approvers: &[crate::domain::GroupId],
        groups: &[AccessGroup],
    ) -> Result<(), RequestError> {
        authz::decide(
            principal,
            Action::DecideRequest,
            Some(decider),
            Target {
                account: None,
                owner: Some(&s.user),
                approvers: Some(approvers),
            },
            groups,
        )
        .map(|_| ())
        .map_err(|d| RequestError::Denied(d.0))
    }

    /// Counts an approval; the one that completes the request starts the session (or applies
    /// the extension) for the requester, whose answer waits for their `GET`.
    pub async fn approve(
        &self,
        principal: &Principal,
        id: &SessionId,
        reason: &str,
        on_behalf_of: Option<&Email>,
    ) -> Result<Session, RequestError> {
        let approver = self.decider(principal, on_behalf_of, Action::DecideRequest)?;
        let groups = self.groups.groups_of(&approver).await?;
        let via = (principal.role == Role::Bot).then(|| principal.subject.clone());
        for _ in 0..MAX_TRIES {
            let mut session = self.session_or_404(id).await?;
            let now = self.clock.now();
            let which = open_request(&session)?;
            let tag = self.request_tag(&session, which);
            let approvers = request_mut(&mut session, which).approver_groups.clone();
            Self::may_decide(principal, &approver, &session, &approvers, &groups)?;
            let vote = Vote {
                by: approver.clone(),
                via: via.clone(),
                at: now,
                reason: reason.to_string(),
            };
            let mut complete = request_mut(&mut session, which).approve(vote, now)?;
            // The completing approval checks again that the request can be granted as it
            // stands now (groups, policy, account, user), before anything is written; a policy
            // that now asks for more approvals keeps the request open for them.
            let rechecked = match (complete, which) {
                (true, Which::Start) => {
                    let (account, checked) = self.recheck(&session).await?;
                    // A shell grant assumes the shell role the settings name now.
                    if let Some(shell) = &checked.shell {
                        session.role = Some(shell.role.clone());
                    }
                    // An Identity Center grant is of the access as found now (access the user
                    // was given outside the broker while the request waited included).
                    if checked.identity_center.is_some() {
                        session.identity_center = checked.identity_center.clone();
                    }
                    Some(Rechecked::Start(account, checked))
                }
                (true, Which::Extension) => {
                    let p = session.pending_extension.as_ref().expect("an open extension");
                    let end = session.expires_at + std::time::Duration::from_secs(p.duration_seconds.into());
                    let remaining = (end - now).whole_seconds().max(0) as u32;
                    Some(Rechecked::Extension(self.check_extension(&session, remaining).await?))
                }
                (false, _) => None,
            };
            if let Some(crate::domain::policy::Decision::Approval(a)) = rechecked.as_ref().map(Rechecked::decision) {
                let request = request_mut(&mut session, which);
                if a.approvals_required as usize > request.approvals.len() {
                    request.approvals_required = a.approvals_required;
                    request.approver_groups = a.approver_groups.clone();
                    request.decided = None;
                    complete = false;
                }
            }
            let request = request_mut(&mut session, which).clone();
            match (complete, which) {
                (true, Which::Start) => {
                    session.status = SessionStatus::Active;
                    session.started_at = now;
                    session.expires_at = now + std::time::Duration::from_secs(session.duration_seconds.into());
                }
                (true, Which::Extension) => self.apply_extension_claim(&mut session, now),
                (false, _) => {}
            }
            session.version += 1;
            match self.sessions.save(&session, None).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            let event = self.session_event(
                if complete { "approved" } else { "approval" },
                if complete {
                    format!("{id}:{tag}:approved")
                } else {
                    format!("{id}:{tag}:approval:{approver}")
                },
                &session,
                json!({
                    "by": approver.to_string(),
                    "via": via,
                    "reason": reason,
                    "extension": which == Which::Extension,
                    "approvals": request.approvals.len(),
                    "approvals_required": request.approvals_required,
                    "approvers": request.approvals.iter().map(|v| v.by.to_string()).collect::<Vec<_>>(),
                }),
            );
            tracing::info!(session = %id, approvals = request.approvals.len(), complete, "approval counted");
            if !complete {
                self.log_and_keep_head(&mut session, event).await;
                return Ok(session);
            }
            // The grant's own writes record the log's head (and are the claim check: a session
            // ended meanwhile hands nothing out).
            match self.record(&session.log_key, event).await {
                Ok(head) => session.log_head = head,
                Err(e) => tracing::error!(session = %id, error = %e, "logging an approval failed"),
            }
            return match rechecked.expect("a completing approval was checked again") {
                Rechecked::Start(account, checked) => {
                    let (session, granted) = self.hand_out(&account, session, &checked, None).await?;
                    if let Err(e) = self.hold_for_requester(&session, &granted).await {
                        self.withdraw(session, &format!("the approved answer could not be held ({e})"))
                            .await;
                        return Err(RequestError::Unavailable(e));
                    }
                    Ok(session)
                }
                Rechecked::Extension(checked) => {
                    let (session, granted) = self.extension_grant(session, checked).await?;
                    if let Some(granted) = granted
                        && let Err(e) = self.hold_for_requester(&session, &granted).await
                    {
                        // The old credentials still work until their end: nothing is lost
                        // but the fresh ones, which the requester can extend again for.
                        tracing::error!(session = %id, error = %e, "the extension's fresh credentials could not be held");
                        return Err(RequestError::Unavailable(e));
                    }
                    Ok(session)
                }
            };
        }
        Err(RequestError::Busy)
    }

    /// Denies (an approver) or cancels (the requester) the open request.
    pub async fn close_request(
        &self,
        principal: &Principal,
        id: &SessionId,
        outcome: Outcome,
        reason: &str,
        on_behalf_of: Option<&Email>,
    ) -> Result<Session, RequestError> {
        let action = match outcome {
            Outcome::Cancelled => Action::CancelRequest,
            _ => Action::DecideRequest,
        };
        let who = self.decider(principal, on_behalf_of, action)?;
        let groups = match action {
            Action::DecideRequest => self.groups.groups_of(&who).await?,
            _ => Vec::new(),
        };
        let allowed = |session: &mut Session, which: Which| {
            if action == Action::DecideRequest {
                let approvers = request_mut(session, which).approver_groups.clone();
                Self::may_decide(principal, &who, session, &approvers, &groups)
            } else {
                authz::decide(
                    principal,
                    action,
                    Some(&who),
                    Target {
                        account: None,
                        owner: Some(&session.user),
                        approvers: None,
                    },
                    &[],
                )
                .map(|_| ())
                .map_err(|d| RequestError::Denied(d.0))
            }
        };
        self.close_as(id, outcome, who.as_str(), reason, allowed).await
    }

    /// Withdraws a request that never started, for an end (`DELETE /sessions/{id}`) already
    /// authorized: ending what was never granted is cancelling it, so no later approval grants.
    pub(super) async fn withdraw_request(
        &self,
        id: &SessionId,
        by: &str,
        reason: &str,
    ) -> Result<Session, RequestError> {
        let only_the_start = |_: &mut Session, which: Which| match which {
            Which::Start => Ok(()),
            Which::Extension => Err(RequestError::NotPending("the session is active".into())),
        };
        self.close_as(id, Outcome::Cancelled, by, reason, only_the_start).await
    }

    /// Closes the open request of `id` as `outcome`, once `allowed` says so, with the
    /// version-conditional write every decision makes (retried after a concurrent one).
    async fn close_as(
        &self,
        id: &SessionId,
        outcome: Outcome,
        who: &str,
        reason: &str,
        allowed: impl Fn(&mut Session, Which) -> Result<(), RequestError>,
    ) -> Result<Session, RequestError> {
        for _ in 0..MAX_TRIES {
            let mut session = self.session_or_404(id).await?;
            let now = self.clock.now();
            let which = open_request(&session)?;
            let tag = self.request_tag(&session, which);
            allowed(&mut session, which)?;
            request_mut(&mut session, which).close(outcome, who, reason, now)?;
            session.version += 1;
            let saved = match which {
                Which::Start => {
                    session.status = match outcome {
                        Outcome::Denied => SessionStatus::Denied,
                        _ => SessionStatus::Cancelled,
                    };
                    // Terminal: out of the due index, its console lock released.
                    self.sessions.finish(&session).await
                }
                Which::Extension => {
                    session.pending_extension = None;
                    self.sessions.save(&session, None).await
                }
            };
            match saved {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            let event = self.session_event(
                outcome.as_str(),
                format!("{id}:{tag}:{}", outcome.as_str()),
                &session,
                json!({ "by": who, "reason": reason, "extension": which == Which::Extension }),
            );
            self.log_and_keep_head(&mut session, event).await;
            return Ok(session);
        }
        Err(RequestError::Busy)
    }

    /// Names a request in event ids: the start, or an extension by when it was asked (a
    /// denied or lapsed one leaves no trace in `extensions`, so a count would repeat).
    fn request_tag(&self, s: &Session, which: Which) -> String {
        match (which, &s.pending_extension) {
            (Which::Extension, Some(p)) => extension_tag(p),
            _ => "start".into(),
        }
    }

    /// The expirer's part: a request nobody decided in time lapses.
    pub(super) async fn lapse(&self, mut session: Session, now: OffsetDateTime) -> Result<bool, RequestError> {
        let Some(request) = session.request.as_mut() else {
            return Ok(false);
        };
        if session.status != SessionStatus::Pending || now < request.lapses_at {
            return Ok(false);
        }
        request.close(Outcome::Lapsed, "expirer", "nobody decided in time", now)?;
        session.status = SessionStatus::Lapsed;
        session.version += 1;
        match self.sessions.finish(&session).await {
            Ok(()) => {}
            // Decided meanwhile: that decision stands.
            Err(StoreError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let event = self.session_event(
            "lapsed",
            format!("{}:start:lapsed", session.id),
            &session,
            json!({ "by": "expirer", "lapsed_at": rfc3339(now) }),
        );
        self.log_and_keep_head(&mut session, event).await;
        Ok(true)
    }

    /// The checks a start makes, made again for the approval that completes its request:
    /// the requester's groups, the account and their IAM user as they are now.
    async fn recheck(&self, s: &Session) -> Result<(crate::domain::Account, super::Checked), StartError> {
        let requester = Principal {
            issuer: "cloud-iam-broker".into(),
            subject: s.requested_by.clone(),
            email: Some(s.user.to_string()),
            role: Role::User,
            acts_for: None,
        };
        let req = StartRequest {
            account: s.account_id.clone(),
            kind: s.kind,
            // A role its settings give (a shell session's) comes from them, as at its start.
            role: s.role.clone().filter(|_| !kinds::room(s.kind).role_from_settings()),
            target: s.target.clone(),
            permission_set: s.identity_center.as_ref().map(|ic| ic.permission_set.clone()),
            duration_seconds: s.duration_seconds.into(),
            reason: s.reason.clone(),
            on_behalf_of: None,
            break_glass: false,
        };
        let gathered = self.gather(&s.user, &s.account_id, false).await?;
        let account = gathered
            .account
            .clone()
            .ok_or_else(|| StartError::AccountNotFound(s.account_id.clone()))?;
        let checked = self.check(&requester, &s.user, &account, &req, &gathered, true).await?;
        Ok((account, checked))
    }

    /// Requests (starts and extensions) waiting for approval that the caller may decide
    /// (admins: all of them).
    pub async fn requests_for(
        &self,
        principal: &Principal,
        on_behalf_of: Option<&Email>,
        page: &PageRequest,
    ) -> Result<Page<Session>, RequestError> {
        let filter = SessionFilter {
            awaiting_approval: true,
            ..Default::default()
        };
        let mut page = self
            .visible_to_decider(principal, on_behalf_of, filter, page, |s| {
                open_request_of(s).map(|r| r.approver_groups).unwrap_or_default()
            })
            .await?;
        // Still open: not lapsed (the expirer lapses starts; an extension lapses by time alone).
        let now = self.clock.now();
        page.items
            .retain(|s| open_request_of(s).is_some_and(|r| r.is_pending(now)));
        Ok(page)
    }

    /// Break-glass sessions not yet reviewed that the caller may review.
    pub async fn reviews_for(
        &self,
        principal: &Principal,
        on_behalf_of: Option<&Email>,
        page: &PageRequest,
    ) -> Result<Page<Session>, RequestError> {
        let filter = SessionFilter {
            unreviewed_break_glass: true,
            ..Default::default()
        };
        self.visible_to_decider(principal, on_behalf_of, filter, page, |s| s.reviewers.clone())
            .await
    }

    async fn visible_to_decider(
        &self,
        principal: &Principal,
        on_behalf_of: Option<&Email>,
        filter: SessionFilter,
        page: &PageRequest,
        approvers: impl Fn(&Session) -> Vec<crate::domain::GroupId>,
    ) -> Result<Page<Session>, RequestError> {
        let who = self.decider(principal, on_behalf_of, Action::DecideRequest)?;
        let listing = self.sessions.list(&filter, page);
        if principal.role == Role::Admin {
            return listing.await?.ok_or(RequestError::BadCursor);
        }
        // The caller's groups decide what they see; read them alongside the page.
        let (groups, page) = futures::join!(self.groups.groups_of(&who), listing);
        let (groups, mut page) = (groups?, page?.ok_or(RequestError::BadCursor)?);
        page.items
            .retain(|s| Self::may_decide(principal, &who, s, &approvers(s), &groups).is_ok());
        Ok(page)
    }

    /// An approver's review of a break-glass session, once.
    pub async fn review(
        &self,
        principal: &Principal,
        id: &SessionId,
        note: &str,
        on_behalf_of: Option<&Email>,
    ) -> Result<Session, RequestError> {
        let reviewer = self.decider(principal, on_behalf_of, Action::DecideRequest)?;
        let groups = self.groups.groups_of(&reviewer).await?;
        for _ in 0..MAX_TRIES {
            let mut session = self.session_or_404(id).await?;
            if !session.break_glass {
                return Err(RequestError::NotBreakGlass);
            }
            let reviewers = session.reviewers.clone();
            Self::may_decide(principal, &reviewer, &session, &reviewers, &groups)?;
            if session.review.is_some() {
                return Err(RequestError::AlreadyReviewed);
            }
            if session.status == SessionStatus::Ending {
                // Its end owns the record until revocation is done.
                return Err(RequestError::NotPending(
                    "the session is ending; review it once it has ended".into(),
                ));
            }
            session.review = Some(Review {
                by: reviewer.clone(),
                at: self.clock.now(),
                note: note.to_string(),
            });
            session.version += 1;
            match self.sessions.save(&session, None).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            let event = self.session_event(
                "reviewed",
                format!("{id}:reviewed"),
                &session,
                json!({ "by": reviewer.to_string(), "note": note }),
            );
            self.log_and_keep_head(&mut session, event).await;
            return Ok(session);
        }
        Err(RequestError::Busy)
    }
}
