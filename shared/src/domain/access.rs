//! Access groups: which platform users may start which kinds of session on which accounts.

use std::fmt;

use time::OffsetDateTime;

use super::{AccountId, Email, Invalid};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(String);

impl GroupId {
    pub fn generate() -> Self {
        GroupId(ulid::Ulid::new().to_string())
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        ulid::Ulid::from_string(s)
            .map(|u| GroupId(u.to_string()))
            .map_err(|_| Invalid::field("", "must be a group id as returned by POST /groups"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 1 to 64 printable characters; unique (case-insensitively) among groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if (1..=64).contains(&s.chars().count()) && !s.chars().any(char::is_control) {
            Ok(GroupName(s.to_string()))
        } else {
            Err(Invalid::field(
                "name",
                "must be 1 to 64 characters without control characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key.
    pub fn folded(&self) -> String {
        self.0.to_lowercase()
    }
}

/// Which accounts a group's permissions cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountScope {
    All,
    Only(Vec<AccountId>),
    /// The accounts named, and every enabled, active account under the organizational units
    /// named (nested units included), now and later: `resolved` is that set as last worked
    /// out, when the group was written and at each organization sync. Every check reads this
    /// one resolution, so none of them reads the organization's tree.
    Units {
        accounts: Vec<AccountId>,
        units: Vec<super::organization::OuId>,
        resolved: Vec<AccountId>,
    },
}

impl AccountScope {
    pub fn covers(&self, account: &AccountId) -> bool {
        match self {
            AccountScope::All => true,
            AccountScope::Only(ids) => ids.contains(account),
            AccountScope::Units { accounts, resolved, .. } => accounts.contains(account) || resolved.contains(account),
        }
    }

    /// The accounts named by id (not those reached through units).
    pub fn named(&self) -> &[AccountId] {
        match self {
            AccountScope::All => &[],
            AccountScope::Only(ids) | AccountScope::Units { accounts: ids, .. } => ids,
        }
    }

    /// The accounts covered, as last resolved (`None`: all of them).
    pub fn covered(&self) -> Option<Vec<&AccountId>> {
        match self {
            AccountScope::All => None,
            AccountScope::Only(ids) => Some(ids.iter().collect()),
            AccountScope::Units { accounts, resolved, .. } => {
                let mut all: Vec<&AccountId> = accounts.iter().chain(resolved).collect();
                all.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                all.dedup();
                Some(all)
            }
        }
    }
}

/// What membership allows, as in senhasegura's access groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions {
    /// "Users may start sessions": console sessions with the user's own IAM user.
    pub start_sessions: bool,
    /// "Users may start JIT sessions": assume an allowed role for a bounded time.
    pub start_jit_sessions: bool,
    /// "Users may start shell sessions": Session Manager on the account's allowed targets.
    pub start_shell_sessions: bool,
    /// "Users may start Identity Center sessions": a permission set the grant names, on an
    /// account, through IAM Identity Center.
    pub start_identity_center_sessions: bool,
}

impl Permissions {
    pub fn union(self, other: Permissions) -> Permissions {
        Permissions {
            start_sessions: self.start_sessions || other.start_sessions,
            start_jit_sessions: self.start_jit_sessions || other.start_jit_sessions,
            start_shell_sessions: self.start_shell_sessions || other.start_shell_sessions,
            start_identity_center_sessions: self.start_identity_center_sessions || other.start_identity_center_sessions,
        }
    }

    /// Whether these permissions cover starting a session of `kind`.
    pub fn allows(self, kind: super::SessionKind) -> bool {
        kind.facts().permitted(self)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccessGroup {
    pub id: GroupId,
    pub name: GroupName,
    pub description: String,
    pub accounts: AccountScope,
    pub permissions: Permissions,
    /// How the access it grants is given (approval, maxima, break-glass).
    pub policy: super::GrantPolicy,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

/// A platform user's membership of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group_id: GroupId,
    pub email: Email,
    pub added_at: OffsetDateTime,
}

/// Validates a group description: at most 256 characters, no control characters.
pub fn parse_description(s: Option<&str>) -> Result<String, Invalid> {
    let s = s.unwrap_or("").trim();
    if s.chars().count() <= 256 && !s.chars().any(char::is_control) {
        Ok(s.to_string())
    } else {
        Err(Invalid::field(
            "description",
            "must be at most 256 characters without control characters",
        ))
    }
}
