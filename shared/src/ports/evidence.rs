//! Ports of the signed evidence digests: the session-log bucket read and written as an archive,
//! the asymmetric key that signs digests, and where each account's digest chain stands.

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{LogError, StoreError};
use crate::domain::AccountId;
use crate::domain::evidence::DigestLink;

/// An object's key and when it was last written.
#[derive(Debug, Clone)]
pub struct ArchivedObject {
    pub key: String,
    pub last_modified: OffsetDateTime,
}

/// An object's bytes, user metadata and write time.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub body: Vec<u8>,
    /// The store's version tag (S3's ETag), to write over only this version.
    pub etag: Option<String>,
    pub metadata: HashMap<String, String>,
    pub last_modified: OffsetDateTime,
}

/// The session-log bucket, seen whole.
#[async_trait]
pub trait LogArchive: Send + Sync {
    /// Every object under `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<ArchivedObject>, LogError>;
    async fn fetch(&self, key: &str) -> Result<Option<StoredObject>, LogError>;
    /// Writes `key` only if no object is there (S3's conditional write, `If-None-Match: *`):
    /// `Ok(false)` when one is, so a digest once written is never replaced by another run's.
    async fn put_new(&self, key: &str, body: Vec<u8>, metadata: &[(&str, &str)]) -> Result<bool, LogError>;
}

/// The key that signs digests (KMS, asymmetric; its private half never leaves KMS).
#[async_trait]
pub trait EvidenceSigner: Send + Sync {
    /// The key's id or ARN, recorded in each digest.
    fn key_id(&self) -> &str;
    /// Signs a SHA-256 digest (RSASSA-PKCS1-v1_5).
    async fn sign(&self, sha256: &[u8]) -> Result<Vec<u8>, String>;
    /// The public key, DER-encoded SubjectPublicKeyInfo.
    async fn public_key(&self) -> Result<Vec<u8>, String>;
}

/// How far an account's logs are digested, and the digest the next one chains from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCursor {
    pub digested_until: OffsetDateTime,
    pub last: Option<DigestLink>,
}

#[async_trait]
pub trait DigestCursors: Send + Sync {
    async fn cursor(&self, account: &AccountId) -> Result<Option<DigestCursor>, StoreError>;
    /// Moves the cursor from `expected` to `next`; `Conflict` when another run moved it first
    /// (so two runs cannot fork the chain).
    async fn advance(
        &self,
        account: &AccountId,
        expected: Option<&DigestCursor>,
        next: &DigestCursor,
    ) -> Result<(), StoreError>;
}
