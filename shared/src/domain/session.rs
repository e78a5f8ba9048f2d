//! Sessions: time-bounded access to an account, JIT (an assumed role), console (the user's
//! own IAM user, unlocked for the duration) or shell (an assumed role that may open Session
//! Manager sessions on one target).

use std::fmt;

use time::OffsetDateTime;

use super::{AccountId, AwsAccountId, Email, IamUserName, Invalid, RoleArn};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    pub fn generate() -> Self {
        SessionId(ulid::Ulid::new().to_string())
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        ulid::Ulid::from_string(s)
            .map(|u| SessionId(u.to_string()))
            .map_err(|_| Invalid::field("", "must be a session id as returned by POST /sessions"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The STS RoleSessionName tying AWS's records (CloudTrail) to this session.
    pub fn role_session_name(&self) -> String {
        format!("cib-{}", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Jit,
    Console,
    /// A shell on one instance through Session Manager (`crate::domain::shell`).
    Shell,
    /// A permission set on the account, assigned through IAM Identity Center to the user's
    /// identity-store user (`crate::domain::identity_center`).
    IdentityCenter,
}

impl SessionKind {
    /// Every kind (what each one is: `crate::domain::kind`).
    pub const ALL: [SessionKind; 4] = [
        SessionKind::Jit,
        SessionKind::Console,
        SessionKind::Shell,
        SessionKind::IdentityCenter,
    ];

    pub fn as_str(self) -> &'static str {
        self.facts().name()
    }

    pub fn parse(s: &str) -> Option<Self> {
        SessionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Waiting for approvals; nothing is granted (see `request`).
    Pending,
    /// Access is granted and the session is in the due index.
    Active,
    /// An end won the race and revocation is under way (or failed and will be retried).
    Ending,
    /// Ended early by its owner, an admin or a bot.
    Ended,
    /// Ended by the expirer when its time was up.
    Expired,
    /// A request an approver refused.
    Denied,
    /// A request its requester withdrew.
    Cancelled,
    /// A request nobody decided in time.
    Lapsed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Ending => "ending",
            SessionStatus::Ended => "ended",
            SessionStatus::Expired => "expired",
            SessionStatus::Pending => "pending",
            SessionStatus::Denied => "denied",
            SessionStatus::Cancelled => "cancelled",
            SessionStatus::Lapsed => "lapsed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => SessionStatus::Active,
            "ending" => SessionStatus::Ending,
            "ended" => SessionStatus::Ended,
            "expired" => SessionStatus::Expired,
            "pending" => SessionStatus::Pending,
            "denied" => SessionStatus::Denied,
            "cancelled" => SessionStatus::Cancelled,
            "lapsed" => SessionStatus::Lapsed,
            _ => return None,
        })
    }

    pub fn is_live(self) -> bool {
        matches!(self, SessionStatus::Active | SessionStatus::Ending)
    }

    /// A request decided against: nothing was ever granted.
    pub fn is_refused_request(self) -> bool {
        matches!(
            self,
            SessionStatus::Denied | SessionStatus::Cancelled | SessionStatus::Lapsed
        )
    }
}

/// Why a session is being given: required, kept in the log. 3 to 500 characters.
pub fn parse_reason(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    if (3..=500).contains(&s.chars().count()) && !s.chars().any(char::is_control) {
        Ok(s.to_string())
    } else {
        Err(Invalid::field("reason", "is required: 3 to 500 characters saying why"))
    }
}

/// How a session ended (or is ending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub at: OffsetDateTime,
    /// The token subject (or `expirer`) that ended it.
    pub by: String,
    pub reason: String,
    /// `ended` or `expired` once revocation completes.
    pub outcome: SessionStatus,
    /// When revocation completed (the end can take longer than its claim when revocation
    /// fails and is retried; the credentials work until then).
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub account_id: AccountId,
    pub aws_account_id: AwsAccountId,
    pub kind: SessionKind,
    pub user: Email,
    /// The user's IAM user in the account (every kind but Identity Center's uses one).
    pub iam_user: Option<IamUserName>,
    /// What an Identity Center session grants, and to whom.
    pub identity_center: Option<super::identity_center::IcAccess>,
    pub role: Option<RoleArn>,
    /// A shell session's target.
    pub target: Option<super::shell::ShellTarget>,
    /// The Session Manager sessions a shell session opened, as its end found them.
    pub ssm_sessions: Vec<super::shell::SsmSession>,
    pub duration_seconds: u32,
    pub reason: String,
    /// The token subject that asked (a bot, for chat-ops; otherwise the user).
    pub requested_by: String,
    pub started_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub status: SessionStatus,
    pub ending: Option<Ending>,
    /// Failed revocation attempts (the expirer retries; reported after several).
    pub revocation_failures: u32,
    pub last_error: Option<String>,
    /// The S3 key of the session's log and the hash of its last event.
    pub log_key: String,
    pub log_head: String,
    pub version: u64,
    /// When the JIT credentials STS issued expire (a little after `expires_at`: they are
    /// issued after the session is recorded). Unknown until the grant.
    pub credentials_expire_at: Option<OffsetDateTime>,
    /// The JIT roles a console session may switch into (its user's groups granted JIT on
    /// the account when it started): its end cuts those role sessions too.
    pub switch_roles: Vec<RoleArn>,
    /// The approval its start needed (`None`: it started at once).
    pub request: Option<super::ApprovalRequest>,
    /// An extension waiting for approval.
    pub pending_extension: Option<super::PendingExtension>,
    pub extensions: Vec<super::Extension>,
    /// Started by break-glass: flagged, and reviewed afterwards by `reviewers`.
    pub break_glass: bool,
    /// Who reviews a break-glass session (the approver groups of the grants allowing it;
    /// admins when empty).
    pub reviewers: Vec<super::GroupId>,
    pub review: Option<super::Review>,
    /// When the expirer copies the session's calls from CloudTrail into its log (set when it
    /// ends; `None` before, and once done).
    pub activity_due_at: Option<OffsetDateTime>,
    /// The copy made (`crate::domain::activity`).
    pub activity: Option<super::activity::ActivitySnapshot>,
}

impl Session {
    /// The session's IAM user, for the kinds given through one (`KindFacts::uses_iam_user`;
    /// a stored record of such a kind without one is refused as corrupt when read).
    pub fn its_iam_user(&self) -> &IamUserName {
        self.iam_user
            .as_ref()
            .expect("a session of a kind given through an IAM user names it")
    }

    /// When the expirer next needs this session, unless a retry says otherwise: its end when
    /// live, its lapse when pending, its activity snapshot once ended (`activity_due_at`).
    pub fn due_at(&self) -> Option<OffsetDateTime> {
        match self.status {
            SessionStatus::Active | SessionStatus::Ending => Some(self.expires_at),
            SessionStatus::Pending => self.request.as_ref().map(|r| r.lapses_at),
            SessionStatus::Ended | SessionStatus::Expired => self.activity_due_at,
            _ => None,
        }
    }
}
