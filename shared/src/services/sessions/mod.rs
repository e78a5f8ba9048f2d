//! Sessions: starting JIT, console and shell sessions, ending them (early or by the expirer) so
//! that access is actually revoked, the tamper-evident log every session leaves in S3, and the
//! calls made with each session's access (`activity`). What each kind checks, grants, extends
//! and revokes is its room's (`kinds`); the machinery here calls it.
//!
//! # Ordering, for safety
//!
//! - The `requested` event and the session's record are written together, before anything is
//!   granted; if the log is unavailable the record is deleted again and nothing happens (fail
//!   closed: no log, no session).
//! - The session is recorded (and enters the due index, due within minutes while it starts)
//!   before access is granted, so a crash after granting still leaves something the expirer
//!   will end.
//! - The claim check, the `started` event and the console link are made together after the
//!   grant; nothing is handed out unless all succeeded (a failed log write revokes the access
//!   just granted and the caller gets a 503 with no credentials), and only then does the bus
//!   hear of the start.
//! - Every end (early, expiry, retry) first claims the session with a version-conditional
//!   write: of any number of concurrent ends exactly one revokes and writes the end event
//!   (`ending`).
//! - An end that wins against a start still in progress revokes by the session's identity
//!   (`aws:userid`), which covers credentials STS issues afterwards; the start then finds
//!   its version taken and hands nothing out.

mod activity;
mod checks;
mod ending;
mod events;
mod extending;
mod granting;
mod kinds;
mod out_of_scope;
mod pickup;
mod refusals;
mod requests;
mod revoking;
mod shell;
mod shell_targets;
mod starting;
mod transcripts;

pub use activity::{ActivityAnswer, ActivityError, SNAPSHOTS_PER_RUN, SnapshotReport};
pub use ending::REPORT_AFTER_FAILURES;
pub use events::detail_type;
pub use extending::{ExtendError, Extended};
pub use requests::RequestError;
pub use shell_targets::{SHELL_TARGETS_MAX, ShellTargetView, ShellTargets};
pub use transcripts::{Transcript, TranscriptError};

use std::sync::Arc;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::revocation::Revoker;
use super::target::Targets;
use crate::auth::Principal;
use crate::authz::{self, Action, Target};
use crate::domain::{
    Account, AccountId, Email, JitSettings, ManagedUser, RoleArn, Secret, Session, SessionId, SessionKind,
};
use crate::ports::{
    AccountStore, Clock, CloudError, ConsoleFederation, GroupStore, LogError, Page, PageRequest, RoleAssumer,
    SecretSealer, SessionFilter, SessionLog, SessionStore, StoreError, TemporaryCredentials, UserStore,
};

/// A request to start a session, validated as far as the request alone allows.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub account: AccountId,
    pub kind: SessionKind,
    pub role: Option<RoleArn>,
    /// A shell session's target.
    pub target: Option<crate::domain::shell::ShellTarget>,
    /// An Identity Center session's permission set.
    pub permission_set: Option<crate::domain::identity_center::PermissionSetArn>,
    pub duration_seconds: i64,
    pub reason: String,
    pub on_behalf_of: Option<Email>,
    /// Start at once where a grant allows break-glass (flagged, reviewed afterwards).
    pub break_glass: bool,
}

/// What `start` did.
#[derive(Debug)]
pub enum Started {
    /// Started: its answer, handed out once.
    Now(Session, Granted),
    /// Waiting for approval; the answer comes once, on the requester's `GET`, after it.
    Pending(Session),
}

/// What a started session hands out, once.
#[derive(Debug)]
pub enum Granted {
    Jit {
        credentials: TemporaryCredentials,
        console_url: String,
    },
    /// What a bot may relay for a JIT session: the console sign-in link, which works once and
    /// within 15 minutes. Never keys, session tokens or passwords, which a chat channel would
    /// keep usable for as long as the session lasts.
    JitLink { console_url: String },
    Console {
        signin_url: String,
        user_name: String,
        password: Secret,
        switch_role_links: Vec<(RoleArn, String)>,
    },
    /// Credentials that may open Session Manager sessions on one target, and how to.
    Shell {
        credentials: TemporaryCredentials,
        connect: Box<ShellConnect>,
    },
    /// A permission set assigned: how to use it, through the user's own sign-in to the access
    /// portal. The broker holds no credential of theirs.
    IdentityCenter(Box<IcUse>),
}

/// How an Identity Center session's access is used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IcUse {
    /// The access portal's shortcut to the account and permission set.
    pub portal_url: String,
    pub start_url: String,
    pub sso_region: String,
    pub permission_set_name: String,
    /// The AWS CLI profile lines (`aws sso login`, then `--profile`).
    pub cli_profile: String,
    /// Access the user already had outside the broker, which its end leaves alone.
    pub outside: Option<String>,
}

/// How a shell session's credentials reach its target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShellConnect {
    pub target: String,
    pub region: String,
    pub document_name: String,
    /// The OS user the broker asked for (`None`: the preferences' default).
    pub run_as: Option<String>,
    pub command: String,
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
    #[error("session {0} was ended while it was starting; no credentials were handed out")]
    EndedWhileStarting(SessionId),
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
    /// Due items that could not be decoded: skipped and alarmed, never a stopped run.
    pub undecodable: usize,
    /// Requests nobody decided in time.
    pub lapsed: usize,
    /// Seconds from the oldest due item's due time to now (0 when nothing was due): how far
    /// the expirer runs behind.
    pub lag_seconds: i64,
}

#[derive(Clone)]
pub struct SessionService {
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) users: Arc<dyn UserStore>,
    pub(crate) groups: Arc<dyn GroupStore>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) target: Targets,
    pub(crate) revoker: Revoker,
    pub(crate) assumer: Arc<dyn RoleAssumer>,
    pub(crate) federation: Arc<dyn ConsoleFederation>,
    pub(crate) log: Arc<dyn SessionLog>,
    /// Opens provisioned users' own keys (JIT AssumeRole is made with them).
    pub(crate) sealer: Arc<dyn SecretSealer>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Bounds what refused starts write (see `refusals`).
    pub(crate) refusals: Arc<dyn crate::ports::RefusalCounter>,
    /// Holds an approved request's one-time answer for its requester (see `requests`).
    pub(crate) pickups: Arc<dyn crate::ports::PickupStore>,
    /// Where every transition goes after its log line (see `events`).
    pub(crate) events: Arc<dyn crate::ports::EventPublisher>,
    /// How long a request waits for approval.
    pub(crate) request_lapse: std::time::Duration,
    /// Auditors may read shell transcripts only where the deployment says so.
    pub(crate) auditors_read_transcripts: bool,
    /// Registered organizations: where an account's Identity Center is, and how to reach it.
    pub(crate) organizations: Arc<dyn crate::ports::OrganizationStore>,
    /// IAM Identity Center, through the broker's role (`identity_center_role`) in the account
    /// that administers it.
    pub(crate) identity_center: Arc<dyn crate::ports::IdentityCenterConnector>,
    pub(crate) identity_center_role: String,
}

/// Everything the checks established, for granting.
struct Checked {
    /// The user's IAM user in the account (for the kinds given through one).
    iam_user: Option<ManagedUser>,
    /// An Identity Center session's access, as its checks found it.
    identity_center: Option<crate::domain::identity_center::IcAccess>,
    jit: JitSettings,
    duration: u32,
    /// For a console session: the JIT roles its user may switch into (groups grant JIT).
    switch_roles: Vec<RoleArn>,
    /// The grant deciding it: at once, break-glass, or after approvals.
    decision: crate::domain::policy::Decision,
    /// A shell session's settings, as the checks read them.
    shell: Option<Box<crate::domain::shell::ShellSettings>>,
}

impl Checked {
    /// The user's IAM user, for the kinds given through one (the checks required it).
    fn its_iam_user(&self) -> &ManagedUser {
        self.iam_user
            .as_ref()
            .expect("checked: the kind is given through an IAM user")
    }
}

/// How long a start may take before the expirer takes it for abandoned (the sessions
/// function's timeout is 29 s) and withdraws it.
pub(crate) const START_LEASE: std::time::Duration = std::time::Duration::from_secs(300);

/// What a start that grants at once holds when it hands out: the log as it wrote it, the
/// user's key opened alongside its writes, and the `requested` event not yet on the bus.
struct Begun {
    tail: crate::ports::LogTail,
    secret: Option<Result<Secret, (String, CloudError)>>,
    requested: Value,
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
        let mut e = json!({
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
            "request_reason": req.reason,
        });
        if let (Some(obj), Some(set)) = (e.as_object_mut(), &req.permission_set) {
            obj.insert("permission_set_arn".into(), json!(set.as_str()));
        }
        e
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
            // What the session reaches beside its role, so that a reader of any one event (an
            // approver's Slack message, say) needs no other read: the IAM user a console
            // session hands out, the instance a shell session opens.
            "iam_user": s.iam_user.as_ref().map(ToString::to_string),
            "duration_seconds": s.duration_seconds,
            "request_reason": s.reason,
            "break_glass": s.break_glass,
        });
        if let (Some(obj), Some(target)) = (e.as_object_mut(), &s.target) {
            obj.insert("target".into(), json!(target.as_str()));
        }
        // An Identity Center session's permission set, by ARN and by the name the portal
        // shows, and the user in the identity store.
        if let (Some(obj), Some(ic)) = (e.as_object_mut(), &s.identity_center) {
            obj.insert("permission_set_arn".into(), json!(ic.permission_set.as_str()));
            obj.insert("permission_set_name".into(), json!(ic.permission_set_name));
            obj.insert("identity_store_user_id".into(), json!(ic.user_id));
        }
        if let (Some(obj), Some(more)) = (e.as_object_mut(), extra.as_object()) {
            obj.extend(more.clone());
        }
        e
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
                approvers: None,
            },
            &[],
        )
        .map_err(|d| SessionError::Denied(d.0))
    }

    /// Lists sessions: a user's (or the user a bot acts for) own; an admin's or an auditor's,
    /// everyone's.
    pub async fn list(
        &self,
        principal: &Principal,
        on_behalf_of: Option<&Email>,
        mut filter: SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, SessionError> {
        let actor = self.authorize(principal, Action::ViewSession, on_behalf_of, None)?;
        if !principal.role.reads_every_session() {
            filter.owner = Some(
                actor
                    .user
                    .ok_or_else(|| SessionError::Denied("no platform identity".into()))?,
            );
        }
        self.sessions.list(&filter, page).await?.ok_or(SessionError::BadCursor)
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
        let (events, verified) = self.verified_log(&session).await?;
        Ok((session, events, verified))
    }

    /// The session's log, read and checked: its events (none when the chain is broken), and
    /// whether it verifies (the chain holds and ends where the record says), or why not.
    pub(super) async fn verified_log(
        &self,
        session: &Session,
    ) -> Result<(Vec<Value>, Result<(), String>), SessionError> {
        let content = self
            .log
            .read(&session.log_key)
            .await
            .map_err(|e| SessionError::Unavailable(e.to_string()))?
            .unwrap_or_default();
        Ok(match crate::domain::log_chain::verify(&session.log_key, &content) {
            Ok((events, head)) if head == session.log_head => (events, Ok(())),
            Ok((events, _)) => (
                events,
                Err("the log does not end where the session's record says it does".into()),
            ),
            Err(why) => (Vec::new(), Err(why)),
        })
    }
}

impl From<LogError> for SessionError {
    fn from(e: LogError) -> Self {
        SessionError::Unavailable(e.to_string())
    }
}
