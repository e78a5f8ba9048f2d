//! Starting a session: after the checks (`checks`), a request left pending where approval is
//! needed, the hand-out of what the grant (`granting`) gave, and the order that keeps it safe
//! (see the parent module).

use std::time::Duration;

use serde_json::{Value, json};

use super::checks::console_session_live;
use super::{Begun, Checked, Granted, SessionService, StartError, StartRequest, Started, kinds, rfc3339};
use crate::auth::{Principal, Role};
use crate::authz::{self, Action, Target};
use crate::domain::policy::Decision;
use crate::domain::{Account, ApprovalRequest, Secret, Session, SessionId, SessionStatus};
use crate::ports::{CloudError, LogTail, StoreError};

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
        let gathered = self.gather(&user, &req.account, true).await?;
        // Decided before the account is looked at: a caller who may not act on it gets the
        // same answer whether or not it exists.
        let decided = authz::decide(
            principal,
            action,
            Some(&user),
            Target {
                account: Some(&req.account),
                owner: None,
                approvers: None,
            },
            &gathered.groups,
        )
        .map_err(|d| StartError::Denied(d.0));
        let checked = match decided {
            Ok(_) => match &gathered.account {
                None => Err(StartError::AccountNotFound(req.account.clone())),
                Some(account) => self
                    .check(principal, &user, account, &req, &gathered, false)
                    .await
                    .map(|c| (account.clone(), c)),
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
        // The record carries the log's head, known before the log is written: the two are
        // written at once (and the user's key opened alongside, for a grant at once). The
        // record alone grants nothing; a log that could not be written withdraws it.
        let head = crate::domain::log_chain::chain(requested.clone(), &crate::domain::log_chain::genesis(&log_key)).1;
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

        let mut session = Session {
            id: id.clone(),
            account_id: account.id.clone(),
            aws_account_id: account.aws_account_id.clone(),
            kind: req.kind,
            user: user.clone(),
            iam_user: checked.iam_user.as_ref().map(|u| u.user_name.clone()),
            identity_center: checked.identity_center.clone(),
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
        // A start granting now is due again soon: one abandoned midway (the function timed
        // out) is withdrawn by the expirer then, not at its end (see `ending::claim_due`).
        let due = match session.status {
            SessionStatus::Active => Some(session.expires_at.min(now + super::START_LEASE)),
            _ => session.due_at(),
        };
        let at_once = session.request.is_none() && req.kind.facts().assumes_a_role();
        let opening = async {
            match at_once {
                true => Some(self.open_user_key(&account, &session, &checked).await),
                false => None,
            }
        };
        let (logged, created, opened) = futures::join!(
            self.log.begin(&log_key, requested.clone()),
            self.sessions.create(&session, due),
            opening
        );
        let tail = match (logged, &created) {
            (Ok(tail), _) => tail,
            (Err(e), Ok(())) => {
                // No log, no session: the record written alongside is taken back (nothing was
                // granted); should that fail, it is ended as a failed start would be.
                if let Err(undo) = self.sessions.discard(&session).await {
                    tracing::warn!(session = %id, error = %undo, "discarding an unlogged start failed; withdrawing it");
                    self.withdraw(session, &format!("the start could not be logged ({e})"))
                        .await;
                }
                return Err(StartError::LogUnavailable(e.to_string()));
            }
            (Err(e), Err(_)) => return Err(StartError::LogUnavailable(e.to_string())),
        };
        // The record follows the log (which holds more than this start wrote only if the key
        // was not fresh after all).
        session.log_head = tail.head.clone();
        match created {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) if req.kind.facts().holds_its_user() => {
                // Lost a race with another start for the user (the check found no live session).
                let refusal = console_session_live();
                self.publish(&requested).await;
                let mut event = self.base_event("refused", &id, &account, &req, &user, &by);
                event["why"] = json!(refusal.to_string());
                if let Err(e) = self.log.append_to(&log_key, &tail, event.clone()).await {
                    tracing::warn!(error = %e, "logging a refusal failed");
                } else {
                    self.publish(&event).await;
                }
                return Err(refusal);
            }
            Err(e) => {
                self.publish(&requested).await;
                return Err(e.into());
            }
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
            self.publish(&requested).await;
            let mut session = session;
            self.log_and_keep_head(&mut session, event).await;
            tracing::info!(session = %id, account = %account.id, "session request waiting for approval");
            return Ok(Started::Pending(session));
        }
        let begun = Begun {
            tail,
            secret: opened,
            requested,
        };
        let (session, granted) = self.hand_out(&account, session, &checked, Some(begun)).await?;
        Ok(Started::Now(session, relayable(principal, granted)))
    }

    /// Grants a recorded, active session its access and hands it out: the grant, then at
    /// once the claim check (which records the log's new head), the `started` event and the
    /// console sign-in link; nothing leaves unless all three succeeded (see the parent module
    /// for the order). `begun`: what a start that just wrote the log already holds.
    pub(super) async fn hand_out(
        &self,
        account: &Account,
        session: Session,
        checked: &Checked,
        begun: Option<Begun>,
    ) -> Result<(Session, Granted), StartError> {
        let (tail, secret, unpublished) = match begun {
            Some(b) => (Some(b.tail), b.secret, Some(b.requested)),
            None => (None, None, None),
        };
        let secret = match secret {
            Some(Err((step, error))) => {
                if let Some(event) = &unpublished {
                    self.publish(event).await;
                }
                self.withdraw(session, &format!("start failed at {step}: {error}"))
                    .await;
                return Err(StartError::Cloud { step, error });
            }
            Some(Ok(secret)) => Some(secret),
            None => None,
        };
        // `requested` goes on the bus with `started`, in one PutEvents after the hand-out (one
        // call less on every start); a start that fails from here on puts it there alone.
        let handed = self.grant_and_record(account, session, checked, secret, tail).await;
        let mut events: Vec<Value> = unpublished.into_iter().collect();
        if let Ok((_, _, after_start)) = &handed {
            events.extend(after_start.iter().cloned());
        }
        let events: Vec<&Value> = events.iter().collect();
        self.publish_all(&events).await;
        handed.map(|(session, granted, _)| (session, granted))
    }

    /// `hand_out`'s grant and record: the events to put on the bus once it stands are returned
    /// with it (`break_glass`, then `started`).
    async fn grant_and_record(
        &self,
        account: &Account,
        mut session: Session,
        checked: &Checked,
        secret: Option<Secret>,
        tail: Option<LogTail>,
    ) -> Result<(Session, Granted, Vec<Value>), StartError> {
        let id = session.id.clone();
        let log_key = session.log_key.clone();
        let user = session.user.clone();
        let granted = self.grant(account, &session, checked, secret, false).await;
        let granted = match granted {
            Ok(g) => g,
            Err((_, CloudError::DurationRefused(why))) => {
                self.withdraw(session.clone(), &format!("STS refused the duration: {why}"))
                    .await;
                return Err(self.role_max_changed(account, &session).await);
            }
            // STS refusing a role the checks did not read (its maximum was kept): deleted since?
            // Then the answer is the refusal the checks would have given, not AWS's; still
            // propagating in IAM, a 503 to retry; else AWS's refusal.
            Err((step, CloudError::Refused(why))) if session.kind.facts().assumes_a_role() => {
                self.withdraw(session.clone(), &format!("start failed at {step}: {why}"))
                    .await;
                return Err(self.role_gone_or(account, &session, step, why).await);
            }
            Err((step, error)) => {
                self.withdraw(session, &format!("start failed at {step}: {error}"))
                    .await;
                return Err(StartError::Cloud { step, error });
            }
        };
        if let Granted::Jit { credentials, .. } | Granted::Shell { credentials, .. } = &granted {
            session.credentials_expire_at = Some(credentials.expiration);
        }
        // Events put on the bus only once the claim check, the log and the link all succeeded:
        // the bus never announces a start that handed nothing out.
        let mut after_start = Vec::new();
        let mut tail = tail.unwrap_or_else(|| LogTail {
            head: session.log_head.clone(),
            known: None,
        });
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
            match self.log.append_to(&log_key, &tail, event.clone()).await {
                Ok(next) => {
                    tail = next;
                    // On the bus once the start is known to stand (below).
                    after_start.push(event);
                }
                Err(e) => {
                    tracing::warn!(session = %id, error = %e, "logging the break-glass flag failed; the started event carries it")
                }
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
                "iam_user": session.iam_user.as_ref().map(ToString::to_string),
                "source_identity": user.to_string(),
                "role_session_name": id.role_session_name(),
            }),
        );
        // An Identity Center session's role sessions are the portal's, named after the user.
        if !session.kind.facts().uses_iam_user()
            && let Some(obj) = started.as_object_mut()
        {
            obj.remove("source_identity");
            obj.remove("role_session_name");
        }
        if let Granted::Shell { connect, .. } = &granted {
            started["target"] = json!(connect.target);
            started["run_as"] = json!(connect.run_as);
        }
        // The claim check records the head the log will have: an end that won the session
        // meanwhile revoked it by identity (covering these credentials) and hands nothing out.
        session.log_head = crate::domain::log_chain::chain(started.clone(), &tail.head).1;
        session.version += 1;
        let logging = async {
            match tail.known {
                Some(_) => self
                    .log
                    .append_to(&log_key, &tail, started.clone())
                    .await
                    .map(|t| t.head),
                None => self.log.append(&log_key, started.clone()).await,
            }
        };
        let linking = async {
            match &granted {
                Granted::Jit { credentials, .. } => Some(self.sign_in_link(account, &session, credentials).await),
                _ => None,
            }
        };
        let (mut saved, logged, link) = futures::join!(self.sessions.save(&session, None), logging, linking);
        // A conflict is an end that won only if the session is no longer active: another
        // request's log-head catch-up (an approval's, see `log_and_keep_head`) also moves the
        // version of a session still starting, and writes nothing else.
        for _ in 0..3 {
            if !matches!(saved, Err(StoreError::Conflict(_))) {
                break;
            }
            match self.sessions.get(&id).await {
                Ok(Some(mut current)) if current.status == SessionStatus::Active => {
                    // What the other writer saved stays; this start adds its credentials'
                    // expiry and the log's head as the log now has it.
                    current.credentials_expire_at = session.credentials_expire_at;
                    if let Some(head) = self.log_head_now(&log_key).await {
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
            Err(StoreError::Conflict(_)) => {
                tracing::warn!(session = %id, "the session was ended while it started; nothing handed out");
                kinds::room(session.kind)
                    .after_lost_start(self, account, &session)
                    .await;
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
        let head = match logged {
            Ok(head) => head,
            Err(e) => {
                // Fail closed: what was granted is taken back before anything is handed out.
                // The record says where the log ends without the line that failed.
                session.log_head = tail.head.clone();
                self.withdraw(
                    session,
                    &format!("the start could not be logged ({e}); access withdrawn"),
                )
                .await;
                return Err(StartError::LogUnavailable(e.to_string()));
            }
        };
        let granted = match (granted, link) {
            (Granted::Jit { credentials, .. }, Some(Ok(console_url))) => Granted::Jit {
                credentials,
                console_url,
            },
            (_, Some(Err(error))) => {
                let step = "get a console sign-in token".to_string();
                self.withdraw(session, &format!("start failed at {step}: {error}"))
                    .await;
                return Err(StartError::Cloud { step, error });
            }
            (granted, _) => granted,
        };
        if head != session.log_head {
            // The log held a line this start did not expect (an approval's, written by
            // another request): the record follows the log.
            session.log_head = head;
            session.version += 1;
            if let Err(e) = self.sessions.save(&session, None).await {
                tracing::warn!(session = %id, error = %e, "recording the log head failed");
                session.version -= 1;
            }
        }
        after_start.push(started);
        tracing::info!(session = %id, account = %account.id, kind = session.kind.as_str(), "session started");
        Ok((session, granted, after_start))
    }

    /// The head of the log at `key` as it is now (verified), if it can be read.
    pub(super) async fn log_head_now(&self, key: &str) -> Option<String> {
        let content = self.log.read(key).await.ok()??;
        crate::domain::log_chain::verify(key, &content)
            .ok()
            .map(|(_, head)| head)
    }
}

/// What `principal` may receive: bots get only what they may relay (see `Granted::JitLink`).
pub(super) fn relayable(principal: &Principal, granted: Granted) -> Granted {
    match (principal.role, granted) {
        (Role::Bot, Granted::Jit { console_url, .. }) => Granted::JitLink { console_url },
        (_, granted) => granted,
    }
}
