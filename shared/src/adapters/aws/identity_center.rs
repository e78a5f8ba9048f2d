//! `IdentityCenterConnector` on IAM Identity Center's admin API (sso-admin) and the identity
//! store: AssumeRole into the broker's role in the account that administers the instance
//! (with the organization's ExternalId), then the calls the port names, in the instance's
//! Region.

use async_trait::async_trait;
use aws_sdk_identitystore::types::{AlternateIdentifier, MemberId, UniqueAttribute};
use aws_sdk_ssoadmin::error::ProvideErrorMetadata;
use aws_sdk_ssoadmin::types::{PrincipalType, ProvisionTargetType, StatusValues, TargetType};

use super::sts::{AssumeFailure, account_credentials};
use super::{describe, service_code};
use crate::domain::identity_center::{IdentityCenterSettings, InstanceArn, PermissionSetArn, UserAttribute};
use crate::domain::{AccountCredentials, AwsAccountId, RoleArn, Secret};
use crate::ports::{
    CloudError, IcPrincipal, IdentityCenterAdmin, IdentityCenterConnector, Operation, PermissionSetInfo, Progress,
    StoreUser,
};

/// Session name in the administering account's CloudTrail.
const SESSION_NAME: &str = "cloud-iam-broker-identity-center";

pub struct AwsIdentityCenter {
    base: aws_config::SdkConfig,
}

impl AwsIdentityCenter {
    pub fn new(base: aws_config::SdkConfig) -> Self {
        AwsIdentityCenter { base }
    }
}

/// Not found, refused (access, validation, conflict) or unavailable, as the caller acts on it.
fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: aws_sdk_ssoadmin::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> CloudError {
    match service_code(&err).as_deref() {
        Some("ResourceNotFoundException") => CloudError::NotFound(describe(&err)),
        // "There is a conflicting operation in process": another request on the same
        // permission set and account is still IN_PROGRESS; AWS asks to retry.
        Some("ConflictException") => CloudError::NotYetInEffect(describe(&err)),
        Some("AccessDeniedException" | "ValidationException" | "ServiceQuotaExceededException") => {
            CloudError::Refused(describe(&err))
        }
        _ => CloudError::Unavailable(describe(&err)),
    }
}

fn missing(what: &str) -> CloudError {
    CloudError::Unavailable(format!("IAM Identity Center answered without {what}"))
}

/// An ISO 8601 duration as permission sets hold it (`PT1H`, `PT12H`, `PT1H30M`), in seconds.
fn iso_seconds(d: &str) -> Option<u32> {
    let rest = d.strip_prefix("PT")?;
    let (mut total, mut number) = (0u32, String::new());
    for c in rest.chars() {
        match c {
            '0'..='9' => number.push(c),
            'H' | 'M' | 'S' => {
                let n: u32 = number.parse().ok()?;
                number.clear();
                total += n * match c {
                    'H' => 3600,
                    'M' => 60,
                    _ => 1,
                };
            }
            _ => return None,
        }
    }
    number.is_empty().then_some(total)
}

fn progress(status: Option<&StatusValues>, reason: Option<&str>) -> Progress {
    match status {
        Some(StatusValues::Succeeded) => Progress::Succeeded,
        Some(StatusValues::Failed) => Progress::Failed(reason.unwrap_or("no reason given").to_string()),
        _ => Progress::InProgress,
    }
}

/// An account assignment request (create or delete): the permission set on the account for one
/// user of the identity store, sent.
macro_rules! assignment {
    ($builder:expr, $instance:expr, $account:expr, $set:expr, $user:expr) => {
        $builder
            .instance_arn($instance.as_str())
            .target_id($account.as_str())
            .target_type(TargetType::AwsAccount)
            .permission_set_arn($set.as_str())
            .principal_type(PrincipalType::User)
            .principal_id($user)
            .send()
            .await
            .map_err(classify)?
    };
}

/// The request id an asynchronous operation answered with.
fn request_id(id: Option<&str>) -> Result<String, CloudError> {
    id.map(str::to_string).ok_or_else(|| missing("a request id"))
}

struct Admin {
    sso: aws_sdk_ssoadmin::Client,
    store: aws_sdk_identitystore::Client,
}

#[async_trait]
impl IdentityCenterConnector for AwsIdentityCenter {
    async fn connect(
        &self,
        settings: &IdentityCenterSettings,
        role_name: &str,
        external_id: &Secret,
    ) -> Result<Box<dyn IdentityCenterAdmin>, CloudError> {
        let role = RoleArn::parse(&format!(
            "arn:{}:iam::{}:role/{role_name}",
            settings.instance_arn.as_str().split(':').nth(1).unwrap_or("aws"),
            settings.admin_account_id
        ))
        .map_err(|e| CloudError::Refused(format!("the Identity Center role name: {e}")))?;
        let credentials = AccountCredentials::AssumeRole {
            role_arn: role,
            external_id: external_id.clone(),
        };
        let creds = account_credentials(&self.base, &settings.region, &credentials, SESSION_NAME)
            .await
            .map_err(|e| match e {
                AssumeFailure::Refused(m) => CloudError::Refused(m),
                AssumeFailure::Unavailable(m) => CloudError::Unavailable(m),
            })?;
        let region = settings.region.to_string();
        let sso = aws_sdk_ssoadmin::Client::from_conf(
            aws_sdk_ssoadmin::config::Builder::from(&self.base)
                .region(aws_sdk_ssoadmin::config::Region::new(region.clone()))
                .credentials_provider(creds.clone())
                .build(),
        );
        let store = aws_sdk_identitystore::Client::from_conf(
            aws_sdk_identitystore::config::Builder::from(&self.base)
                .region(aws_sdk_identitystore::config::Region::new(region))
                .credentials_provider(creds)
                .build(),
        );
        Ok(Box::new(Admin { sso, store }))
    }
}

#[async_trait]
impl IdentityCenterAdmin for Admin {
    async fn find_user(
        &self,
        store: &str,
        attribute: UserAttribute,
        value: &str,
    ) -> Result<Option<StoreUser>, CloudError> {
        let unique = UniqueAttribute::builder()
            .attribute_path(attribute.path())
            .attribute_value(aws_smithy_types::Document::String(value.to_string()))
            .build()
            .map_err(|e| CloudError::Unavailable(e.to_string()))?;
        let found = self
            .store
            .get_user_id()
            .identity_store_id(store)
            .alternate_identifier(AlternateIdentifier::UniqueAttribute(unique))
            .send()
            .await;
        let user_id = match found {
            Ok(out) => out.user_id().to_string(),
            Err(e) if service_code(&e).as_deref() == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        let user = self
            .store
            .describe_user()
            .identity_store_id(store)
            .user_id(&user_id)
            .send()
            .await
            .map_err(classify)?;
        Ok(Some(StoreUser {
            user_name: user.user_name().unwrap_or(value).to_string(),
            user_id,
        }))
    }

    async fn groups_of(&self, store: &str, user_id: &str) -> Result<Vec<String>, CloudError> {
        let mut groups = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .store
                .list_group_memberships_for_member()
                .identity_store_id(store)
                .member_id(MemberId::UserId(user_id.to_string()))
                .set_next_token(next.take())
                .send()
                .await
                .map_err(classify)?;
            groups.extend(
                page.group_memberships()
                    .iter()
                    .filter_map(|m| m.group_id().map(str::to_string)),
            );
            match page.next_token() {
                Some(t) => next = Some(t.to_string()),
                None => return Ok(groups),
            }
        }
    }

    async fn permission_set(
        &self,
        instance: &InstanceArn,
        set: &PermissionSetArn,
    ) -> Result<PermissionSetInfo, CloudError> {
        let out = self
            .sso
            .describe_permission_set()
            .instance_arn(instance.as_str())
            .permission_set_arn(set.as_str())
            .send()
            .await
            .map_err(classify)?;
        let ps = out.permission_set().ok_or_else(|| missing("the permission set"))?;
        Ok(PermissionSetInfo {
            name: ps.name().ok_or_else(|| missing("its name"))?.to_string(),
            // One hour when unset (CreatePermissionSet's default).
            session_seconds: ps.session_duration().and_then(iso_seconds).unwrap_or(3600),
        })
    }

    async fn assignments(
        &self,
        instance: &InstanceArn,
        account: &AwsAccountId,
        set: &PermissionSetArn,
    ) -> Result<Vec<IcPrincipal>, CloudError> {
        let mut found = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .sso
                .list_account_assignments()
                .instance_arn(instance.as_str())
                .account_id(account.as_str())
                .permission_set_arn(set.as_str())
                .set_next_token(next.take())
                .send()
                .await
                .map_err(classify)?;
            for a in page.account_assignments() {
                let Some(id) = a.principal_id() else { continue };
                found.push(match a.principal_type() {
                    Some(PrincipalType::Group) => IcPrincipal::Group(id.to_string()),
                    _ => IcPrincipal::User(id.to_string()),
                });
            }
            match page.next_token() {
                Some(t) => next = Some(t.to_string()),
                None => return Ok(found),
            }
        }
    }

    async fn create_assignment(
        &self,
        instance: &InstanceArn,
        account: &AwsAccountId,
        set: &PermissionSetArn,
        user_id: &str,
    ) -> Result<String, CloudError> {
        let out = assignment!(self.sso.create_account_assignment(), instance, account, set, user_id);
        request_id(out.account_assignment_creation_status().and_then(|s| s.request_id()))
    }

    async fn delete_assignment(
        &self,
        instance: &InstanceArn,
        account: &AwsAccountId,
        set: &PermissionSetArn,
        user_id: &str,
    ) -> Result<String, CloudError> {
        let out = assignment!(self.sso.delete_account_assignment(), instance, account, set, user_id);
        request_id(out.account_assignment_deletion_status().and_then(|s| s.request_id()))
    }

    async fn permission_sets(&self, instance: &InstanceArn) -> Result<Vec<PermissionSetArn>, CloudError> {
        let mut found = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .sso
                .list_permission_sets()
                .instance_arn(instance.as_str())
                .set_next_token(next.take())
                .send()
                .await
                .map_err(classify)?;
            // An ARN this broker cannot parse names no set it could have written a deny into.
            found.extend(
                page.permission_sets()
                    .iter()
                    .filter_map(|a| PermissionSetArn::parse(a).ok()),
            );
            match page.next_token() {
                Some(t) => next = Some(t.to_string()),
                None => return Ok(found),
            }
        }
    }

    async fn inline_policy(&self, instance: &InstanceArn, set: &PermissionSetArn) -> Result<String, CloudError> {
        let out = self
            .sso
            .get_inline_policy_for_permission_set()
            .instance_arn(instance.as_str())
            .permission_set_arn(set.as_str())
            .send()
            .await
            .map_err(classify)?;
        Ok(out.inline_policy().unwrap_or_default().to_string())
    }

    async fn put_inline_policy(
        &self,
        instance: &InstanceArn,
        set: &PermissionSetArn,
        policy: Option<&str>,
    ) -> Result<(), CloudError> {
        match policy {
            Some(doc) => self
                .sso
                .put_inline_policy_to_permission_set()
                .instance_arn(instance.as_str())
                .permission_set_arn(set.as_str())
                .inline_policy(doc)
                .send()
                .await
                .map(|_| ())
                .map_err(classify),
            None => self
                .sso
                .delete_inline_policy_from_permission_set()
                .instance_arn(instance.as_str())
                .permission_set_arn(set.as_str())
                .send()
                .await
                .map(|_| ())
                .map_err(classify),
        }
    }

    async fn provision(
        &self,
        instance: &InstanceArn,
        set: &PermissionSetArn,
        account: &AwsAccountId,
    ) -> Result<String, CloudError> {
        let out = self
            .sso
            .provision_permission_set()
            .instance_arn(instance.as_str())
            .permission_set_arn(set.as_str())
            .target_id(account.as_str())
            .target_type(ProvisionTargetType::AwsAccount)
            .send()
            .await
            .map_err(classify)?;
        request_id(out.permission_set_provisioning_status().and_then(|s| s.request_id()))
    }

    async fn progress(&self, instance: &InstanceArn, operation: Operation, id: &str) -> Result<Progress, CloudError> {
        let i = instance.as_str();
        // Each operation has its own Describe…Status call and answer type, read alike.
        macro_rules! status {
            ($call:ident, $id_setter:ident, $answer:ident) => {{
                let out = self
                    .sso
                    .$call()
                    .instance_arn(i)
                    .$id_setter(id)
                    .send()
                    .await
                    .map_err(classify)?;
                let s = out.$answer();
                progress(s.and_then(|s| s.status()), s.and_then(|s| s.failure_reason()))
            }};
        }
        Ok(match operation {
            Operation::AssignmentCreation => status!(
                describe_account_assignment_creation_status,
                account_assignment_creation_request_id,
                account_assignment_creation_status
            ),
            Operation::AssignmentDeletion => status!(
                describe_account_assignment_deletion_status,
                account_assignment_deletion_request_id,
                account_assignment_deletion_status
            ),
            Operation::Provisioning => status!(
                describe_permission_set_provisioning_status,
                provision_permission_set_request_id,
                permission_set_provisioning_status
            ),
        })
    }

    async fn instances(&self) -> Result<Vec<(InstanceArn, String)>, CloudError> {
        let mut found = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .sso
                .list_instances()
                .set_next_token(next.take())
                .send()
                .await
                .map_err(classify)?;
            for i in page.instances() {
                if let (Some(arn), Some(store)) = (i.instance_arn(), i.identity_store_id())
                    && let Ok(arn) = InstanceArn::parse(arn)
                {
                    found.push((arn, store.to_string()));
                }
            }
            match page.next_token() {
                Some(t) => next = Some(t.to_string()),
                None => return Ok(found),
            }
        }
    }
}

/// The connector, from the function's SDK configuration.
pub fn connector(sdk: &aws_config::SdkConfig) -> std::sync::Arc<dyn IdentityCenterConnector> {
    std::sync::Arc::new(AwsIdentityCenter::new(sdk.clone()))
}

#[cfg(test)]
mod tests {
    use super::iso_seconds;

    #[test]
    fn permission_set_durations_read_as_iso_8601() {
        assert_eq!(iso_seconds("PT1H"), Some(3600));
        assert_eq!(iso_seconds("PT12H"), Some(43_200));
        assert_eq!(iso_seconds("PT1H30M"), Some(5400));
        assert_eq!(iso_seconds("PT900S"), Some(900));
        assert_eq!(iso_seconds("P1D"), None);
        assert_eq!(iso_seconds("PT1"), None);
        assert_eq!(iso_seconds("PTH"), None);
    }
}
