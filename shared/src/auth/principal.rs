//! The authenticated caller.

use serde::Serialize;

use super::bots::ActsFor;

/// What a token lets its holder be. A token carries exactly one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages accounts, users, groups; sees every session.
    Admin,
    /// A platform user: acts for themselves only.
    User,
    /// A chat-ops integration: may act on behalf of the users it is allowed to, on session
    /// endpoints only.
    Bot,
    /// Reads every session, its log and its activity; changes nothing, starts nothing.
    Auditor,
}

impl Role {
    /// Admins and auditors see every session (the list, each one, its log and activity); the
    /// others see only their own.
    pub fn reads_every_session(self) -> bool {
        matches!(self, Role::Admin | Role::Auditor)
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            "bot" => Some(Role::Bot),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// An authenticated caller: who issued the token, its subject, e-mail and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub issuer: String,
    pub subject: String,
    /// Platform users are identified by e-mail; required for the `user` role, never set for
    /// bots.
    pub email: Option<String>,
    pub role: Role,
    /// Bots only: whom this bot may act for.
    pub acts_for: Option<ActsFor>,
}

impl Principal {
    /// A bot acting for exactly one user (the Slack integration, for the member's linked user).
    pub fn bot_for(subject: String, user: &crate::domain::Email) -> Self {
        Principal {
            issuer: "cloud-iam-broker".into(),
            subject,
            email: None,
            role: Role::Bot,
            acts_for: Some(ActsFor::only(user)),
        }
    }

    /// The caller's identity as one unambiguous string: the issuer and subject,
    /// length-prefixed, so no subject can pass for another (idempotency scopes use it).
    pub fn scope(&self) -> String {
        format!("{}:{}{}", self.issuer.len(), self.issuer, self.subject)
    }
}
