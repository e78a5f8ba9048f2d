//! Sessions: starting JIT and console sessions, ending them (early or by the expirer) so that
//! access is actually revoked, and the tamper-evident log every session leaves in S3.
//!
//! # Ordering, for safety
//!
//! - The `requested` event is written before anything else; if the log is unavailable nothing
//!   happens (fail closed).
//! - The session is recorded (and enters the due index) before access is granted, so a crash
//!   after granting still leaves something the expirer will end.
//! - The `started` event is written before anything is handed out; if that fails, the access
//!   just granted is revoked and the caller gets a 503 with no credentials.
//! - Every end (early, expiry, retry) first claims the session with a version-conditional
//!   write: of any number of concurrent ends exactly one revokes and writes the end event.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::users::UserService;
use crate::auth::Principal;
use crate::authz::{self, Action, Target};
use crate::domain::{
    Account, AccountCredentials, AccountId, Email, Ending, JitSettings, ManagedUser, RoleArn, Secret, Session,
    SessionId, SessionKind, SessionStatus, UserStatus,
};
use crate::ports::{
    AccountAccess, AccountStore, AssumeRequest, Clock, CloudError, ConsoleFederation, GroupStore, IamConnector,
    LogError, Page, PageRequest, RoleAssumer, SealContext, SecretSealer, SessionFilter, SessionLog, SessionStore,
    StoreError, TemporaryCredentials, UserStore,
};

/// The user inline policy that keeps a console user's permissions off outside sessions.
/// It leaves the STS calls a JIT session makes with the user's own key.
pub const SESSION_DENY_POLICY: &str = "CloudIamBrokerSessionDeny";
/// The role inline policy holding one deny statement per revoked JIT session.
pub const REVOCATIONS_POLICY: &str = "CloudIamBrokerRevocations";
/// IAM's limit on a role's inline policies (all together), with room for other policies.
const REVOCATIONS_MAX_CHARS: usize = 9_000;
/// How long a claim on an end holds before another run may take it over.
const END_LEASE: Duration = Duration::from_secs(120);
/// IAM connections to target accounts, reused across the ends of one run.
type Connections = std::collections::HashMap<AccountId, Box<dyn crate::ports::TargetIam>>;

/// How many accounts one expirer run works on at once.
const EXPIRER_ACCOUNTS_AT_ONCE: usize = 8;

/// What one expirer run did with one due session.
enum Expiry {
    Expired,
    Retried,
    Skipped,
    Failed,
}

/// How long one revocation may hold a role's policy before another may take it over.
const ROLE_LEASE: Duration = Duration::from_secs(30);
/// After this many failed revocations the failure is reported as an error, not just retried.
pub const REPORT_AFTER_FAILURES: u32 = 3;

pub fn session_deny_document() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "NoAccessOutsideSessions",
            "Effect": "Deny",
            "NotAction": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession", "sts:GetCallerIdentity"],
            "Resource": "*",
        }]
    })
    .to_string()
}

/// A request to start a session, validated as far as the request alone allows.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub account: AccountId,
    pub kind: SessionKind,
    pub role: Option<RoleArn>,
    pub duration_seconds: i64,
    pub reason: String,
    pub on_behalf_of: Option<Email>,
}

/// What a started session hands out, once.
#[derive(Debug)]
pub enum Granted {
    Jit {
        credentials: TemporaryCredentials,
        console_url: String,
    },
    Console {
        signin_url: String,
        user_name: String,
        password: Secret,
        switch_role_links: Vec<(RoleArn, String)>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Denied(String),
    #[error("no account {0}")]
    AccountNotFound(AccountId),
    /// The request cannot be granted as asked; `slug` names the rule.
    #[error("{detail}")]
    Refused { slug: &'static str, detail: String },
    #[error("the session log could not be written ({0}); no access was granted")]
    LogUnavailable(String),
    #[error("{step} failed: {error}; no access was granted")]
    Cloud { step: String, error: CloudError },
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Denied(String),
    #[error("no session {0}")]
    NotFound(SessionId),
    #[error("the cursor is not one this API returned")]
    BadCursor,
    #[error("revocation failed ({0}); it is retried until it succeeds")]
    RevocationFailed(String),
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        StartError::Unavailable(e.to_string())
    }
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        SessionError::Unavailable(e.to_string())
    }
}

/// What one expirer run did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ExpiryReport {
    /// Index items read (the due ones; never a scan).
    pub items_read: usize,
    pub expired: usize,
    /// Ends in progress (earlier failures or crashes) that were finished.
    pub retried: usize,
    pub failed: usize,
    /// Due items another run had already handled.
    pub skipped: usize,
}

#[derive(Clone)]
pub struct SessionService {
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) users: Arc<dyn UserStore>,
    pub(crate) groups: Arc<dyn GroupStore>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) iam: Arc<dyn IamConnector>,
    pub(crate) assumer: Arc<dyn RoleAssumer>,
    pub(crate) federation: Arc<dyn ConsoleFederation>,
    pub(crate) log: Arc<dyn SessionLog>,
    pub(crate) sealer: Arc<dyn SecretSealer>,
    pub(crate) user_service: UserService,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Everything the checks established, for granting.
struct Checked {
    iam_user: ManagedUser,
    jit: JitSettings,
    duration: u32,
}

fn refused(slug: &'static str, detail: impl Into<String>) -> StartError {
    StartError::Refused {
        slug,
        detail: detail.into(),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl SessionService {
    /// The fields every event of a session carries (never a secret).
    fn base_event(
        &self,
        event: &str,
        id: &SessionId,
        account: &Account,
        req: &StartRequest,
        user: &Email,
        by: &str,
    ) -> Value {
        json!({
            "v": 1,
            "event_id": format!("{id}:{event}"),
            "type": event,
            "at": rfc3339(self.clock.now()),
            "session_id": id.to_string(),
            "account_id": account.id.to_string(),
            "aws_account_id": account.aws_account_id.to_string(),
            "kind": req.kind.as_str(),
            "user": user.to_string(),
            "requested_by": by,
            "role_arn": req.role.as_ref().map(ToString::to_string),
            "duration_seconds": req.duration_seconds,
            "reason": req.reason,
        })
    }

    fn session_event(&self, event: &str, event_id: String, s: &Session, extra: Value) -> Value {
        let mut e = json!({
            "v": 1,
            "event_id": event_id,
            "type": event,
            "at": rfc3339(self.clock.now()),
            "session_id": s.id.to_string(),
            "account_id": s.account_id.to_string(),
            "aws_account_id": s.aws_account_id.to_string(),
            "kind": s.kind.as_str(),
            "user": s.user.to_string(),
            "requested_by": s.requested_by,
            "role_arn": s.role.as_ref().map(ToString::to_string),
        });
        if let (Some(obj), Some(more)) = (e.as_object_mut(), extra.as_object()) {
            obj.extend(more.clone());
        }
        e
    }

    /// Starts a session, or refuses it (logged either way).
    pub async fn start(&self, principal: &Principal, req: StartRequest) -> Result<(Session, Granted), StartError> {
        let action = Action::StartSession(req.kind);
        let user = authz::acting_user(principal, req.on_behalf_of.as_ref(), action)
            .map_err(|d| StartError::Denied(d.0))?
            .ok_or_else(|| StartError::Denied("sessions are started for platform users with an e-mail".into()))?;
        let account = self
            .accounts
            .get(&req.account)
            .await?
            .ok_or_else(|| StartError::AccountNotFound(req.account.clone()))?;
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
        let requested = self.base_event("requested", &id, &account, &req, &user, &by);
        self.log
            .append(&log_key, requested)
            .await
            .map_err(|e| StartError::LogUnavailable(e.to_string()))?;

        let checked = match self.check(principal, &user, &account, &req).await {
            Ok(c) => c,
            Err(refusal) => {
                let mut event = self.base_event("refused", &id, &account, &req, &user, &by);
                event["why"] = json!(refusal.to_string());
                if let Err(e) = self.log.append(&log_key, event).await {
                    tracing::warn!(session = %id, error = %e, "logging a refusal failed");
                }
                return Err(refusal);
            }
        };

        let mut session = Session {
            id: id.clone(),
            account_id: account.id.clone(),
            aws_account_id: account.aws_account_id.clone(),
            kind: req.kind,
            user: user.clone(),
            iam_user: checked.iam_user.user_name.clone(),
            role: req.role.clone(),
            duration_seconds: checked.duration,
            reason: req.reason.clone(),
            requested_by: by.clone(),
            started_at: now,
            expires_at: now + Duration::from_secs(checked.duration.into()),
            status: SessionStatus::Active,
            ending: None,
            revocation_failures: 0,
            last_error: None,
            log_key: log_key.clone(),
            log_head: String::new(),
            version: 1,
        };
        self.sessions.create(&session).await?;

        let granted = match self.grant(&account, &session, &checked).await {
            Ok(g) => g,
            Err((step, error)) => {
                self.withdraw(session, &format!("start failed at {step}: {error}"))
                    .await;
                return Err(StartError::Cloud { step, error });
            }
        };
        let started = self.session_event(
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
        match self.log.append(&log_key, started).await {
            Ok(head) => {
                session.log_head = head;
                session.version += 1;
                if let Err(e) = self.sessions.save(&session, None).await {
                    tracing::warn!(session = %id, error = %e, "recording the log head failed");
                }
                tracing::info!(session = %id, account = %account.id, kind = req.kind.as_str(), "session started");
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

    /// Ends a session whose start failed, taking back whatever was granted. Best effort: if
    /// this fails too, the session stays live and due, so the expirer ends it.
    async fn withdraw(&self, session: Session, reason: &str) {
        let ended = self
            .end_claimed(
                session,
                "cloud-iam-broker",
                reason,
                SessionStatus::Ended,
                &mut Connections::new(),
            )
            .await;
        if let Err(e) = ended {
            tracing::warn!(error = %e, "withdrawing a failed start failed; the expirer will end it");
        }
    }

    async fn check(
        &self,
        principal: &Principal,
        user: &Email,
        account: &Account,
        req: &StartRequest,
    ) -> Result<Checked, StartError> {
        let groups = self.groups.groups_of(user).await?;
        authz::decide(
            principal,
            Action::StartSession(req.kind),
            Some(user),
            Target {
                account: Some(&account.id),
                owner: None,
            },
            &groups,
        )
        .map_err(|d| StartError::Denied(d.0))?;
        let jit = self.accounts.get_jit(&account.id).await?.unwrap_or_default();
        if !jit.active {
            return Err(refused(
                "account-inactive",
                format!("access to account {} is not active", account.id),
            ));
        }
        let max = jit.max_duration.seconds();
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
            SessionKind::Jit => {
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
                if iam_user.credential.is_none() {
                    return Err(refused(
                        "user-not-eligible",
                        "the IAM user has no credential; create one first",
                    ));
                }
                // STS would refuse a longer session; moto would not, so check it here.
                let access = self
                    .user_service
                    .access(account)
                    .await
                    .map_err(StartError::Unavailable)?;
                let iam = self.iam.connect(&access).await.map_err(|e| StartError::Cloud {
                    step: "connect".into(),
                    error: e,
                })?;
                let role_max = iam.role_max_session_seconds(role).await.map_err(|e| match e {
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
            }
            SessionKind::Console => {
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
        Ok(Checked {
            iam_user,
            jit,
            duration,
        })
    }

    async fn grant(
        &self,
        account: &Account,
        session: &Session,
        checked: &Checked,
    ) -> Result<Granted, (String, CloudError)> {
        let err = |step: &'static str| move |e: CloudError| (step.to_string(), e);
        match session.kind {
            SessionKind::Jit => {
                let credential = checked.iam_user.credential.as_ref().expect("checked");
                let secret = self
                    .sealer
                    .open(
                        &credential.sealed_secret,
                        &SealContext::user(&account.id, &session.iam_user),
                    )
                    .await
                    .map_err(|e| {
                        (
                            "open the user's credential".to_string(),
                            CloudError::Unavailable(e.to_string()),
                        )
                    })?;
                let as_user = AccountAccess {
                    aws_account_id: account.aws_account_id.clone(),
                    region: account.default_region.clone(),
                    credentials: AccountCredentials::AccessKey {
                        access_key_id: credential.access_key_id.clone(),
                        secret_access_key: secret,
                    },
                };
                let request = AssumeRequest {
                    role: session.role.clone().expect("checked"),
                    session_name: session.id.role_session_name(),
                    duration_seconds: session.duration_seconds,
                    source_identity: session.user.to_string(),
                    tags: vec![
                        ("cloud-iam-broker:session-id".into(), session.id.to_string()),
                        ("cloud-iam-broker:requested-by".into(), tag_value(&session.requested_by)),
                    ],
                };
                let credentials = self
                    .assumer
                    .assume_role(&as_user, &request)
                    .await
                    .map_err(err("assume the role"))?;
                let region = account.default_region.as_str();
                let destination = format!("https://{region}.console.aws.amazon.com/console/home?region={region}");
                let console_url = self
                    .federation
                    .signin_url(&credentials, session.duration_seconds, &destination)
                    .await
                    .map_err(err("get a console sign-in token"))?;
                Ok(Granted::Jit {
                    credentials,
                    console_url,
                })
            }
            SessionKind::Console => {
                let access = self
                    .user_service
                    .access(account)
                    .await
                    .map_err(|e| ("open account credentials".to_string(), CloudError::Unavailable(e)))?;
                let iam = self.iam.connect(&access).await.map_err(err("connect to the account"))?;
                let policy = iam.password_policy().await.map_err(err("read the password policy"))?;
                let password = super::passwords::generate(policy);
                iam.set_login_profile(&session.iam_user, &password)
                    .await
                    .map_err(err("set the console password"))?;
                match iam.delete_inline_policy(&session.iam_user, SESSION_DENY_POLICY).await {
                    Ok(()) | Err(CloudError::NotFound(_)) => {}
                    Err(e) => return Err(("lift the session deny policy".into(), e)),
                }
                let links = self
                    .user_service
                    .jit_guide(account, &checked.iam_user, &checked.jit)
                    .into_iter()
                    .map(|g| (g.role, g.switch_role_url))
                    .collect();
                Ok(Granted::Console {
                    signin_url: format!("https://{}.signin.aws.amazon.com/console", account.aws_account_id),
                    user_name: session.iam_user.to_string(),
                    password,
                    switch_role_links: links,
                })
            }
        }
    }

    /// Takes access back: for JIT a deny on the role for this user's tokens issued before the
    /// end (which also closes a console session made from them); for console a deny-all on
    /// the user and a fresh, unknown password.
    async fn revoke(&self, session: &Session, connections: &mut Connections) -> Result<(), String> {
        let iam = match connections.entry(session.account_id.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let account = self
                    .accounts
                    .get(&session.account_id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| "the account is gone".to_string())?;
                let access = self.user_service.access(&account).await?;
                slot.insert(self.iam.connect(&access).await.map_err(|e| format!("connect: {e}"))?)
            }
        };
        let ended_at = session
            .ending
            .as_ref()
            .map(|e| e.at)
            .unwrap_or_else(|| self.clock.now());
        match session.kind {
            SessionKind::Jit => {
                let role = session.role.as_ref().ok_or("a JIT session without a role")?;
                // IAM has no conditional writes: two ends on one role would each read the policy
                // and the second write would drop the first deny. A lease serializes them.
                let lease = format!("role-policy:{role}");
                let owner = session.id.to_string();
                let mut held = false;
                for _ in 0..50 {
                    let now = self.clock.now();
                    if self
                        .sessions
                        .lease(&lease, &owner, now, now + ROLE_LEASE)
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        held = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                if !held {
                    return Err("another revocation on this role is in progress; retrying later".into());
                }
                let result = async {
                    let current = iam
                        .get_role_policy(role, REVOCATIONS_POLICY)
                        .await
                        .map_err(|e| format!("read revocations: {e}"))?;
                    let doc = revocation_document(current.as_deref(), session, ended_at, self.clock.now())?;
                    iam.put_role_policy(role, REVOCATIONS_POLICY, &doc)
                        .await
                        .map_err(|e| format!("put revocation: {e}"))
                }
                .await;
                if let Err(e) = self.sessions.release_lease(&lease, &owner).await {
                    tracing::warn!(error = %e, "releasing a role lease failed; it lapses by itself");
                }
                result
            }
            SessionKind::Console => {
                iam.put_inline_policy(&session.iam_user, SESSION_DENY_POLICY, &session_deny_document())
                    .await
                    .map_err(|e| format!("put the session deny policy: {e}"))?;
                let policy = iam
                    .password_policy()
                    .await
                    .map_err(|e| format!("read the password policy: {e}"))?;
                iam.set_login_profile(&session.iam_user, &super::passwords::generate(policy))
                    .await
                    .map_err(|e| format!("rotate the password: {e}"))
            }
        }
    }

    pub async fn get(
        &self,
        principal: &Principal,
        id: &SessionId,
        on_behalf_of: Option<&Email>,
    ) -> Result<Session, SessionError> {
        // Who may look at all is settled before the lookup: no probing for ids.
        authz::acting_user(principal, on_behalf_of, Action::ViewSession).map_err(|d| SessionError::Denied(d.0))?;
        let session = self.session_or_404(id).await?;
        self.authorize(principal, Action::ViewSession, on_behalf_of, Some(&session))?;
        Ok(session)
    }

    async fn session_or_404(&self, id: &SessionId) -> Result<Session, SessionError> {
        self.sessions
            .get(id)
            .await?
            .ok_or_else(|| SessionError::NotFound(id.clone()))
    }

    fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        on_behalf_of: Option<&Email>,
        session: Option<&Session>,
    ) -> Result<authz::Actor, SessionError> {
        let user = authz::acting_user(principal, on_behalf_of, action).map_err(|d| SessionError::Denied(d.0))?;
        authz::decide(
            principal,
            action,
            user.as_ref(),
            Target {
                account: None,
                owner: session.map(|s| &s.user),
            },
            &[],
        )
        .map_err(|d| SessionError::Denied(d.0))
    }

    /// Lists sessions: a user's (or the user a bot acts for) own; an admin's, everyone's.
    pub async fn list(
        &self,
        principal: &Principal,
        on_behalf_of: Option<&Email>,
        mut filter: SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, SessionError> {
        let actor = self.authorize(principal, Action::ViewSession, on_behalf_of, None)?;
        if principal.role != crate::auth::Role::Admin {
            filter.owner = Some(
                actor
                    .user
                    .ok_or_else(|| SessionError::Denied("no platform identity".into()))?,
            );
        }
        self.sessions.list(&filter, page).await?.ok_or(SessionError::BadCursor)
    }

    /// Ends a session early. Concurrent ends produce one end; repeating returns the session.
    pub async fn end(
        &self,
        principal: &Principal,
        id: &SessionId,
        reason: &str,
        on_behalf_of: Option<&Email>,
    ) -> Result<Session, SessionError> {
        authz::acting_user(principal, on_behalf_of, Action::EndSession).map_err(|d| SessionError::Denied(d.0))?;
        let session = self.session_or_404(id).await?;
        let actor = self.authorize(principal, Action::EndSession, on_behalf_of, Some(&session))?;
        let by = match (&actor.user, principal.role) {
            (Some(user), crate::auth::Role::Bot) => format!("{} for {user}", principal.subject),
            _ => principal.subject.clone(),
        };
        if session.status != SessionStatus::Active {
            return Ok(session);
        }
        self.end_claimed(session, &by, reason, SessionStatus::Ended, &mut Connections::new())
            .await
    }

    /// Claims an active session's end, revokes, logs and finishes it. Losing the claim to a
    /// concurrent end returns the session as that end left it.
    async fn end_claimed(
        &self,
        mut session: Session,
        by: &str,
        reason: &str,
        outcome: SessionStatus,
        connections: &mut Connections,
    ) -> Result<Session, SessionError> {
        let now = self.clock.now();
        session.status = SessionStatus::Ending;
        session.ending = Some(Ending {
            at: now,
            by: by.to_string(),
            reason: reason.to_string(),
            outcome,
        });
        session.version += 1;
        match self.sessions.save(&session, Some(now + END_LEASE)).await {
            Ok(()) => self.complete_end(session, connections).await,
            Err(StoreError::Conflict(_)) => {
                let current = self.sessions.get(&session.id).await?;
                current.ok_or_else(|| SessionError::NotFound(session.id.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes, writes the end event, and finishes a claimed session; on failure, schedules a
    /// retry through the due index.
    async fn complete_end(&self, mut session: Session, connections: &mut Connections) -> Result<Session, SessionError> {
        if let Err(e) = self.revoke(&session, connections).await {
            session.revocation_failures += 1;
            session.last_error = Some(e.clone());
            let attempt = session.revocation_failures;
            if attempt >= REPORT_AFTER_FAILURES {
                tracing::error!(session = %session.id, attempts = attempt, error = %e, "revocation keeps failing: access may still be live");
            } else {
                tracing::warn!(session = %session.id, attempts = attempt, error = %e, "revocation failed; will retry");
            }
            let event = self.session_event(
                "revocation_failed",
                format!("{}:revocation_failed:{attempt}", session.id),
                &session,
                json!({ "attempt": attempt, "error": e }),
            );
            if let Ok(head) = self.log.append(&session.log_key, event).await {
                session.log_head = head;
            }
            session.version += 1;
            // Back off a minute per failure, up to ten.
            let retry_at = self.clock.now() + Duration::from_secs(60 * u64::from(attempt.min(10)));
            self.sessions.save(&session, Some(retry_at)).await?;
            return Err(SessionError::RevocationFailed(e));
        }
        let ending = session.ending.clone().expect("claimed sessions have an ending");
        let event = self.session_event(
            ending.outcome.as_str(),
            format!("{}:end", session.id),
            &session,
            json!({ "ended_at": rfc3339(ending.at), "ended_by": ending.by, "end_reason": ending.reason, "revoked": true }),
        );
        match self.log.append(&session.log_key, event).await {
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
        self.sessions.finish(&session).await?;
        tracing::info!(session = %session.id, outcome = session.status.as_str(), "session ended");
        Ok(session)
    }

    /// One expirer run: ends every session whose time is up and retries ends that failed or
    /// were interrupted. Idempotent and safe to overlap with other runs and with early ends.
    ///
    /// Accounts are worked on concurrently (up to `EXPIRER_ACCOUNTS_AT_ONCE`), each with one
    /// connection for the run; one account's sessions go one after another, since their ends
    /// mostly rewrite the same role policies, which a lease serializes anyway.
    pub async fn expire_due(&self, limit: u32) -> Result<ExpiryReport, SessionError> {
        use futures::StreamExt;
        let now = self.clock.now();
        let (due, read) = self.sessions.due(now, limit).await?;
        let mut by_account: std::collections::BTreeMap<String, Vec<Session>> = Default::default();
        for session in due {
            by_account
                .entry(session.account_id.to_string())
                .or_default()
                .push(session);
        }
        let outcomes: Vec<Vec<Expiry>> = futures::stream::iter(by_account.into_values())
            .map(|sessions| async move {
                let mut connections = Connections::new();
                let mut outcomes = Vec::with_capacity(sessions.len());
                for session in sessions {
                    outcomes.push(self.expire_one(session, now, &mut connections).await);
                }
                outcomes
            })
            .buffer_unordered(EXPIRER_ACCOUNTS_AT_ONCE)
            .collect()
            .await;
        let mut report = ExpiryReport {
            items_read: read,
            ..Default::default()
        };
        for outcome in outcomes.into_iter().flatten() {
            match outcome {
                Expiry::Expired => report.expired += 1,
                Expiry::Retried => report.retried += 1,
                Expiry::Skipped => report.skipped += 1,
                Expiry::Failed => report.failed += 1,
            }
        }
        Ok(report)
    }

    async fn expire_one(&self, session: Session, now: OffsetDateTime, connections: &mut Connections) -> Expiry {
        let result = match session.status {
            SessionStatus::Active if session.expires_at <= now => self
                .end_claimed(
                    session,
                    "expirer",
                    "the session's time is up",
                    SessionStatus::Expired,
                    connections,
                )
                .await
                .map(|s| (s, false)),
            SessionStatus::Ending => {
                // Re-claim (the lease lapsed): the version check lets one run through.
                let mut s = session;
                s.version += 1;
                match self.sessions.save(&s, Some(now + END_LEASE)).await {
                    Ok(()) => self.complete_end(s, connections).await.map(|s| (s, true)),
                    Err(StoreError::Conflict(_)) => return Expiry::Skipped,
                    Err(e) => Err(e.into()),
                }
            }
            _ => return Expiry::Skipped,
        };
        match result {
            Ok((s, true)) if !s.status.is_live() => Expiry::Retried,
            Ok((s, false)) if !s.status.is_live() => Expiry::Expired,
            Ok(_) => Expiry::Skipped,
            Err(e) => {
                tracing::warn!(error = %e, "expiring a session failed; it stays due");
                Expiry::Failed
            }
        }
    }

    /// The session's log, verified: its events, and whether the chain holds and ends at the
    /// head recorded with the session.
    pub async fn log(
        &self,
        principal: &Principal,
        id: &SessionId,
        on_behalf_of: Option<&Email>,
    ) -> Result<(Session, Vec<Value>, Result<(), String>), SessionError> {
        let session = self.get(principal, id, on_behalf_of).await?;
        let content = self
            .log
            .read(&session.log_key)
            .await
            .map_err(|e| SessionError::Unavailable(e.to_string()))?
            .unwrap_or_default();
        match crate::domain::log_chain::verify(&session.log_key, &content) {
            Ok((events, head)) if head == session.log_head => Ok((session, events, Ok(()))),
            Ok((events, _)) => Ok((
                session,
                events,
                Err("the log does not end where the session's record says it does".into()),
            )),
            Err(why) => Ok((session, Vec::new(), Err(why))),
        }
    }
}

impl From<LogError> for SessionError {
    fn from(e: LogError) -> Self {
        SessionError::Unavailable(e.to_string())
    }
}

/// Session tag values allow a limited character set; keep what fits.
fn tag_value(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(*c))
        .take(256)
        .collect()
}

/// The role's revocation policy with this session's deny added: tokens carrying the user's
/// SourceIdentity and issued before the end are refused.
///
/// One statement per user: a later end for the same user denies everything an earlier one did
/// (the condition is "this user, issued before"), so the statement is widened in place instead
/// of adding another. The policy thus grows with the number of distinct users, not of sessions,
/// and a statement is pruned once no token it covers can still be alive.
fn revocation_document(
    current: Option<&str>,
    session: &Session,
    ended_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<String, String> {
    let mut statements: Vec<Value> = current
        .and_then(|doc| serde_json::from_str::<Value>(doc).ok())
        .and_then(|doc| doc["Statement"].as_array().cloned())
        .unwrap_or_default();
    // Sid = "U<user hash>E<epoch after which every token it covers is dead>".
    let dead_after = |sid: &str| sid.rsplit_once('E').and_then(|(_, t)| t.parse::<i64>().ok());
    statements.retain(|s| {
        s["Sid"]
            .as_str()
            .and_then(dead_after)
            .is_none_or(|t| t > now.unix_timestamp())
    });
    let user = session.user.to_string();
    let user_hash: String = crate::domain::log_chain::sha256_hex(user.as_bytes())
        .chars()
        .take(16)
        .collect();
    // A console session opened from the credentials lasts as long as they do.
    let mut dead = session.expires_at.unix_timestamp() + 60;
    let mut issued_before = ended_at;
    if let Some(i) = statements
        .iter()
        .position(|s| s["Condition"]["StringEquals"]["aws:SourceIdentity"] == user.as_str())
    {
        let old = statements.remove(i);
        dead = dead.max(old["Sid"].as_str().and_then(dead_after).unwrap_or(0));
        if let Some(t) = old["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        {
            issued_before = issued_before.max(t);
        }
    }
    statements.push(json!({
        "Sid": format!("U{user_hash}E{dead}"),
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": { "aws:SourceIdentity": user },
            "DateLessThan": { "aws:TokenIssueTime": rfc3339(issued_before) },
        },
    }));
    let doc = json!({ "Version": "2012-10-17", "Statement": statements }).to_string();
    if doc.len() > REVOCATIONS_MAX_CHARS {
        return Err(format!(
            "the role's revocation policy would exceed {REVOCATIONS_MAX_CHARS} characters"
        ));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, AwsAccountId, IamUserName};

    fn session(user: &str, expires_at: OffsetDateTime) -> Session {
        Session {
            id: SessionId::generate(),
            account_id: AccountId::generate(),
            aws_account_id: AwsAccountId::parse("123456789012").unwrap(),
            kind: SessionKind::Jit,
            user: Email::parse(user).unwrap(),
            iam_user: IamUserName::parse("u").unwrap(),
            role: Some(RoleArn::parse("arn:aws:iam::123456789012:role/R").unwrap()),
            duration_seconds: 900,
            reason: "r".into(),
            requested_by: user.into(),
            started_at: expires_at - Duration::from_secs(900),
            expires_at,
            status: SessionStatus::Ending,
            ending: None,
            revocation_failures: 0,
            last_error: None,
            log_key: String::new(),
            log_head: String::new(),
            version: 1,
        }
    }

    fn statements(doc: &str) -> Vec<Value> {
        serde_json::from_str::<Value>(doc).unwrap()["Statement"]
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn one_statement_per_user_widened_and_pruned() {
        let t0 = OffsetDateTime::now_utc();
        let hour = Duration::from_secs(3600);
        let a1 = revocation_document(None, &session("a@example.com", t0 + hour), t0, t0).unwrap();
        let a2 = revocation_document(
            Some(&a1),
            &session("a@example.com", t0 + 2 * hour),
            t0 + hour,
            t0 + hour,
        )
        .unwrap();
        let both = revocation_document(Some(&a2), &session("b@example.com", t0 + hour), t0 + hour, t0 + hour).unwrap();
        let s = statements(&both);
        assert_eq!(s.len(), 2, "one per user: {both}");
        let a = s
            .iter()
            .find(|x| x["Condition"]["StringEquals"]["aws:SourceIdentity"] == "a@example.com")
            .unwrap();
        assert_eq!(
            a["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            rfc3339(t0 + hour),
            "widened to the later end"
        );
        assert!(
            a["Sid"]
                .as_str()
                .unwrap()
                .ends_with(&format!("E{}", (t0 + 2 * hour).unix_timestamp() + 60))
        );
        // Two and a half hours later nothing it covers can be alive: pruned, only the new one stays.
        let later = t0 + 3 * hour;
        let pruned = revocation_document(Some(&both), &session("c@example.com", later + hour), later, later).unwrap();
        assert_eq!(statements(&pruned).len(), 1);
        // Many users still fit: the policy grows per user, and fails loudly past IAM's limit.
        let mut doc: Option<String> = None;
        for i in 0..25 {
            doc = Some(
                revocation_document(
                    doc.as_deref(),
                    &session(&format!("u{i}@example.com"), t0 + hour),
                    t0,
                    t0,
                )
                .unwrap(),
            );
        }
        let many = (0..200).try_fold(None::<String>, |d, i| {
            revocation_document(
                d.as_deref(),
                &session(&format!("user{i}@example.com"), t0 + hour),
                t0,
                t0,
            )
            .map(Some)
        });
        assert!(many.is_err(), "past the size limit it refuses rather than truncating");
    }
}
