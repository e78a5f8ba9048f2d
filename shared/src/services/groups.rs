//! Access groups, their members, and what a platform user may do where (`GET /me`).

use std::sync::Arc;

use crate::authz::permissions_on;
use crate::domain::identity_center::PermissionSetArn;
use crate::domain::policy::{Offer, offer};
use crate::domain::{
    AccessGroup, Account, AccountId, AccountScope, Email, GrantPolicy, GroupId, GroupName, JitSettings, ManagedUser,
    Membership, Permissions, RoleArn, SessionKind, UserStatus,
};
use crate::ports::{AccountStore, Clock, GroupStore, Page, PageRequest, StoreError, UserStore};
use futures::{StreamExt, TryStreamExt};

/// The shortest maximum session duration IAM lets a role have.
const MIN_ROLE_MAX_SECONDS: u32 = 3600;

/// A new group, validated except that its accounts must exist (checked here).
#[derive(Debug)]
pub struct NewGroup {
    pub name: GroupName,
    pub description: String,
    pub accounts: AccountScope,
    pub permissions: Permissions,
    pub policy: GrantPolicy,
}

#[derive(Debug, Default)]
pub struct GroupChange {
    pub name: Option<GroupName>,
    pub description: Option<String>,
    pub accounts: Option<AccountScope>,
    pub permissions: Option<Permissions>,
    pub policy: Option<GrantPolicy>,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("no group {0}")]
    NotFound(GroupId),
    #[error("a group named {0:?} already exists")]
    NameTaken(String),
    #[error("no account {0}")]
    UnknownAccount(AccountId),
    /// An organizational unit of no registered organization.
    #[error("no organizational unit {0} in a registered organization (POST /organizations registers one)")]
    UnknownUnit(crate::domain::organization::OuId),
    /// A policy names an approver group that does not exist.
    #[error("no group {0} (policy.approval.approver_group_ids)")]
    UnknownApproverGroup(GroupId),
    #[error("the group was changed by another request; read it again and retry")]
    Conflict,
    #[error("the cursor is not one this API returned")]
    BadCursor,
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for GroupError {
    fn from(e: StoreError) -> Self {
        GroupError::Unavailable(e.to_string())
    }
}

/// What a platform user may do on one account, and why.
#[derive(Debug, Clone)]
pub struct AccountPermissions {
    pub account: Account,
    pub permissions: Permissions,
    pub via_groups: Vec<GroupId>,
    /// The user's IAM user there, if the broker knows one.
    pub iam_user: Option<ManagedUser>,
    /// What a console start would accept there (`None`: none would be).
    pub console: Option<Offer>,
    /// Each JIT role a start would accept there, under the role's own maximum where the
    /// settings know it.
    pub jit_roles: Vec<(RoleArn, Offer)>,
    /// Each Identity Center permission set a start would accept there (accounts in a
    /// registered organization), under the account's maximum.
    pub permission_sets: Vec<(PermissionSetArn, Offer)>,
}

/// The permission sets the user's grants name on `account`, offered where the account is active
/// and in an organization (whose Identity Center the start then reaches).
fn identity_center_offers(
    groups: &[AccessGroup],
    account: &Account,
    jit: Option<&JitSettings>,
) -> Vec<(PermissionSetArn, Offer)> {
    let Some(jit) = jit.filter(|j| j.active && account.organization.is_some()) else {
        return Vec::new();
    };
    let mut named: Vec<&PermissionSetArn> = groups
        .iter()
        .filter(|g| g.permissions.start_identity_center_sessions && g.accounts.covers(&account.id))
        .flat_map(|g| g.policy.permission_sets.iter().flatten())
        .collect();
    named.sort();
    named.dedup();
    named
        .into_iter()
        .filter_map(|set| {
            offer(
                groups,
                &account.id,
                SessionKind::IdentityCenter,
                None,
                Some(set),
                jit.max_duration.seconds(),
            )
            .map(|o| (set.clone(), o))
        })
        .collect()
}

/// The offers the account's settings, the user's IAM user there and the user's groups make
/// (what a start checks before it calls AWS).
fn offers(
    groups: &[AccessGroup],
    account: &AccountId,
    jit: Option<&JitSettings>,
    iam_user: Option<&ManagedUser>,
) -> (Option<Offer>, Vec<(RoleArn, Offer)>) {
    let (Some(jit), Some(user)) = (
        jit.filter(|j| j.active),
        iam_user.filter(|u| u.status == UserStatus::Provisioned),
    ) else {
        return (None, Vec::new());
    };
    let account_max = jit.max_duration.seconds();
    let console = offer(groups, account, SessionKind::Console, None, None, account_max).filter(|_| user.console_access);
    let roles = if jit.jit_enabled && user.credential.is_some() {
        jit.allowed_roles
            .iter()
            .filter_map(|role| {
                // A role's maximum the settings do not know is at least an hour (IAM's least).
                let max = jit
                    .role_max_seconds(role)
                    .unwrap_or(MIN_ROLE_MAX_SECONDS)
                    .min(account_max);
                offer(groups, account, SessionKind::Jit, Some(role), None, max).map(|o| (role.clone(), o))
            })
            .collect()
    } else {
        Vec::new()
    };
    (console, roles)
}

#[derive(Clone)]
pub struct GroupService {
    groups: Arc<dyn GroupStore>,
    accounts: Arc<dyn AccountStore>,
    users: Arc<dyn UserStore>,
    clock: Arc<dyn Clock>,
    /// Where the units groups name are looked up (`None`: no organization can be registered).
    organizations: Option<Arc<dyn crate::ports::OrganizationStore>>,
}

impl GroupService {
    pub fn new(
        groups: Arc<dyn GroupStore>,
        accounts: Arc<dyn AccountStore>,
        users: Arc<dyn UserStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        GroupService {
            groups,
            accounts,
            users,
            clock,
            organizations: None,
        }
    }

    /// Lets groups name organizational units of the organizations `store` keeps.
    pub fn resolving_units(mut self, store: Arc<dyn crate::ports::OrganizationStore>) -> Self {
        self.organizations = Some(store);
        self
    }

    /// Checks that the accounts named exist, and works out the accounts under the units named
    /// (each must be a unit of a registered organization).
    async fn check_accounts(&self, scope: AccountScope) -> Result<AccountScope, GroupError> {
        for id in scope.named() {
            if self.accounts.get(id).await?.is_none() {
                return Err(GroupError::UnknownAccount(id.clone()));
            }
        }
        match scope {
            AccountScope::Units { accounts, units, .. } => {
                let Some(orgs) = &self.organizations else {
                    return Err(GroupError::UnknownUnit(units[0].clone()));
                };
                let members = crate::services::organizations::all_members(orgs.as_ref()).await?;
                if let Some(unknown) = units.iter().find(|u| !members.units.contains(u)) {
                    return Err(GroupError::UnknownUnit(unknown.clone()));
                }
                let resolved = crate::domain::organization::accounts_under(&units, &members.members);
                Ok(AccountScope::Units {
                    accounts,
                    units,
                    resolved,
                })
            }
            scope => Ok(scope),
        }
    }

    /// Approver groups must exist (a group may name itself only once it exists: on update).
    async fn check_policy(&self, policy: &GrantPolicy, this: Option<&GroupId>) -> Result<(), GroupError> {
        for id in policy.approval.iter().flat_map(|a| &a.approver_groups) {
            if Some(id) != this && self.groups.get(id).await?.is_none() {
                return Err(GroupError::UnknownApproverGroup(id.clone()));
            }
        }
        Ok(())
    }

    pub async fn create(&self, new: NewGroup) -> Result<AccessGroup, GroupError> {
        let accounts = self.check_accounts(new.accounts).await?;
        self.check_policy(&new.policy, None).await?;
        let now = self.clock.now();
        let group = AccessGroup {
            id: GroupId::generate(),
            name: new.name,
            description: new.description,
            accounts,
            permissions: new.permissions,
            policy: new.policy,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match self.groups.create(&group).await {
            Ok(()) => Ok(group),
            Err(StoreError::Conflict(_)) => Err(GroupError::NameTaken(group.name.as_str().to_string())),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(&self, id: &GroupId) -> Result<AccessGroup, GroupError> {
        self.groups
            .get(id)
            .await?
            .ok_or_else(|| GroupError::NotFound(id.clone()))
    }

    pub async fn list(&self, page: &PageRequest) -> Result<Page<AccessGroup>, GroupError> {
        self.groups.list(page).await?.ok_or(GroupError::BadCursor)
    }

    pub async fn update(&self, id: &GroupId, change: GroupChange) -> Result<AccessGroup, GroupError> {
        let mut group = self.get(id).await?;
        let previous_name = group.name.folded();
        if let Some(scope) = change.accounts {
            group.accounts = self.check_accounts(scope).await?;
        }
        if let Some(name) = change.name {
            group.name = name;
        }
        if let Some(d) = change.description {
            group.description = d;
        }
        if let Some(p) = change.permissions {
            group.permissions = p;
        }
        if let Some(p) = change.policy {
            self.check_policy(&p, Some(id)).await?;
            group.policy = p;
        }
        group.version += 1;
        group.updated_at = self.clock.now();
        match self.groups.update(&group, &previous_name).await {
            Ok(()) => Ok(group),
            Err(StoreError::Conflict(_)) if group.name.folded() != previous_name && self.name_taken(&group).await? => {
                Err(GroupError::NameTaken(group.name.as_str().to_string()))
            }
            Err(StoreError::Conflict(_)) => Err(GroupError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    async fn name_taken(&self, group: &AccessGroup) -> Result<bool, GroupError> {
        let current = self.groups.get(&group.id).await?;
        Ok(current.is_some_and(|c| c.version == group.version - 1))
    }

    pub async fn delete(&self, id: &GroupId) -> Result<(), GroupError> {
        let group = self.get(id).await?;
        self.groups.delete(&group).await?;
        Ok(())
    }

    /// Adds a member; `Ok(false)` when they already were one.
    pub async fn add_member(&self, id: &GroupId, email: &Email) -> Result<bool, GroupError> {
        self.get(id).await?;
        let membership = Membership {
            group_id: id.clone(),
            email: email.clone(),
            added_at: self.clock.now(),
        };
        match self.groups.add_member(&membership).await {
            Ok(added) => Ok(added),
            Err(StoreError::Conflict(_)) => Err(GroupError::NotFound(id.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a member; `Ok(false)` when they were not one.
    pub async fn remove_member(&self, id: &GroupId, email: &Email) -> Result<bool, GroupError> {
        self.get(id).await?;
        Ok(self.groups.remove_member(id, email).await?)
    }

    pub async fn members(&self, id: &GroupId, page: &PageRequest) -> Result<Page<Membership>, GroupError> {
        self.get(id).await?;
        self.groups.members(id, page).await?.ok_or(GroupError::BadCursor)
    }

    pub async fn groups_of(&self, email: &Email) -> Result<Vec<AccessGroup>, GroupError> {
        Ok(self.groups.groups_of(email).await?)
    }

    /// Every account the user has a permission on (through any group), with their IAM user there,
    /// and, where `offer_starts` (the caller may start sessions at all), what a start would
    /// accept there.
    pub async fn effective(
        &self,
        email: &Email,
        offer_starts: bool,
    ) -> Result<(Vec<AccessGroup>, Vec<AccountPermissions>), GroupError> {
        let groups = self.groups.groups_of(email).await?;
        // JIT settings are read only where a start could be offered (not for approvers' groups
        // over every account, say), a few reads at a time.
        let may_start = |id: &AccountId| {
            let p = permissions_on(&groups, id);
            offer_starts && (p.start_sessions || p.start_jit_sessions || p.start_identity_center_sessions)
        };
        let mut accounts: Vec<(Account, Option<JitSettings>)> = Vec::new();
        if groups.iter().any(|g| g.accounts == AccountScope::All) {
            let mut page = PageRequest {
                limit: 100,
                cursor: None,
            };
            let mut listed: Vec<Account> = Vec::new();
            loop {
                let p = self.accounts.list(&page).await?.ok_or(GroupError::BadCursor)?;
                listed.extend(p.items);
                match p.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
            let reads: Vec<_> = listed
                .iter()
                .map(|a| {
                    let (wanted, read) = (may_start(&a.id), self.accounts.get_jit(&a.id));
                    async move { if wanted { read.await } else { Ok(None) } }
                })
                .collect();
            let read: Vec<Option<JitSettings>> = futures::stream::iter(reads).buffered(8).try_collect().await?;
            accounts.extend(listed.into_iter().zip(read));
        } else {
            let mut ids: Vec<&AccountId> = groups
                .iter()
                .flat_map(|g| g.accounts.covered().unwrap_or_default())
                .collect();
            ids.sort_by_key(|id| id.as_str().to_string());
            ids.dedup();
            // The account and its settings in one read each.
            let reads: Vec<_> = ids.iter().map(|id| self.accounts.get_with_settings(id)).collect();
            let read: Vec<_> = futures::stream::iter(reads).buffered(8).try_collect().await?;
            for found in read {
                // A group may name an account deleted since: skip it.
                if let Some(account) = found.account {
                    let jit = found.jit.filter(|_| may_start(&account.id));
                    accounts.push((account, jit));
                }
            }
        }
        let iam_users = self.users.of_email(email).await?;
        let result = accounts
            .into_iter()
            .map(|(account, jit)| {
                let iam_user = iam_users.iter().find(|u| u.account_id == account.id).cloned();
                let (console, jit_roles) = offers(&groups, &account.id, jit.as_ref(), iam_user.as_ref());
                let permission_sets = identity_center_offers(&groups, &account, jit.as_ref());
                let via_groups = groups
                    .iter()
                    .filter(|g| g.accounts.covers(&account.id))
                    .map(|g| g.id.clone())
                    .collect();
                AccountPermissions {
                    permissions: permissions_on(&groups, &account.id),
                    via_groups,
                    iam_user,
                    console,
                    jit_roles,
                    permission_sets,
                    account,
                }
            })
            .collect();
        Ok((groups, result))
    }
}
