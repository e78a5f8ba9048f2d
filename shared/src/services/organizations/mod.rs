//! Registered AWS Organizations: registering one through its read-only role, reading it,
//! enabling its member accounts for sessions through the role its StackSet deploys, and
//! removing it. Keeping it in step with AWS is `sync`.

mod identity_center;
mod sync;

use std::sync::Arc;

pub use identity_center::SetIdentityCenter;
pub use sync::SyncReport;

use crate::domain::organization::{
    Discovered, MemberState, OrgMember, Organization, OrganizationId, OuId, Placement, tree,
};
use crate::domain::{
    AccessGroup, Account, AccountCredentials, AccountName, AccountScope, AwsAccountId, Region, RoleArn, Secret,
    external_id_digest,
};
use crate::ports::{
    AccountStore, Clock, DiscoveryError, GroupStore, OrganizationDirectory, OrganizationStore, SealContext,
    SecretSealer, StoreError, StoredOrganization,
};
use crate::services::accounts::{AccountService, RegisterAccount, RegisterAccountError};

/// A new registration, validated.
#[derive(Debug)]
pub struct RegisterOrganization {
    pub name: String,
    pub default_region: Region,
    pub role_arn: RoleArn,
    pub external_id: Secret,
    pub enable_new_accounts: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OrganizationError {
    #[error("no organization {0} is registered")]
    NotFound(String),
    #[error("AWS account {account} is not a member of organization {organization}")]
    NotAMember { organization: String, account: String },
    #[error("AWS rejected the role: {0}")]
    InvalidCredentials(String),
    #[error(
        "the role's account can read no organization: Organizations answers only the management account and delegated administrators ({0})"
    )]
    NotOrganizationAdmin(String),
    #[error(
        "the external_id is not one this broker issued for a registration, or it was already used or expired (7 days); ask for one with POST /accounts/external-ids and put it in the roles' trust policies"
    )]
    ExternalIdNotIssued,
    #[error(
        "AWS account {0} is the broker's own: registering its organization would let broker admins act on the broker's own resources"
    )]
    OwnAccount(String),
    #[error("organization {0} is already registered")]
    AlreadyRegistered(String),
    #[error("AWS account {0} is already registered")]
    AccountRegistered(String),
    #[error("AWS account {0} is not active in its organization (closing, closed or suspended)")]
    AccountClosed(String),
    #[error("groups name units of organization {0}: {1}; take the units out of those groups first")]
    InUse(String, String),
    /// The account administering Identity Center has no instance the broker may use, or
    /// several and none was named.
    #[error("{0}")]
    NoIdentityCenter(String),
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for OrganizationError {
    fn from(e: StoreError) -> Self {
        OrganizationError::Unavailable(e.to_string())
    }
}

impl From<DiscoveryError> for OrganizationError {
    fn from(e: DiscoveryError) -> Self {
        match e {
            DiscoveryError::Refused(m) => OrganizationError::InvalidCredentials(m),
            DiscoveryError::NotOrganizationAdmin(m) => OrganizationError::NotOrganizationAdmin(m),
            DiscoveryError::Unavailable(m) => OrganizationError::Unavailable(m),
        }
    }
}

/// Every unit and member of every registered organization: what OU-scoped groups resolve
/// against.
pub struct AllMembers {
    pub units: Vec<OuId>,
    pub members: Vec<OrgMember>,
}

pub async fn all_members(store: &dyn OrganizationStore) -> Result<AllMembers, StoreError> {
    let mut all = AllMembers {
        units: Vec::new(),
        members: Vec::new(),
    };
    for org in store.list().await? {
        if let Some(stored) = store.get(&org.id).await? {
            all.units.extend(stored.units.into_iter().map(|u| u.id));
            all.members.extend(stored.members);
        }
    }
    Ok(all)
}

#[derive(Clone)]
pub struct OrganizationService {
    store: Arc<dyn OrganizationStore>,
    directory: Arc<dyn OrganizationDirectory>,
    accounts: AccountService,
    account_store: Arc<dyn AccountStore>,
    groups: Arc<dyn GroupStore>,
    sealer: Arc<dyn SecretSealer>,
    clock: Arc<dyn Clock>,
    /// Where each sync's report goes (`organization.synced`).
    events: Arc<dyn crate::ports::EventPublisher>,
    /// The role name (a pattern with `*`) registrations may name (`OrganizationRoleName`).
    role_name: String,
    /// The role the StackSet deploys in members (`TargetRoleName`).
    member_role_name: String,
    /// IAM Identity Center, through the role named `identity_center_role` where it is
    /// administered.
    identity_center: Arc<dyn crate::ports::IdentityCenterConnector>,
    identity_center_role: String,
}

impl OrganizationService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn OrganizationStore>,
        directory: Arc<dyn OrganizationDirectory>,
        accounts: AccountService,
        account_store: Arc<dyn AccountStore>,
        groups: Arc<dyn GroupStore>,
        sealer: Arc<dyn SecretSealer>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn crate::ports::EventPublisher>,
        role_name: &str,
        member_role_name: &str,
    ) -> Self {
        OrganizationService {
            store,
            directory,
            accounts,
            account_store,
            groups,
            sealer,
            clock,
            events,
            role_name: role_name.to_string(),
            // The StackSet deploys one name; a pattern (`TargetRoleName` may be one) is no
            // name, so its default stands in.
            member_role_name: if member_role_name.contains('*') || member_role_name.is_empty() {
                crate::config::DEFAULT_TARGET_ROLE_NAME.to_string()
            } else {
                member_role_name.to_string()
            },
            identity_center: Arc::new(crate::ports::NoIdentityCenter),
            identity_center_role: crate::config::DEFAULT_IDENTITY_CENTER_ROLE_NAME.to_string(),
        }
    }

    /// Reaches organizations' IAM Identity Center through `connector`, assuming `role_name`.
    pub fn reaching_identity_center(
        mut self,
        connector: Arc<dyn crate::ports::IdentityCenterConnector>,
        role_name: &str,
    ) -> Self {
        self.identity_center = connector;
        self.identity_center_role = role_name.to_string();
        self
    }

    async fn external_id(&self, org: &Organization) -> Result<Secret, OrganizationError> {
        self.sealer
            .open(&org.sealed_external_id, &SealContext::organization(&org.id))
            .await
            .map_err(|e| OrganizationError::Unavailable(e.to_string()))
    }

    /// Reads the organization through its role, checks it may be registered, and stores it
    /// with its tree, using up the issued ExternalId in the same write.
    pub async fn register(&self, cmd: RegisterOrganization) -> Result<StoredOrganization, OrganizationError> {
        if !cmd.role_arn.name_matches(&self.role_name) {
            return Err(OrganizationError::InvalidCredentials(format!(
                "the broker may assume only roles named {} to read an organization (the template's OrganizationRoleName), not {}",
                self.role_name, cmd.role_arn
            )));
        }
        if self.accounts.own_account() == Some(cmd.role_arn.account()) {
            return Err(OrganizationError::OwnAccount(cmd.role_arn.account().to_string()));
        }
        let digest = external_id_digest(&cmd.external_id);
        if !self.account_store.external_id_issued(&digest, self.clock.now()).await? {
            return Err(OrganizationError::ExternalIdNotIssued);
        }
        let found = self
            .directory
            .discover(&cmd.role_arn, &cmd.external_id, &cmd.default_region)
            .await?;
        if self.accounts.own_account() == Some(&found.management_account_id) {
            return Err(OrganizationError::OwnAccount(found.management_account_id.to_string()));
        }
        let members = tree(&found, &[]).map_err(|e| OrganizationError::Unavailable(e.to_string()))?;
        let sealed_external_id = self
            .sealer
            .seal(&cmd.external_id, &SealContext::organization(&found.organization_id))
            .await
            .map_err(|e| OrganizationError::Unavailable(e.to_string()))?;
        let now = self.clock.now();
        let stored = StoredOrganization {
            organization: Organization {
                id: found.organization_id.clone(),
                name: cmd.name,
                management_account_id: found.management_account_id.clone(),
                role_arn: cmd.role_arn,
                sealed_external_id,
                member_role_name: self.member_role_name.clone(),
                default_region: cmd.default_region,
                enable_new_accounts: cmd.enable_new_accounts,
                root_id: found.root_id.clone(),
                synced_at: now,
                created_at: now,
                updated_at: now,
            },
            units: found.units,
            members,
            identity_center: None,
        };
        match self.store.insert(&stored, &digest).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(if self.account_store.external_id_issued(&digest, now).await? {
                    OrganizationError::AlreadyRegistered(stored.organization.id.to_string())
                } else {
                    OrganizationError::ExternalIdNotIssued
                });
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(organization = %stored.organization.id, accounts = stored.members.len(), "organization registered");
        if stored.organization.enable_new_accounts {
            // At registration every active member is enabled; each sync, what is new since.
            let mut stored = stored;
            if !self.enable_all_new(&mut stored).await.is_empty() {
                self.resolve_groups().await?;
            }
            return Ok(stored);
        }
        Ok(stored)
    }

    pub async fn get(&self, id: &str) -> Result<StoredOrganization, OrganizationError> {
        let parsed = OrganizationId::parse(id).map_err(|_| OrganizationError::NotFound(id.to_string()))?;
        self.store
            .get(&parsed)
            .await?
            .ok_or_else(|| OrganizationError::NotFound(id.to_string()))
    }

    pub async fn list(&self) -> Result<Vec<Organization>, OrganizationError> {
        Ok(self.store.list().await?)
    }

    /// Enables `member` for sessions: registers it as a broker account through the member
    /// role, with the organization's ExternalId.
    pub async fn enable(&self, id: &str, member: &str) -> Result<Account, OrganizationError> {
        let stored = self.get(id).await?;
        let not_member = || OrganizationError::NotAMember {
            organization: id.to_string(),
            account: member.to_string(),
        };
        let aws = AwsAccountId::parse(member).map_err(|_| not_member())?;
        let found = stored
            .members
            .iter()
            .find(|m| m.aws_account_id == aws)
            .ok_or_else(not_member)?
            .clone();
        let account = self.enable_member(&stored.organization, &found).await?;
        // Groups naming a unit above it cover it from now, not from the next sync.
        self.resolve_groups().await?;
        Ok(account)
    }

    /// Registers `member` and records it as enabled; the caller resolves the OU-scoped groups
    /// again once it has enabled all it enables.
    async fn enable_member(&self, org: &Organization, member: &OrgMember) -> Result<Account, OrganizationError> {
        if !member.state.is_active() {
            return Err(OrganizationError::AccountClosed(member.aws_account_id.to_string()));
        }
        if self.accounts.own_account() == Some(&member.aws_account_id) {
            return Err(OrganizationError::OwnAccount(member.aws_account_id.to_string()));
        }
        let name = AccountName::parse(&member.name)
            .or_else(|_| AccountName::parse(member.aws_account_id.as_str()))
            .map_err(|e| OrganizationError::Unavailable(e.to_string()))?;
        let cmd = RegisterAccount {
            name,
            default_region: org.default_region.clone(),
            credentials: AccountCredentials::AssumeRole {
                role_arn: org.member_role(&member.aws_account_id),
                external_id: self.external_id(org).await?,
            },
        };
        let placement = Placement {
            organization: org.id.clone(),
            ou_path: member.ou_path.clone(),
            state: member.state,
        };
        let account = self
            .accounts
            .register_member(cmd, placement)
            .await
            .map_err(|e| match e {
                RegisterAccountError::InvalidCredentials(m) => OrganizationError::InvalidCredentials(m),
                RegisterAccountError::AlreadyRegistered(a) => OrganizationError::AccountRegistered(a.to_string()),
                RegisterAccountError::AccountMismatch { expected, actual } => OrganizationError::InvalidCredentials(
                    format!("the member role of {expected} answered as AWS account {actual}"),
                ),
                RegisterAccountError::OwnAccount(a) => OrganizationError::OwnAccount(a.to_string()),
                RegisterAccountError::ExternalIdNotIssued => OrganizationError::ExternalIdNotIssued,
                RegisterAccountError::Unavailable(m) => OrganizationError::Unavailable(m),
            })?;
        self.store.set_enabled(&org.id, member, &account.id).await?;
        tracing::info!(organization = %org.id, member = %member.aws_account_id, account = %account.id, "member account enabled");
        Ok(account)
    }

    /// Enables every active member of `stored` not enabled yet (with `enable_new_accounts`,
    /// every one is meant to be): one that failed is tried again at the next sync. Not the
    /// management account, where a service-managed StackSet deploys no member role, nor the
    /// broker's own. The caller resolves the groups again once.
    async fn enable_all_new(&self, stored: &mut StoredOrganization) -> Vec<Account> {
        let mut enabled = Vec::new();
        let management = stored.organization.management_account_id.clone();
        for member in stored.members.iter_mut() {
            if member.account_id.is_some()
                || member.state != MemberState::Active
                || member.aws_account_id == management
                || self.accounts.own_account() == Some(&member.aws_account_id)
            {
                continue;
            }
            match self.enable_member(&stored.organization, member).await {
                Ok(account) => {
                    member.account_id = Some(account.id.clone());
                    enabled.push(account);
                }
                Err(e) => {
                    tracing::warn!(organization = %stored.organization.id, member = %member.aws_account_id, error = %e, "a new member account could not be enabled; the next sync tries again")
                }
            }
        }
        enabled
    }

    /// Removes the organization. Its enabled accounts stay registered, out of any organization.
    pub async fn delete(&self, id: &str) -> Result<(), OrganizationError> {
        let stored = self.get(id).await?;
        let units: Vec<&OuId> = stored.units.iter().map(|u| &u.id).collect();
        let naming: Vec<String> = self
            .all_groups()
            .await?
            .into_iter()
            .filter(|g| matches!(&g.accounts, AccountScope::Units { units: named, .. } if named.iter().any(|u| units.contains(&u))))
            .map(|g| g.name.as_str().to_string())
            .collect();
        if !naming.is_empty() {
            return Err(OrganizationError::InUse(id.to_string(), naming.join(", ")));
        }
        for account in stored.members.iter().filter_map(|m| m.account_id.as_ref()) {
            self.store.place(account, None).await?;
        }
        self.store.delete(&stored).await?;
        Ok(())
    }

    async fn all_groups(&self) -> Result<Vec<AccessGroup>, StoreError> {
        self.groups.all().await
    }

    /// Works the accounts of every OU-scoped group out again; returns how many changed.
    pub async fn resolve_groups(&self) -> Result<usize, StoreError> {
        let members = all_members(self.store.as_ref()).await?;
        let mut changed = 0;
        for mut group in self.all_groups().await? {
            let AccountScope::Units { units, resolved, .. } = &mut group.accounts else {
                continue;
            };
            let now = crate::domain::organization::accounts_under(units, &members.members);
            if *resolved == now {
                continue;
            }
            *resolved = now;
            let previous_name = group.name.folded();
            group.version += 1;
            group.updated_at = self.clock.now();
            match self.groups.update(&group, &previous_name).await {
                Ok(()) => changed += 1,
                // An admin's edit won; that edit resolved the units itself.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }

    /// Discovers the organization again through its role.
    async fn discover(&self, org: &Organization) -> Result<Discovered, OrganizationError> {
        let external_id = self.external_id(org).await?;
        let found = self
            .directory
            .discover(&org.role_arn, &external_id, &org.default_region)
            .await?;
        if found.organization_id != org.id {
            return Err(OrganizationError::NotOrganizationAdmin(format!(
                "the role now reads organization {}, not {}",
                found.organization_id, org.id
            )));
        }
        Ok(found)
    }
}
