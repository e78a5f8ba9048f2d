//! The ports an organization's registration and sync go through: reading the organization
//! from AWS Organizations, and keeping it (with its OU tree and members) in the table.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::identity_center::IdentityCenterSettings;
use crate::domain::organization::{Discovered, OrgMember, OrgUnit, Organization, OrganizationId, Placement};
use crate::domain::{AccountId, Region, RoleArn, Secret};

/// Why a discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// STS refused the role (wrong role, trust or ExternalId).
    #[error("{0}")]
    Refused(String),
    /// Organizations refused the role's account: neither the management account nor a
    /// delegated administrator, or not in an organization.
    #[error("{0}")]
    NotOrganizationAdmin(String),
    #[error("{0}")]
    Unavailable(String),
}

/// AWS Organizations, read through the organization's role.
#[async_trait]
pub trait OrganizationDirectory: Send + Sync {
    /// Assumes `role` with `external_id` and reads the organization: its id and management
    /// account, the root, every OU and every account with its direct parent (every page).
    async fn discover(
        &self,
        role: &RoleArn,
        external_id: &Secret,
        region: &Region,
    ) -> Result<Discovered, DiscoveryError>;
}

/// An organization as kept, with its tree as last discovered.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOrganization {
    pub organization: Organization,
    pub units: Vec<OrgUnit>,
    pub members: Vec<OrgMember>,
    /// Its IAM Identity Center, once an admin set it up (an item of its own, so that a sync
    /// rewriting the organization never undoes it).
    pub identity_center: Option<IdentityCenterSettings>,
}

/// Persistence of registered organizations.
#[async_trait]
pub trait OrganizationStore: Send + Sync {
    /// Stores a new organization with its tree, using up the issued ExternalId whose digest is
    /// `consumes` in the same write. `Conflict` when it is registered already or the ExternalId
    /// is no longer issued.
    async fn insert(&self, org: &StoredOrganization, consumes: &str) -> Result<(), StoreError>;
    async fn get(&self, id: &OrganizationId) -> Result<Option<StoredOrganization>, StoreError>;
    /// Every registered organization, without their trees.
    async fn list(&self) -> Result<Vec<Organization>, StoreError>;
    /// Replaces the tree with `now` (writing only what changed from `before`) and records
    /// the organization's `synced_at`.
    async fn save_tree(&self, before: &StoredOrganization, now: &StoredOrganization) -> Result<(), StoreError>;
    /// Records that member `member` is enabled as broker account `account`.
    async fn set_enabled(&self, id: &OrganizationId, member: &OrgMember, account: &AccountId)
    -> Result<(), StoreError>;
    async fn delete(&self, org: &StoredOrganization) -> Result<(), StoreError>;
    /// Keeps the organization's Identity Center settings (`None`: removes them).
    async fn set_identity_center(
        &self,
        id: &OrganizationId,
        settings: Option<&IdentityCenterSettings>,
    ) -> Result<(), StoreError>;
    /// Keeps a registered account's place in its organization (`None`: no longer in one).
    async fn place(&self, account: &AccountId, placement: Option<&Placement>) -> Result<(), StoreError>;
}
