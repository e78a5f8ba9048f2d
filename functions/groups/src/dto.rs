//! The JSON shapes of the access-groups API and `GET /me`.

use serde::{Deserialize, Serialize};
use shared::domain::{
    AccessGroup, AccountId, AccountScope, Collector, GroupName, Invalid, Membership, Permissions, UserStatus,
    parse_description,
};
use shared::http::request::Object;
use shared::services::groups::{AccountPermissions, GroupChange, NewGroup};
use time::OffsetDateTime;

/// `"all"` or a list of account ids.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum AccountsIn {
    Keyword(String),
    Ids(Vec<String>),
}

impl AccountsIn {
    fn parse(self) -> Result<AccountScope, Invalid> {
        match self {
            AccountsIn::Keyword(k) if k == "all" => Ok(AccountScope::All),
            AccountsIn::Keyword(_) => Err(Invalid::field("accounts", "must be \"all\" or a list of account ids")),
            AccountsIn::Ids(ids) => {
                let mut c = Collector::default();
                let mut parsed: Vec<AccountId> = Vec::new();
                for (i, raw) in ids.iter().enumerate() {
                    if let Some(id) = c.take(AccountId::parse(raw).map_err(|e| e.under(&format!("accounts[{i}]"))))
                        && !parsed.contains(&id)
                    {
                        parsed.push(id);
                    }
                }
                if ids.len() > 100 {
                    c.push("accounts", "at most 100 accounts; use \"all\"");
                }
                c.finish()?;
                Ok(AccountScope::Only(parsed))
            }
        }
    }
}

#[derive(Deserialize, Serialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct PermissionsIo {
    #[serde(default)]
    pub start_sessions: bool,
    #[serde(default)]
    pub start_jit_sessions: bool,
}

impl From<PermissionsIo> for Permissions {
    fn from(p: PermissionsIo) -> Self {
        Permissions {
            start_sessions: p.start_sessions,
            start_jit_sessions: p.start_jit_sessions,
        }
    }
}

impl From<Permissions> for PermissionsIo {
    fn from(p: Permissions) -> Self {
        PermissionsIo {
            start_sessions: p.start_sessions,
            start_jit_sessions: p.start_jit_sessions,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupIn {
    pub name: String,
    pub description: Option<String>,
    pub accounts: AccountsIn,
    pub permissions: Object<PermissionsIo>,
}

impl GroupIn {
    pub fn parse(self) -> Result<NewGroup, Invalid> {
        let mut c = Collector::default();
        let name = c.take(GroupName::parse(&self.name));
        let description = c.take(parse_description(self.description.as_deref()));
        let accounts = c.take(self.accounts.parse());
        c.finish()?;
        Ok(NewGroup {
            name: name.expect("checked"),
            description: description.expect("checked"),
            accounts: accounts.expect("checked"),
            permissions: self.permissions.0.into(),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    #[serde(default, deserialize_with = "shared::http::request::present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "shared::http::request::present")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "shared::http::request::present")]
    pub accounts: Option<Option<AccountsIn>>,
    #[serde(default, deserialize_with = "shared::http::request::present")]
    pub permissions: Option<Option<Object<PermissionsIo>>>,
}

impl GroupPatch {
    pub fn parse(self) -> Result<GroupChange, Invalid> {
        // The contract asks for at least one field; one that is null is unchanged, so a
        // patch whose fields are all null is a no-op, not an error.
        if self.name.is_none() && self.description.is_none() && self.accounts.is_none() && self.permissions.is_none() {
            return Err(Invalid::field(
                "",
                "name, description, accounts or permissions is required",
            ));
        }
        let (name, description, accounts, permissions) = (
            self.name.flatten(),
            self.description.flatten(),
            self.accounts.flatten(),
            self.permissions.flatten().map(|p| p.0),
        );
        let mut c = Collector::default();
        let name = name.map(|n| c.take(GroupName::parse(&n)));
        let description = description.map(|d| c.take(parse_description(Some(&d))));
        let accounts = accounts.map(|a| c.take(a.parse()));
        c.finish()?;
        Ok(GroupChange {
            name: name.flatten(),
            description: description.flatten(),
            accounts: accounts.flatten(),
            permissions: permissions.map(Into::into),
        })
    }
}

#[derive(Serialize)]
pub struct GroupOut {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `"all"` or a list of account ids.
    pub accounts: serde_json::Value,
    pub permissions: PermissionsIo,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&AccessGroup> for GroupOut {
    fn from(g: &AccessGroup) -> Self {
        GroupOut {
            id: g.id.to_string(),
            name: g.name.as_str().into(),
            description: g.description.clone(),
            accounts: match &g.accounts {
                AccountScope::All => serde_json::json!("all"),
                AccountScope::Only(ids) => serde_json::json!(ids.iter().map(ToString::to_string).collect::<Vec<_>>()),
            },
            permissions: g.permissions.into(),
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Serialize)]
pub struct GroupPage {
    pub items: Vec<GroupOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
pub struct MemberOut {
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

impl From<&Membership> for MemberOut {
    fn from(m: &Membership) -> Self {
        MemberOut {
            email: m.email.to_string(),
            added_at: m.added_at,
        }
    }
}

#[derive(Serialize)]
pub struct MemberPage {
    pub items: Vec<MemberOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
pub struct GroupRef {
    pub id: String,
    pub name: String,
}

#[derive(Serialize)]
pub struct IamUserRef {
    pub user_name: String,
    pub status: &'static str,
    /// Whether this IAM user can be used for sessions: provisioned by the broker (never
    /// imported), with a credential for JIT.
    pub has_credential: bool,
}

#[derive(Serialize)]
pub struct AccountAccessOut {
    pub account_id: String,
    pub name: String,
    pub aws_account_id: String,
    pub permissions: PermissionsIo,
    pub via_groups: Vec<String>,
    pub iam_user: Option<IamUserRef>,
}

impl From<&AccountPermissions> for AccountAccessOut {
    fn from(a: &AccountPermissions) -> Self {
        AccountAccessOut {
            account_id: a.account.id.to_string(),
            name: a.account.name.to_string(),
            aws_account_id: a.account.aws_account_id.to_string(),
            permissions: a.permissions.into(),
            via_groups: a.via_groups.iter().map(ToString::to_string).collect(),
            iam_user: a
                .iam_user
                .as_ref()
                .filter(|u| u.status != UserStatus::Unprovisioned)
                .map(|u| IamUserRef {
                    user_name: u.user_name.to_string(),
                    status: u.status.as_str(),
                    has_credential: u.credential.is_some(),
                }),
        }
    }
}

#[derive(Serialize)]
pub struct MeOut {
    pub subject: String,
    pub email: String,
    pub role: shared::auth::Role,
    pub groups: Vec<GroupRef>,
    pub accounts: Vec<AccountAccessOut>,
}
