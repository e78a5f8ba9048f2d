//! `NotWired`: what a function gets for an AWS-backed port its `main` did not wire, so that its
//! bootstrap does not link that service's SDK (see `App::on_aws`). A function's routes never
//! reach these; should one, it gets a clear "unavailable", never a panic.

use async_trait::async_trait;

use super::{
    AccountAccess, ArchivedObject, AssumeRequest, CloudError, CredentialVerifier, IamConnector, LogArchive, LogError,
    RoleAssumer, SealContext, SealError, SecretSealer, SessionLog, StoredObject, TargetIam, TemporaryCredentials,
    VerifyError,
};
use crate::domain::{AccountCredentials, CallerIdentity, Region, Sealed, Secret};

pub struct NotWired;

const WHY: &str = "not wired into this function";

#[async_trait]
impl SecretSealer for NotWired {
    async fn seal(&self, _: &Secret, _: &SealContext) -> Result<Sealed, SealError> {
        Err(SealError(format!("KMS is {WHY}")))
    }
    async fn open(&self, _: &Sealed, _: &SealContext) -> Result<Secret, SealError> {
        Err(SealError(format!("KMS is {WHY}")))
    }
}

#[async_trait]
impl CredentialVerifier for NotWired {
    async fn verify(&self, _: &AccountCredentials, _: &Region) -> Result<CallerIdentity, VerifyError> {
        Err(VerifyError::Unavailable(format!("STS is {WHY}")))
    }
}

#[async_trait]
impl RoleAssumer for NotWired {
    async fn assume_role(&self, _: &AccountAccess, _: &AssumeRequest) -> Result<TemporaryCredentials, CloudError> {
        Err(CloudError::Unavailable(format!("STS is {WHY}")))
    }
}

#[async_trait]
impl IamConnector for NotWired {
    async fn connect(&self, _: &AccountAccess) -> Result<Box<dyn TargetIam>, CloudError> {
        Err(CloudError::Unavailable(format!("IAM is {WHY}")))
    }
}

#[async_trait]
impl SessionLog for NotWired {
    async fn append(&self, _: &str, _: serde_json::Value) -> Result<String, LogError> {
        Err(LogError::Unavailable(format!("S3 is {WHY}")))
    }
    async fn append_after(&self, _: &str, _: &str, _: serde_json::Value) -> Result<String, LogError> {
        Err(LogError::Unavailable(format!("S3 is {WHY}")))
    }
    async fn read(&self, _: &str) -> Result<Option<String>, LogError> {
        Err(LogError::Unavailable(format!("S3 is {WHY}")))
    }
    async fn read_tail(&self, _: &str) -> Result<Option<super::LogTail>, LogError> {
        Err(LogError::Unavailable(format!("S3 is {WHY}")))
    }
    async fn append_over(&self, _: &str, _: Option<&super::LogTail>, _: serde_json::Value) -> Result<String, LogError> {
        Err(LogError::Unavailable(format!("S3 is {WHY}")))
    }
}

#[async_trait]
impl LogArchive for NotWired {
    async fn list(&self, _: &str) -> Result<Vec<ArchivedObject>, LogError> {
        Err(LogError::Unavailable(format!("S3 is {WHY}")))
    }
    async fn fetch(&self, _: &str) -> Result<Option<StoredObject>, LogError> {
        Err(LogError::Unavailable(format!("S3 is {WHY}")))
    }
    async fn put_new(&self, _: &str, _: Vec<u8>, _: &[(&str, &str)]) -> Result<bool, LogError> {
        Err(LogError::Unavailable(format!("S3 is {WHY}")))
    }
}

#[async_trait]
impl super::OrganizationDirectory for NotWired {
    async fn discover(
        &self,
        _: &crate::domain::RoleArn,
        _: &Secret,
        _: &Region,
    ) -> Result<crate::domain::organization::Discovered, super::DiscoveryError> {
        Err(super::DiscoveryError::Unavailable(format!(
            "AWS Organizations is {WHY}"
        )))
    }
}
