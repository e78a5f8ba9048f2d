//! IAM Identity Center as an Identity Center session needs it: the identity store (who the
//! platform user is there, which groups they are in), the account assignments that grant a
//! permission set, and the permission set's inline policy with its provisioning (where an
//! end's deny goes). Reached through the broker's role in the account Identity Center is
//! administered from.

use async_trait::async_trait;

use super::CloudError;
use crate::domain::identity_center::{IdentityCenterSettings, InstanceArn, PermissionSetArn, UserAttribute};
use crate::domain::{AwsAccountId, Secret};

/// How an asynchronous Identity Center operation stands (`Describe…Status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    InProgress,
    Succeeded,
    Failed(String),
}

/// Which asynchronous operation a request id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    AssignmentCreation,
    AssignmentDeletion,
    Provisioning,
}

/// A user in the identity store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUser {
    pub user_id: String,
    pub user_name: String,
}

/// A permission set as DescribePermissionSet gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSetInfo {
    pub name: String,
    /// Its SessionDuration, in seconds.
    pub session_seconds: u32,
}

/// Who an account assignment of a permission set is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(String),
    Group(String),
}

/// Identity Center, administered from one account.
#[async_trait]
pub trait IdentityCenterAdmin: Send + Sync {
    /// The identity store's user holding `value` in `attribute`; `None` when there is none.
    async fn find_user(
        &self,
        store: &str,
        attribute: UserAttribute,
        value: &str,
    ) -> Result<Option<StoreUser>, CloudError>;
    /// The identity-store groups `user_id` is a member of.
    async fn groups_of(&self, store: &str, user_id: &str) -> Result<Vec<String>, CloudError>;
    async fn permission_set(
        &self,
        instance: &InstanceArn,
        set: &PermissionSetArn,
    ) -> Result<PermissionSetInfo, CloudError>;
    /// Who has `set` assigned in `account` (every page).
    async fn assignments(
        &self,
        instance: &InstanceArn,
        account: &AwsAccountId,
        set: &PermissionSetArn,
    ) -> Result<Vec<Principal>, CloudError>;
    /// Assigns `set` in `account` to the user; returns the request id.
    async fn create_assignment(
        &self,
        instance: &InstanceArn,
        account: &AwsAccountId,
        set: &PermissionSetArn,
        user_id: &str,
    ) -> Result<String, CloudError>;
    async fn delete_assignment(
        &self,
        instance: &InstanceArn,
        account: &AwsAccountId,
        set: &PermissionSetArn,
        user_id: &str,
    ) -> Result<String, CloudError>;
    /// Every permission set of the instance (every page).
    async fn permission_sets(&self, instance: &InstanceArn) -> Result<Vec<PermissionSetArn>, CloudError>;
    /// The permission set's inline policy ("" when it has none).
    async fn inline_policy(&self, instance: &InstanceArn, set: &PermissionSetArn) -> Result<String, CloudError>;
    /// Replaces it (`None`: removes it).
    async fn put_inline_policy(
        &self,
        instance: &InstanceArn,
        set: &PermissionSetArn,
        policy: Option<&str>,
    ) -> Result<(), CloudError>;
    /// Provisions `set` to `account` (its role there takes the set's policies); returns the
    /// request id.
    async fn provision(
        &self,
        instance: &InstanceArn,
        set: &PermissionSetArn,
        account: &AwsAccountId,
    ) -> Result<String, CloudError>;
    /// How the request `id` of `operation` stands.
    async fn progress(&self, instance: &InstanceArn, operation: Operation, id: &str) -> Result<Progress, CloudError>;
    /// The instances the account administers: (instance, identity store id).
    async fn instances(&self) -> Result<Vec<(InstanceArn, String)>, CloudError>;
}

/// Connects to Identity Center through the broker's role in the account it is administered
/// from.
#[async_trait]
pub trait IdentityCenterConnector: Send + Sync {
    async fn connect(
        &self,
        settings: &IdentityCenterSettings,
        role_name: &str,
        external_id: &Secret,
    ) -> Result<Box<dyn IdentityCenterAdmin>, CloudError>;
}

/// What functions that serve no Identity Center session are wired with.
pub struct NoIdentityCenter;

#[async_trait]
impl IdentityCenterConnector for NoIdentityCenter {
    async fn connect(
        &self,
        _: &IdentityCenterSettings,
        _: &str,
        _: &Secret,
    ) -> Result<Box<dyn IdentityCenterAdmin>, CloudError> {
        Err(CloudError::Unavailable(
            "IAM Identity Center is not wired into this function".into(),
        ))
    }
}
