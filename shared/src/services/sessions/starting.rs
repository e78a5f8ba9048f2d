//! Starting a session: the checks (group permission, the grant policy, account state,
//! duration, role, user), a request left pending where approval is needed, the hand-out of
//! what the grant (`granting`) gave, and the order that keeps it safe (see the parent module).

use std::time::Duration;

use serde_json::json;

use super::{Checked, Granted, SessionService, StartError, StartRequest, Started, refused, rfc3339};
use crate::auth::{Principal, Role};
use crate::authz::{self, Action, Target};
use crate::domain::policy::{self, Decision, NoGrant};
use crate::domain::{
    AccessGroup, Account, ApprovalRequest, Email, ManagedUser, RoleArn, Session, SessionId, SessionKind, SessionStatus,
    UserStatus,
};
use crate::ports::{CloudError, StoreError, TargetIam};

impl SessionService {
    /// Starts a session, records a request waiting for approval, or refuses it (logged every
    /// way).
    pub async fn start(&self, principal: &Principal, req: StartRequest) -> Result<Started, StartError> {
        let started = self.start_unmetered(principal, req).await;
        // A refusal is the broker saying no; AWS or S3 failing is not one (those are 503s).
        if let Err(e) = &started
            && !matches!(
                e,
                StartError::Unavailable(_) | StartError::LogUnavailable(_) | StartError::Cloud { .. }
            )
        {
            crate::metrics::count(crate::metrics::Metric::SessionsRefused);
        }
        started
    }

    async fn start_unmetered(&self, principal: &Principal, req: StartRequest) -> Result<Started, StartError> {
        let action = Action::StartSession(req.kind);
        let user = authz::acting_user(principal, req.on_behalf_of.as_ref(), action)
            .map_err(|d| StartError::Denied(d.0))?
            .ok_or_else(|| StartError::Denied("sessions are started for platform users with an e-mail".into()))?;
        // Decided before the account is looked up: a caller who may not act on it gets the
        // same answer whether or not it exists.
        let groups = self.groups.groups_of(&user).await?;
        let decided = authz::decide(
            principal,
            action,
            Some(&user),
            Target {
                account: Some(&req.account),
                owner: None,
                approvers: None,
            },
            &groups,
        )
        .map_err(|d| StartError::Denied(d.0));
        let checked = match decided {
            Ok(_) => match self.accounts.get(&req.account).await? {
                None => Err(StartError::AccountNotFound(req.account.clone())),
                Some(account) => self
                    .check(principal, &user, &account, &req, &groups, false)
                    .await
                    .map(|c| (account, c)),
            },
            Err(denied) => Err(denied),
        };
        let (account, checked) = match checked {
            Ok(c) => c,
            Err(refusal) => return Err(self.record_refusal(principal, &user, &req, refusal).await),
        };
        let now = self.clock.now();
        let id = SessionId::generate();
        // Partitioned by account and day for Athena (partition projection with
        // `storage.location.template` = s3://<bucket>/sessions/${account}/${day}/).
        let log_key = format!(
            "sessions/{}/{:04}-{:02}-{:02}/{id}.jsonl",
            account.id,
            now.year(),
            now.month() as u8,
            now.day()
        );
        let by = principal.subject.clone();
        let mut requested = self.base_event("requested", &id, &account, &req, &user, &by);
        requested["break_glass"] = json!(req.break_glass);
        let head = self
            .record(&log_key, requested)
            .await
            .map_err(|e| StartError::LogUnavailable(e.to_string()))?;
        let (status, request, reviewers) = match &checked.decision {
            Decision::Approval(a) => (
                SessionStatus::Pending,
                Some(ApprovalRequest {
                    approvals_required: a.approvals_required,
                    approver_groups: a.approver_groups.clone(),
                    approvals: Vec::new(),
                    requested_at: now,
                    lapses_at: now + self.request_lapse,
                    decided: None,
                }),
                Vec::new(),
            ),
            Decision::BreakGlass { reviewers } => (SessionStatus::Active, None, reviewers.clone()),
            Decision::Automatic => (SessionStatus::Active, None, Vec::new()),
        };

        let session = Session {
            id: id.clone(),
            account_id: account.id.clone(),
            aws_account_id: account.aws_account_id.clone(),
            kind: req.kind,
            user: user.clone(),
            iam_user: checked.iam_user.user_name.clone(),
            // A shell session assumes the account's shell role.
            role: checked
                .shell
                .as_ref()
                .map(|s| s.role.clone())
                .or_else(|| req.role.clone()),
            duration_seconds: checked.duration,
            reason: req.reason.clone(),
            requested_by: by.clone(),
            started_at: now,
            expires_at: now + Duration::from_secs(checked.duration.into()),
            status,
            ending: None,
            revocation_failures: 0,
            last_error: None,
            log_key: log_key.clone(),
            log_head: head,
            version: 1,
            credentials_expire_at: None,
            switch_roles: checked.switch_roles.clone(),
            target: req.target.clone(),
            ssm_sessions: Vec::new(),
            activity_due_at: None,
            activity: None,
            request,
            pending_extension: None,
            extensions: Vec::new(),
            break_glass: req.break_glass,
            reviewers,
            review: None,
        };
        match self.sessions.create(&session).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) if req.kind == SessionKind::Console => {
                // Lost a race with another start (the check found no live session).
                let refusal = console_session_live();
                let mut event = self.base_event("refused", &id, &account, &req, &user, &by);
                event["why"] = json!(refusal.to_string());
                if let Err(e) = self.record(&log_key, event).await {
                    tracing::warn!(error = %e, "logging a refusal failed");
                }
                return Err(refusal);
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(request) = &session.request {
            let event = self.session_event(
                "pending",
                format!("{id}:pending"),
                &session,
                json!({
                    "approvals_required": request.approvals_required,
                    "approver_group_ids": request.approver_groups.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "lapses_at": rfc3339(request.lapses_at),
                    "duration_seconds": session.duration_seconds,
                    "reason": session.reason,
                }),
            );
            let mut session = session;
            self.log_and_keep_head(&mut session, event).await;
            tracing::info!(session = %id, account = %account.id, "session request waiting for approval");
            return Ok(Started::Pending(session));
        }
        let (session, granted) = self.hand_out(&account, session, &checked).await?;
        Ok(Started::Now(session, relayable(principal, granted)))
    }

    /// Grants a recorded, active session its access and hands it out: the grant, the claim
    /// check, the `started` event (see the parent module for the order).
    pub(super) async fn hand_out(
        &self,
        account: &Account,
        mut session: Session,
        checked: &Checked,
    ) -> Result<(Session, Granted), StartError> {
        let id = session.id.clone();
        let log_key = session.log_key.clone();
        let user = session.user.clone();
        let granted = match self.grant(account, &session, checked).await {
            Ok(g) => g,
            Err((step, error)) => {
                self.withdraw(session, &format!("start failed at {step}: {error}"))
                    .await;
                return Err(StartError::Cloud { step, error });
            }
        };
        if let Granted::Jit { credentials, .. } | Granted::Shell { credentials, .. } = &granted {
            session.credentials_expire_at = Some(credentials.expiration);
        }
        // The claim check: an end that won the session while it was starting revoked it by its
        // identity, which covers the credentials just issued; hand nothing out.
        session.version += 1;
        match self.sessions.save(&session, None).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                tracing::warn!(session = %id, "the session was ended while it started; nothing handed out");
                if session.kind == SessionKind::Console {
                    // The end may have locked the user before this grant narrowed the deny:
                    // lock it again (the expirer's retry would not, the session being ended).
                    let locked = match self.target.connect(account).await {
                        Ok(iam) => self.lock_console_user(&session, &*iam).await,
                        Err((step, e)) => Err(format!("{step}: {e}")),
                    };
                    if let Err(e) = locked {
                        tracing::error!(session = %id, error = %e, alarm = "revocation-failing", "relocking a console user after a raced start failed");
                    }
                }
                return Err(StartError::EndedWhileStarting(id));
            }
            Err(e) => {
                session.version -= 1;
                self.withdraw(
                    session,
                    &format!("the start could not be recorded ({e}); access withdrawn"),
                )
                .await;
                return Err(StartError::Unavailable(e.to_string()));
            }
        }
        let mut started = self.session_event(
            "started",
            format!("{id}:started"),
            &session,
            json!({
                "started_at": rfc3339(session.started_at),
                "expires_at": rfc3339(session.expires_at),
                "duration_seconds": session.duration_seconds,
                "reason": session.reason,
                "iam_user": session.iam_user.to_string(),
                "source_identity": user.to_string(),
                "role_session_name": id.role_session_name(),
            }),
        );
        if let Granted::Shell { connect, .. } = &granted {
            started["target"] = json!(connect.target);
            started["run_as"] = json!(connect.run_as);
        }
        if session.break_glass {
            let event = self.session_event(
                "break_glass",
                format!("{id}:break_glass"),
                &session,
                json!({
                    "reason": session.reason,
                    "expires_at": rfc3339(session.expires_at),
                    "reviewer_group_ids": session.reviewers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }),
            );
            if let Err(e) = self.record(&log_key, event).await {
                tracing::warn!(session = %id, error = %e, "logging the break-glass flag failed; the started event carries it");
            }
        }
        match self.record(&log_key, started).await {
            Ok(head) => {
                session.log_head = head;
                session.version += 1;
                // Only the log head: an end claiming now (version conflict) revokes these
                // credentials by identity, so they are safe to hand out either way.
                if let Err(e) = self.sessions.save(&session, None).await {
                    tracing::warn!(session = %id, error = %e, "recording the log head failed");
                    session.version -= 1;
                }
                tracing::info!(session = %id, account = %account.id, kind = session.kind.as_str(), "session started");
                Ok((session, granted))
            }
            Err(e) => {
                // Fail closed: what was granted is taken back before anything is handed out.
                self.withdraw(
                    session,
                    &format!("the start could not be logged ({e}); access withdrawn"),
                )
                .await;
                Err(StartError::LogUnavailable(e.to_string()))
            }
        }
    }

    /// The checks a start makes. `approved`: made again for the approval completing a
    /// request, whose own console lock (or the grant itself) settles a live console session.
    pub(super) async fn check(
        &self,
        principal: &Principal,
        user: &Email,
        account: &Account,
        req: &StartRequest,
        groups: &[AccessGroup],
        approved: bool,
    ) -> Result<Checked, StartError> {
        let jit = self.accounts.get_jit(&account.id).await?.unwrap_or_default();
        if !jit.active {
            return Err(refused(
                "account-inactive",
                format!("access to account {} is not active", account.id),
            ));
        }
        let shell = match req.kind {
            SessionKind::Shell => Some(
                self.accounts
                    .get_shell(&account.id)
                    .await?
                    .filter(|s| s.enabled)
                    .map(Box::new)
                    .ok_or_else(|| {
                        refused(
                            "shell-disabled",
                            format!("shell sessions are not enabled on account {}", account.id),
                        )
                    })?,
            ),
            _ => None,
        };
        let max = match &shell {
            Some(s) => s.max_duration.seconds(),
            None => jit.max_duration.seconds(),
        };
        if req.duration_seconds < crate::domain::MIN_SESSION_SECONDS as i64 || req.duration_seconds > max as i64 {
            return Err(refused(
                "invalid-duration",
                format!(
                    "duration_seconds must be between {} and this account's maximum of {max}",
                    crate::domain::MIN_SESSION_SECONDS
                ),
            ));
        }
        let duration = req.duration_seconds as u32;
        let asked = policy::Asked {
            account: &account.id,
            kind: req.kind,
            role: req.role.as_ref(),
            duration_seconds: duration,
            break_glass: req.break_glass,
        };
        let decision = policy::choose(groups, &asked, max).map_err(|no| match no {
            NoGrant::NotGranted(why) => StartError::Denied(why),
            NoGrant::TooLong { max } => refused(
                "invalid-duration",
                format!("your access groups allow at most {max} seconds for this"),
            ),
        })?;
        let iam_user = self
            .users
            .of_email(user)
            .await?
            .into_iter()
            .find(|u| u.account_id == account.id && u.status != UserStatus::Unprovisioned)
            .ok_or_else(|| {
                refused(
                    "user-not-eligible",
                    format!("{user} has no IAM user provisioned by the broker in this account"),
                )
            })?;
        match iam_user.status {
            UserStatus::Provisioned => {}
            UserStatus::Imported => return Err(refused("user-not-eligible", "imported users cannot start sessions")),
            other => {
                return Err(refused(
                    "user-not-eligible",
                    format!("the IAM user is {}, not provisioned", other.as_str()),
                ));
            }
        }
        match req.kind {
            SessionKind::Shell => {
                let settings = shell.as_ref().expect("read above");
                // As for JIT (below): the shell role is assumed with the broker's session names.
                if !approved {
                    self.no_live_console(account, &iam_user, "").await?;
                }
                if req.role.is_some() {
                    return Err(refused(
                        "role-not-allowed",
                        "shell sessions use the account's shell role; omit role_arn",
                    ));
                }
                has_credential(&iam_user)?;
                let target = req
                    .target
                    .as_ref()
                    .ok_or_else(|| refused("target-not-found", "target is required for shell sessions"))?;
                // One opening of the account's secret for both connections.
                let access = self.target.opened(account).await.map_err(cloud)?;
                let reach = self.target.shell_with(&access).await.map_err(cloud)?;
                self.check_target(account, &*reach, settings, target).await?;
                let iam = self.target.iam_with(&access).await.map_err(cloud)?;
                self.check_role_duration(&*iam, &settings.role, duration).await?;
            }
            SessionKind::Jit => {
                // The console's credentials could assume JIT roles with the broker's session
                // names; during a console session its user policy refuses that, and so would
                // the broker's own AssumeRole: no JIT session while one is live.
                if !approved {
                    self.no_live_console(account, &iam_user, ", or switch role in the console")
                        .await?;
                }
                if !jit.jit_enabled {
                    return Err(refused(
                        "jit-disabled",
                        format!("JIT access is not enabled on account {}", account.id),
                    ));
                }
                let role = req
                    .role
                    .as_ref()
                    .ok_or_else(|| refused("role-not-allowed", "role_arn is required for JIT sessions"))?;
                if !jit.allowed_roles.contains(role) {
                    return Err(refused(
                        "role-not-allowed",
                        format!("{role} is not allowed for JIT on this account"),
                    ));
                }
                has_credential(&iam_user)?;
                let iam = self.target.connect(account).await.map_err(cloud)?;
                self.check_role_duration(&*iam, role, duration).await?;
            }
            SessionKind::Console => {
                // Checked here so that repeated attempts are refusals (bounded), not session
                // logs; the create transaction's lock still settles a race.
                if !approved
                    && self
                        .sessions
                        .console_session_live(&account.id, &iam_user.user_name)
                        .await?
                {
                    return Err(console_session_live());
                }
                if req.role.is_some() {
                    return Err(refused(
                        "role-not-allowed",
                        "console sessions use the user's own IAM user; omit role_arn",
                    ));
                }
                if !iam_user.console_access {
                    return Err(refused(
                        "user-not-eligible",
                        "the IAM user was provisioned without console access",
                    ));
                }
            }
        }
        // A console session may switch into the JIT roles only where the user's groups grant
        // JIT on the account; otherwise its user policy keeps switch-role refused.
        let switch_roles = match req.kind {
            SessionKind::Console if jit.jit_enabled => {
                let grants_jit = authz::decide(
                    principal,
                    Action::StartSession(SessionKind::Jit),
                    Some(user),
                    Target {
                        account: Some(&account.id),
                        owner: None,
                        approvers: None,
                    },
                    groups,
                )
                .is_ok();
                if grants_jit {
                    jit.allowed_roles.clone()
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        };
        Ok(Checked {
            iam_user,
            jit,
            duration,
            switch_roles,
            decision,
            shell,
        })
    }

    /// A role session (JIT or shell) is refused while the user's console session lives.
    async fn no_live_console(&self, account: &Account, user: &ManagedUser, hint: &str) -> Result<(), StartError> {
        if self.sessions.console_session_live(&account.id, &user.user_name).await? {
            return Err(refused(
                "console-session-live",
                format!("this user has a live console session on this account; end it first{hint}"),
            ));
        }
        Ok(())
    }

    /// STS would refuse a session longer than the role allows; moto would not, so check here.
    async fn check_role_duration(&self, iam: &dyn TargetIam, role: &RoleArn, duration: u32) -> Result<(), StartError> {
        let role_max = iam
            .get_role(role)
            .await
            .map(|r| r.max_session_seconds)
            .map_err(|e| match e {
                CloudError::NotFound(_) => refused("role-not-allowed", format!("{role} does not exist")),
                e => StartError::Cloud {
                    step: "read the role".into(),
                    error: e,
                },
            })?;
        if duration > role_max {
            return Err(refused(
                "invalid-duration",
                format!("{role} allows sessions of at most {role_max} seconds"),
            ));
        }
        Ok(())
    }
}

/// A role session is assumed with the user's own key.
fn has_credential(user: &ManagedUser) -> Result<(), StartError> {
    match user.credential {
        Some(_) => Ok(()),
        None => Err(refused(
            "user-not-eligible",
            "the IAM user has no credential; create one first",
        )),
    }
}

fn cloud((step, error): (String, CloudError)) -> StartError {
    StartError::Cloud { step, error }
}

/// What `principal` may receive: bots get only what they may relay (see `Granted::JitLink`).
pub(super) fn relayable(principal: &Principal, granted: Granted) -> Granted {
    match (principal.role, granted) {
        (Role::Bot, Granted::Jit { console_url, .. }) => Granted::JitLink { console_url },
        (_, granted) => granted,
    }
}

fn console_session_live() -> StartError {
    refused(
        "console-session-live",
        "this user already has a live console session on this account (one password, one session); end it first",
    )
}
