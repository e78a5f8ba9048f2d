//! Ports: the narrow traits through which the services reach the outside world (storage,
//! the cloud, the key service, the clock). Adapters in `crate::adapters` implement them
//! for AWS; tests can implement them to inject faults.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{Account, AccountCredentials, AccountId, CallerIdentity, JitSettings, Region, Sealed, Secret};

/// A failure of a backing service, classified by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item exists, or changed since it was read.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend failed or timed out; the operation may be retried.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// One page of a listing, with an opaque cursor for the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Where a listing starts and how many items it returns.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

/// Why a delete was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteAccountRefusal {
    #[error("the account has {0} provisioned user(s)")]
    HasUsers(u64),
    #[error("the account has {0} live session(s)")]
    HasLiveSessions(u64),
}

/// Persistence of registered accounts and their JIT settings.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a new account. `Conflict` when its AWS account is already registered.
    async fn insert(&self, account: &Account) -> Result<(), StoreError>;
    async fn get(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    /// Lists accounts oldest first. An unreadable cursor is `Ok(None)`.
    async fn list(&self, page: &PageRequest) -> Result<Option<Page<Account>>, StoreError>;
    /// Replaces the account if its stored version is still `account.version - 1`.
    async fn update(&self, account: &Account) -> Result<(), StoreError>;
    /// Deletes the account, its JIT settings and its registration marker, atomically, unless
    /// it still has users or live sessions (checked in the same write, so no race).
    async fn delete(&self, account: &Account) -> Result<Result<(), DeleteAccountRefusal>, StoreError>;
    /// `None` when never configured.
    async fn get_jit(&self, id: &AccountId) -> Result<Option<JitSettings>, StoreError>;
    /// Writes the settings if the account still exists (`Conflict` otherwise).
    async fn put_jit(&self, id: &AccountId, settings: &JitSettings) -> Result<(), StoreError>;
}

/// Why credentials could not be confirmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// AWS answered and refused them (bad key, bad signature, denied AssumeRole…).
    #[error("{0}")]
    Rejected(String),
    /// AWS could not be reached; nothing is known about the credentials.
    #[error("{0}")]
    Unavailable(String),
}

/// Asks the cloud who a set of credentials belongs to.
#[async_trait]
pub trait CredentialVerifier: Send + Sync {
    async fn verify(&self, credentials: &AccountCredentials, region: &Region) -> Result<CallerIdentity, VerifyError>;
}

/// What a sealed secret is bound to: opening it under any other context fails, so a
/// ciphertext copied onto another account's record is useless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealContext(pub Vec<(&'static str, String)>);

impl SealContext {
    pub fn account(id: &AccountId) -> Self {
        SealContext(vec![("cloud-iam-broker:account-id", id.to_string())])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key service: {0}")]
pub struct SealError(pub String);

/// Envelope encryption of secrets at rest (KMS in AWS).
#[async_trait]
pub trait SecretSealer: Send + Sync {
    async fn seal(&self, plaintext: &Secret, context: &SealContext) -> Result<Sealed, SealError>;
    async fn open(&self, sealed: &Sealed, context: &SealContext) -> Result<Secret, SealError>;
}

/// The current time; a port so tests can move it (session expiry).
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
