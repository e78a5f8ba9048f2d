//! What each kind of session is, as the product needs to know it without AWS: its name, the
//! group permission that lets members start it, whether a bot may, whether it holds its IAM
//! user alone, how its access is given, and whose calls its activity is.
//!
//! One impl per kind; `SessionKind::facts` is the one place that tells them apart. What a
//! kind checks, grants, extends and revokes in AWS is its room's (`services::sessions`'s
//! `kinds`).

use super::{Permissions, SessionKind};

/// Whose calls a session's activity is, by the name CloudTrail's event history lists them
/// under (`crate::domain::activity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallsOf {
    /// The role session the broker named after the session (`cib-<session id>`).
    RoleSession,
    /// The session's own IAM user.
    IamUser,
    /// The user's sessions of the permission set's role in the account, named after their
    /// identity-store user name.
    IdentityCenterUser,
}

/// The facts of one kind of session.
pub trait KindFacts: Send + Sync {
    /// Its name in records, events and the API.
    fn name(&self) -> &'static str;
    /// Whether a group's permissions let its members start it.
    fn permitted(&self, p: Permissions) -> bool;
    /// That permission as a refusal names it ("start JIT sessions").
    fn permission(&self) -> &'static str;
    /// Why a bot may not start it, if it may not: what it hands out could only be relayed in
    /// a chat.
    fn refused_to_bots(&self) -> Option<&'static str> {
        None
    }
    /// Whether it holds its IAM user alone while live (a lock in the store settles races).
    fn holds_its_user(&self) -> bool {
        false
    }
    /// Whether its access is a role session assumed with the user's own key.
    fn assumes_a_role(&self) -> bool;
    /// Whether it is given through the user's IAM user in the account (provisioned by the
    /// broker), which its start then requires.
    fn uses_iam_user(&self) -> bool {
        true
    }
    /// Whose calls its activity is.
    fn calls_of(&self) -> CallsOf;
}

impl SessionKind {
    /// This kind's facts.
    pub fn facts(self) -> &'static dyn KindFacts {
        match self {
            SessionKind::Jit => &Jit,
            SessionKind::Console => &Console,
            SessionKind::Shell => &Shell,
            SessionKind::IdentityCenter => &IdentityCenter,
        }
    }
}

/// An allowed role, assumed for a bounded time.
struct Jit;

impl KindFacts for Jit {
    fn name(&self) -> &'static str {
        "jit"
    }

    fn permitted(&self, p: Permissions) -> bool {
        p.start_jit_sessions
    }

    fn permission(&self) -> &'static str {
        "start JIT sessions"
    }

    fn assumes_a_role(&self) -> bool {
        true
    }

    fn calls_of(&self) -> CallsOf {
        CallsOf::RoleSession
    }
}

/// The user's own IAM user, unlocked with a password for the duration.
struct Console;

impl KindFacts for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn permitted(&self, p: Permissions) -> bool {
        p.start_sessions
    }

    fn permission(&self) -> &'static str {
        "start console sessions"
    }

    // A console session's answer is a password.
    fn refused_to_bots(&self) -> Option<&'static str> {
        Some(
            "bots may not start console sessions: their password cannot be relayed safely; \
             the user starts them (cib, the API or the web console)",
        )
    }

    // One password, one session.
    fn holds_its_user(&self) -> bool {
        true
    }

    fn assumes_a_role(&self) -> bool {
        false
    }

    fn calls_of(&self) -> CallsOf {
        CallsOf::IamUser
    }
}

/// The account's shell role, assumed to open Session Manager sessions on one target.
struct Shell;

impl KindFacts for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }

    fn permitted(&self, p: Permissions) -> bool {
        p.start_shell_sessions
    }

    fn permission(&self) -> &'static str {
        "start shell sessions"
    }

    // A shell session's answer is credentials for Session Manager, as unsafe in chat.
    fn refused_to_bots(&self) -> Option<&'static str> {
        Some(
            "bots may not start shell sessions: their credentials cannot be relayed safely; \
             the user starts them (cib shell, the API or the web console)",
        )
    }

    fn assumes_a_role(&self) -> bool {
        true
    }

    fn calls_of(&self) -> CallsOf {
        CallsOf::RoleSession
    }
}

/// A permission set on the account, assigned through IAM Identity Center for the duration.
struct IdentityCenter;

impl KindFacts for IdentityCenter {
    fn name(&self) -> &'static str {
        "identity_center"
    }

    fn permitted(&self, p: Permissions) -> bool {
        p.start_identity_center_sessions
    }

    fn permission(&self) -> &'static str {
        "start Identity Center sessions"
    }

    // What it hands out is a portal link and CLI profile lines: no secret, and each works
    // only after the user's own sign-in to the portal. A bot may relay them.

    fn assumes_a_role(&self) -> bool {
        false
    }

    fn uses_iam_user(&self) -> bool {
        false
    }

    fn calls_of(&self) -> CallsOf {
        CallsOf::IdentityCenterUser
    }
}
