//! The JSON shapes of the access-groups API and `GET /me`.

use serde::{Deserialize, Serialize};
use shared::domain::{
    AccessGroup, AccountId, AccountScope, Approval, Collector, GrantPolicy, GroupName, Invalid, Membership,
    Permissions, UserStatus, parse_description,
};
use shared::http::request::Object;
use shared::services::groups::{AccountPermissions, GroupChange, NewGroup};
use time::OffsetDateTime;

/// `"all"` or a list of account ids and organizational unit ids (`ou-…`).
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
                use shared::domain::organization::OuId;
                let mut c = Collector::default();
                let mut parsed: Vec<AccountId> = Vec::new();
                let mut units: Vec<OuId> = Vec::new();
                for (i, raw) in ids.iter().enumerate() {
                    let at = format!("accounts[{i}]");
                    if OuId::looks_like(raw) {
                        if let Some(unit) = c.take(OuId::parse(raw).map_err(|e| e.under(&at)))
                            && !units.contains(&unit)
                        {
                            units.push(unit);
                        }
                    } else if let Some(id) = c.take(AccountId::parse(raw).map_err(|e| e.under(&at)))
                        && !parsed.contains(&id)
                    {
                        parsed.push(id);
                    }
                }
                if ids.len() > 100 {
                    c.push("accounts", "at most 100 accounts and units; use \"all\"");
                }
                c.finish()?;
                if units.is_empty() {
                    Ok(AccountScope::Only(parsed))
                } else {
                    Ok(AccountScope::Units {
                        accounts: parsed,
                        units,
                        resolved: Vec::new(),
                    })
                }
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
    #[serde(default)]
    pub start_shell_sessions: bool,
    #[serde(default)]
    pub start_identity_center_sessions: bool,
}

impl From<PermissionsIo> for Permissions {
    fn from(p: PermissionsIo) -> Self {
        Permissions {
            start_sessions: p.start_sessions,
            start_jit_sessions: p.start_jit_sessions,
            start_shell_sessions: p.start_shell_sessions,
            start_identity_center_sessions: p.start_identity_center_sessions,
        }
    }
}

impl From<Permissions> for PermissionsIo {
    fn from(p: Permissions) -> Self {
        PermissionsIo {
            start_sessions: p.start_sessions,
            start_jit_sessions: p.start_jit_sessions,
            start_shell_sessions: p.start_shell_sessions,
            start_identity_center_sessions: p.start_identity_center_sessions,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalIo {
    #[serde(deserialize_with = "shared::http::request::whole_number")]
    pub approvals_required: i64,
    pub approver_group_ids: Vec<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassIo {
    #[serde(deserialize_with = "shared::http::request::whole_number")]
    pub max_duration_seconds: i64,
}

/// A group's grant policy (docs/access-requests.md). Every field is optional: absent or null
/// is automatic, under the account's maximum, every role, no break-glass.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicyIo {
    #[serde(default)]
    pub approval: Option<ApprovalIo>,
    #[serde(default, deserialize_with = "shared::http::request::optional_whole_number")]
    pub max_duration_seconds: Option<i64>,
    #[serde(default)]
    pub jit_role_arns: Option<Vec<String>>,
    #[serde(default)]
    pub break_glass: Option<BreakGlassIo>,
    /// The Identity Center permission sets the grant covers (none when absent).
    #[serde(default)]
    pub permission_set_arns: Option<Vec<String>>,
}

impl PolicyIo {
    fn parse(self) -> Result<GrantPolicy, Invalid> {
        let mut c = Collector::default();
        let approval = self
            .approval
            .and_then(|a| c.take(Approval::parse(a.approvals_required, &a.approver_group_ids)));
        c.finish()?;
        GrantPolicy::parse(
            approval,
            self.max_duration_seconds,
            self.jit_role_arns.as_deref(),
            self.break_glass.map(|b| b.max_duration_seconds),
            self.permission_set_arns.as_deref(),
        )
    }
}

impl From<&GrantPolicy> for PolicyIo {
    fn from(p: &GrantPolicy) -> Self {
        PolicyIo {
            approval: p.approval.as_ref().map(|a| ApprovalIo {
                approvals_required: a.approvals_required.into(),
                approver_group_ids: a.approver_groups.iter().map(ToString::to_string).collect(),
            }),
            max_duration_seconds: p.max_duration.map(|m| m.seconds().into()),
            jit_role_arns: p
                .jit_roles
                .as_ref()
                .map(|r| r.iter().map(ToString::to_string).collect()),
            break_glass: p.break_glass_max.map(|m| BreakGlassIo {
                max_duration_seconds: m.seconds().into(),
            }),
            permission_set_arns: p
                .permission_sets
                .as_ref()
                .map(|r| r.iter().map(ToString::to_string).collect()),
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
    #[serde(default)]
    pub policy: Option<Object<PolicyIo>>,
}

impl GroupIn {
    pub fn parse(self) -> Result<NewGroup, Invalid> {
        let mut c = Collector::default();
        let name = c.take(GroupName::parse(&self.name));
        let description = c.take(parse_description(self.description.as_deref()));
        let accounts = c.take(self.accounts.parse());
        let policy = c.take(self.policy.map(|p| p.0).unwrap_or_default().parse());
        c.finish()?;
        Ok(NewGroup {
            name: name.expect("checked"),
            description: description.expect("checked"),
            accounts: accounts.expect("checked"),
            permissions: self.permissions.0.into(),
            policy: policy.expect("checked"),
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
    /// Replaces the whole policy; null resets it to automatic.
    #[serde(default, deserialize_with = "shared::http::request::present")]
    pub policy: Option<Option<Object<PolicyIo>>>,
}

impl GroupPatch {
    pub fn parse(self) -> Result<GroupChange, Invalid> {
        // The contract asks for at least one field; one that is null is unchanged, so a
        // patch whose fields are all null is a no-op, not an error.
        if self.name.is_none()
            && self.description.is_none()
            && self.accounts.is_none()
            && self.permissions.is_none()
            && self.policy.is_none()
        {
            return Err(Invalid::field(
                "",
                "name, description, accounts, permissions or policy is required",
            ));
        }
        // Unlike the other fields, a null policy means "back to automatic".
        let policy = self.policy.map(|p| p.map(|p| p.0).unwrap_or_default());
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
        let policy = policy.map(|p| c.take(p.parse()));
        c.finish()?;
        Ok(GroupChange {
            policy: policy.flatten(),
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
    /// `"all"` or a list of account ids and organizational unit ids, as given.
    pub accounts: serde_json::Value,
    /// The accounts the units named cover, as last worked out (only when units are named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_account_ids: Option<Vec<String>>,
    pub permissions: PermissionsIo,
    pub policy: PolicyIo,
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
                AccountScope::Units { accounts, units, .. } => serde_json::json!(
                    accounts
                        .iter()
                        .map(ToString::to_string)
                        .chain(units.iter().map(ToString::to_string))
                        .collect::<Vec<_>>()
                ),
            },
            resolved_account_ids: match &g.accounts {
                AccountScope::Units { resolved, .. } => Some(resolved.iter().map(ToString::to_string).collect()),
                _ => None,
            },
            permissions: g.permissions.into(),
            policy: (&g.policy).into(),
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
    pub console: Option<OfferOut>,
    pub jit_roles: Vec<JitRoleOut>,
    pub permission_sets: Vec<PermissionSetOut>,
}

/// What an Identity Center start of one permission set would accept.
#[derive(Serialize)]
pub struct PermissionSetOut {
    pub permission_set_arn: String,
    #[serde(flatten)]
    pub offer: OfferOut,
}

/// What a start of one kind (or JIT role) would accept.
#[derive(Serialize)]
pub struct OfferOut {
    pub max_duration_seconds: u32,
    pub needs_approval: bool,
    pub automatic_max_seconds: Option<u32>,
    pub break_glass_max_seconds: Option<u32>,
}

impl From<&shared::domain::policy::Offer> for OfferOut {
    fn from(o: &shared::domain::policy::Offer) -> Self {
        OfferOut {
            max_duration_seconds: o.max_seconds,
            needs_approval: o.needs_approval,
            automatic_max_seconds: o.automatic_max_seconds,
            break_glass_max_seconds: o.break_glass_max_seconds,
        }
    }
}

#[derive(Serialize)]
pub struct JitRoleOut {
    pub role_arn: String,
    #[serde(flatten)]
    pub offer: OfferOut,
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
            console: a.console.as_ref().map(Into::into),
            jit_roles: a
                .jit_roles
                .iter()
                .map(|(role, offer)| JitRoleOut {
                    role_arn: role.to_string(),
                    offer: offer.into(),
                })
                .collect(),
            permission_sets: a
                .permission_sets
                .iter()
                .map(|(set, offer)| PermissionSetOut {
                    permission_set_arn: set.to_string(),
                    offer: offer.into(),
                })
                .collect(),
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
