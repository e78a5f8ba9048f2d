//! `CredentialVerifier` on STS: GetCallerIdentity with the supplied key, or AssumeRole (with
//! the ExternalId) followed by GetCallerIdentity with the role's temporary credentials.

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sdk_sts::config::Region as SdkRegion;

use super::describe;
use crate::domain::{AccountCredentials, AwsAccountId, CallerIdentity, Region};
use crate::ports::{CredentialVerifier, VerifyError};

/// Session name recorded in the target account's CloudTrail for verification calls.
const VERIFY_SESSION_NAME: &str = "cloud-iam-broker-verify";

pub struct StsVerifier {
    base: aws_config::SdkConfig,
}

impl StsVerifier {
    /// `base` carries the broker's own identity, endpoint and timeouts.
    pub fn new(base: aws_config::SdkConfig) -> Self {
        StsVerifier { base }
    }

    fn client(&self, region: &Region, credentials: Credentials) -> aws_sdk_sts::Client {
        let cfg = aws_sdk_sts::config::Builder::from(&self.base)
            .region(SdkRegion::new(region.to_string()))
            .credentials_provider(credentials);
        aws_sdk_sts::Client::from_conf(cfg.build())
    }
}

/// Why no credentials could be had for a registered account.
/// The account's credentials as a connector uses them (assuming its role once, if it has one).
pub(super) async fn target_credentials(
    base: &aws_config::SdkConfig,
    access: &crate::ports::AccountAccess,
    session_name: &str,
) -> Result<Credentials, crate::ports::CloudError> {
    use crate::ports::CloudError;
    account_credentials(base, &access.region, &access.credentials, session_name)
        .await
        .map_err(|e| match e {
            AssumeFailure::Refused(m) => CloudError::Refused(m),
            AssumeFailure::Unavailable(m) => CloudError::Unavailable(m),
        })
}

pub(super) enum AssumeFailure {
    /// STS refused (a wrong key, role or ExternalId): the registration is at fault.
    Refused(String),
    /// STS could not be reached or answered oddly: try again.
    Unavailable(String),
}

/// The SDK credentials to act in a registered account: its access key as given, or temporary
/// credentials from AssumeRole with the ExternalId (recorded under `session_name` in the
/// account's CloudTrail). Registration checks and IAM management both start here.
pub(super) async fn account_credentials(
    base: &aws_config::SdkConfig,
    region: &Region,
    credentials: &AccountCredentials,
    session_name: &str,
) -> Result<Credentials, AssumeFailure> {
    match credentials {
        AccountCredentials::AccessKey {
            access_key_id,
            secret_access_key,
        } => Ok(Credentials::new(
            access_key_id.as_str(),
            secret_access_key.expose(),
            None,
            None,
            "cloud-iam-broker-account",
        )),
        AccountCredentials::AssumeRole { role_arn, external_id } => {
            let sts = aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(base)
                    .region(SdkRegion::new(region.to_string()))
                    .build(),
            );
            let out = sts
                .assume_role()
                .role_arn(role_arn.as_str())
                .role_session_name(session_name)
                .external_id(external_id.expose())
                .duration_seconds(900)
                .send()
                .await
                .map_err(|e| match &e {
                    aws_sdk_sts::error::SdkError::ServiceError(_) => AssumeFailure::Refused(describe(&e)),
                    _ => AssumeFailure::Unavailable(describe(&e)),
                })?;
            let c = out
                .credentials
                .ok_or_else(|| AssumeFailure::Unavailable("STS returned no credentials".into()))?;
            Ok(Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                None,
                "cloud-iam-broker-role",
            ))
        }
    }
}

fn classify<E: aws_sdk_sts::error::ProvideErrorMetadata + std::fmt::Debug>(
    err: aws_sdk_sts::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> VerifyError {
    match &err {
        aws_sdk_sts::error::SdkError::ServiceError(_) => VerifyError::Rejected(describe(&err)),
        _ => VerifyError::Unavailable(describe(&err)),
    }
}

#[async_trait]
impl CredentialVerifier for StsVerifier {
    async fn verify(&self, credentials: &AccountCredentials, region: &Region) -> Result<CallerIdentity, VerifyError> {
        let creds = account_credentials(&self.base, region, credentials, VERIFY_SESSION_NAME)
            .await
            .map_err(|e| match e {
                AssumeFailure::Refused(m) => VerifyError::Rejected(m),
                AssumeFailure::Unavailable(m) => VerifyError::Unavailable(m),
            })?;
        let client = self.client(region, creds);
        let who = client.get_caller_identity().send().await.map_err(classify)?;
        let account = who
            .account
            .as_deref()
            .and_then(|a| AwsAccountId::parse(a).ok())
            .ok_or_else(|| VerifyError::Unavailable("STS returned no account id".into()))?;
        Ok(CallerIdentity {
            aws_account_id: account,
            arn: who.arn.unwrap_or_default(),
        })
    }
}

/// `RoleAssumer` on STS, signed with the provisioned user's own key.
pub struct StsRoleAssumer {
    base: aws_config::SdkConfig,
}

impl StsRoleAssumer {
    pub fn new(base: aws_config::SdkConfig) -> Self {
        StsRoleAssumer { base }
    }
}

#[async_trait]
impl crate::ports::RoleAssumer for StsRoleAssumer {
    async fn assume_role(
        &self,
        as_user: &crate::ports::AccountAccess,
        request: &crate::ports::AssumeRequest,
    ) -> Result<crate::ports::TemporaryCredentials, crate::ports::CloudError> {
        use crate::ports::CloudError;
        let AccountCredentials::AccessKey {
            access_key_id,
            secret_access_key,
        } = &as_user.credentials
        else {
            return Err(CloudError::Refused(
                "JIT sessions assume roles with the user's own access key".into(),
            ));
        };
        let creds = Credentials::new(
            access_key_id.as_str(),
            secret_access_key.expose(),
            None,
            None,
            "cloud-iam-broker-user",
        );
        let config = aws_sdk_sts::config::Builder::from(&self.base)
            .region(SdkRegion::new(as_user.region.to_string()))
            .credentials_provider(creds)
            .build();
        let mut req = aws_sdk_sts::Client::from_conf(config)
            .assume_role()
            .role_arn(request.role.as_str())
            .role_session_name(&request.session_name)
            .duration_seconds(request.duration_seconds as i32)
            .source_identity(&request.source_identity)
            .set_policy(request.policy.clone());
        for (k, v) in &request.tags {
            req = req.tags(
                aws_sdk_sts::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("tag has key and value"),
            );
        }
        let out = req.send().await.map_err(|e| match &e {
            // The role's maximum session duration, which starts check against a cached copy.
            aws_sdk_sts::error::SdkError::ServiceError(_)
                if super::service_code(&e).as_deref() == Some("ValidationError")
                    && describe(&e).contains("DurationSeconds exceeds") =>
            {
                CloudError::DurationRefused(describe(&e))
            }
            aws_sdk_sts::error::SdkError::ServiceError(_) => CloudError::Refused(describe(&e)),
            _ => CloudError::Unavailable(describe(&e)),
        })?;
        let c = out
            .credentials
            .ok_or_else(|| CloudError::Unavailable("STS returned no credentials".into()))?;
        let expiration = time::OffsetDateTime::from_unix_timestamp(c.expiration.secs())
            .map_err(|_| CloudError::Unavailable("STS returned a bad expiration".into()))?;
        Ok(crate::ports::TemporaryCredentials {
            access_key_id: c.access_key_id,
            secret_access_key: crate::domain::Secret::new(c.secret_access_key),
            session_token: crate::domain::Secret::new(c.session_token),
            expiration,
        })
    }
}

/// The verifier and the AssumeRole adapter, for `Overrides::sts` (see `App::on_aws`).
pub fn adapters(
    sdk: &aws_config::SdkConfig,
) -> (
    std::sync::Arc<dyn crate::ports::CredentialVerifier>,
    std::sync::Arc<dyn crate::ports::RoleAssumer>,
) {
    (
        std::sync::Arc::new(StsVerifier::new(sdk.clone())),
        std::sync::Arc::new(StsRoleAssumer::new(sdk.clone())),
    )
}
