//! The port to Session Manager in a target account: the target checks (EC2 and SSM's
//! instance information), the preferences document, and the Session Manager sessions a shell
//! session opened, with their transcripts in S3.

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{AccountAccess, CloudError};
use crate::domain::shell::ShellTarget;

/// What EC2 says of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Instance {
    /// `pending`, `running`, `stopping`, `stopped`, ...
    pub state: String,
    pub tags: BTreeMap<String, String>,
    /// The instance profile's ARN: without one the SSM Agent cannot reach Systems Manager.
    pub instance_profile: Option<String>,
}

/// What Systems Manager says of a managed node (`DescribeInstanceInformation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedNode {
    /// `Online`, `ConnectionLost`, `Inactive`.
    pub ping_status: String,
    pub agent_version: String,
    pub platform_type: String,
}

/// A Session Manager session, as `DescribeSessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmSessionInfo {
    pub id: String,
    pub target: String,
    pub status: String,
    pub started_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
}

/// An S3 object's size and, when it is within the bound asked, the SHA-256 of all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDigest {
    pub bytes: u64,
    /// Lowercase hex; `None` when the object is over the bound (then it is not read).
    pub sha256: Option<String>,
}

/// Opens Session Manager (with EC2 and S3) in target accounts.
#[async_trait]
pub trait ShellConnector: Send + Sync {
    /// Connects with the account's credentials (assuming its role once, if it has one).
    async fn connect(&self, access: &AccountAccess) -> Result<Box<dyn TargetShell>, CloudError>;
}

/// What functions that serve no shell session are wired with: they never reach Session
/// Manager, and do not link its SDKs.
pub struct NoShell;

#[async_trait]
impl ShellConnector for NoShell {
    async fn connect(&self, _: &AccountAccess) -> Result<Box<dyn TargetShell>, CloudError> {
        Err(CloudError::Unavailable(
            "Session Manager is not wired into this function".into(),
        ))
    }
}

/// Session Manager in one target account and region.
#[async_trait]
pub trait TargetShell: Send + Sync {
    /// The EC2 instance `target` (`None` when the account has no such instance).
    async fn instance(&self, target: &ShellTarget) -> Result<Option<Ec2Instance>, CloudError>;
    /// The EC2 instances carrying every one of `tags` (not terminated), at most `max` of them:
    /// the candidates a tag selector names, for the list of reachable targets.
    async fn instances_tagged(
        &self,
        tags: &BTreeMap<String, String>,
        max: usize,
    ) -> Result<Vec<(ShellTarget, Ec2Instance)>, CloudError>;
    /// The managed node `target` (`None` when Systems Manager does not manage it).
    async fn managed_node(&self, target: &ShellTarget) -> Result<Option<ManagedNode>, CloudError>;
    /// A hybrid managed node's tags (EC2 instances' come with `instance`).
    async fn node_tags(&self, target: &ShellTarget) -> Result<BTreeMap<String, String>, CloudError>;
    /// The preferences document's default version content, if the document exists.
    async fn preferences(&self) -> Result<Option<String>, CloudError>;
    /// Creates the preferences document, or makes `content` its new default version.
    async fn put_preferences(&self, content: &str, exists: bool) -> Result<(), CloudError>;
    /// Sessions started by `owner` (an ARN): the live ones, or the finished ones.
    async fn sessions_of(&self, owner: &str, live: bool) -> Result<Vec<SsmSessionInfo>, CloudError>;
    async fn terminate(&self, ssm_session_id: &str) -> Result<(), CloudError>;
    /// Up to `max` bytes of an object, and whether there was more (`None`: no such object).
    async fn read_object(&self, bucket: &str, key: &str, max: usize) -> Result<Option<(Vec<u8>, bool)>, CloudError>;
    /// An object's size and, when it holds at most `max` bytes, the SHA-256 of all of it, read
    /// as a stream (`None`: no such object).
    async fn object_digest(&self, bucket: &str, key: &str, max: u64) -> Result<Option<ObjectDigest>, CloudError>;
}
