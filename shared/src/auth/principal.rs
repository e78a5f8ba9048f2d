//! The authenticated caller.

use serde::Serialize;

/// What a token lets its holder be. A token carries exactly one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages accounts, users, groups; sees every session.
    Admin,
    /// A platform user: acts for themselves only.
    User,
    /// A chat-ops integration: may act on behalf of a named user on session endpoints only.
    Bot,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            "bot" => Some(Role::Bot),
            _ => None,
        }
    }
}

/// An authenticated caller: the token's subject, e-mail and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub subject: String,
    /// Platform users are identified by e-mail; required for the `user` role.
    pub email: Option<String>,
    pub role: Role,
}
