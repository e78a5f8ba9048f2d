//! `SecretSealer` on KMS: each secret is encrypted under the broker's key with an encryption
//! context naming the record it belongs to.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;

use super::describe;
use crate::domain::{Sealed, Secret};
use crate::ports::{SealContext, SealError, SecretSealer};

pub struct KmsSealer {
    client: super::LazyClient<aws_sdk_kms::Client>,
    key_id: String,
}

impl KmsSealer {
    /// The client is created on the first call (see `LazyClient`).
    pub fn new(sdk: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        let sdk = sdk.clone();
        KmsSealer {
            client: super::LazyClient::new(move || aws_sdk_kms::Client::new(&sdk)),
            key_id: key_id.into(),
        }
    }
}

#[async_trait]
impl SecretSealer for KmsSealer {
    async fn seal(&self, plaintext: &Secret, context: &SealContext) -> Result<Sealed, SealError> {
        let mut req = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext.expose().as_bytes()));
        for (k, v) in &context.0 {
            req = req.encryption_context(*k, v);
        }
        let out = req.send().await.map_err(|e| SealError(describe(&e)))?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| SealError("KMS returned no ciphertext".into()))?;
        Ok(Sealed(blob.into_inner()))
    }

    async fn open(&self, sealed: &Sealed, context: &SealContext) -> Result<Secret, SealError> {
        let mut req = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(sealed.0.clone()));
        for (k, v) in &context.0 {
            req = req.encryption_context(*k, v);
        }
        let out = req.send().await.map_err(|e| SealError(describe(&e)))?;
        let plain = out
            .plaintext
            .ok_or_else(|| SealError("KMS returned no plaintext".into()))?;
        String::from_utf8(plain.into_inner())
            .map(Secret::new)
            .map_err(|_| SealError("sealed secret is not UTF-8".into()))
    }
}

/// `EvidenceSigner` on an asymmetric KMS key (RSA, SIGN_VERIFY): digests are signed as SHA-256
/// digests (MessageType DIGEST), so a digest of any size is one Sign call.
pub struct KmsEvidenceKey {
    client: super::LazyClient<aws_sdk_kms::Client>,
    key_id: String,
}

impl KmsEvidenceKey {
    pub fn new(sdk: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        let sdk = sdk.clone();
        KmsEvidenceKey {
            client: super::LazyClient::new(move || aws_sdk_kms::Client::new(&sdk)),
            key_id: key_id.into(),
        }
    }
}

#[async_trait]
impl crate::ports::EvidenceSigner for KmsEvidenceKey {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn sign(&self, sha256: &[u8]) -> Result<Vec<u8>, String> {
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(sha256.to_vec()))
            .message_type(aws_sdk_kms::types::MessageType::Digest)
            .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        out.signature
            .map(Blob::into_inner)
            .ok_or_else(|| "KMS returned no signature".into())
    }

    async fn public_key(&self) -> Result<Vec<u8>, String> {
        let out = self
            .client
            .get_public_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        out.public_key
            .map(Blob::into_inner)
            .ok_or_else(|| "KMS returned no public key".into())
    }
}

/// The sealer, for `Overrides::kms` (see `App::on_aws`).
pub fn sealer(sdk: &aws_config::SdkConfig, key_id: &str) -> std::sync::Arc<dyn crate::ports::SecretSealer> {
    std::sync::Arc::new(KmsSealer::new(sdk, key_id))
}

/// The evidence signing key, for `Overrides::signer`.
pub fn evidence_key(sdk: &aws_config::SdkConfig, key_id: &str) -> std::sync::Arc<dyn crate::ports::EvidenceSigner> {
    std::sync::Arc::new(KmsEvidenceKey::new(sdk, key_id))
}
