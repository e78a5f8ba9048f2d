//! `IamConnector`/`TargetIam` on the IAM API of a target account, reached with the account's
//! access key or through its role (assumed once per connection, with the ExternalId).

use async_trait::async_trait;
use aws_sdk_iam::types::{StatusType, Tag};

use super::sts::target_credentials;
use super::{describe, service_code};
use crate::domain::{AccessKeyId, IamGroupName, IamUserName, PolicyArn, RoleArn, Secret};
use crate::ports::{AccountAccess, CloudError, IamConnector, IamUserInfo, PasswordPolicy, RoleInfo, TargetIam};

/// Session name recorded in the target account's CloudTrail when the broker assumes its role.
const SESSION_NAME: &str = "cloud-iam-broker";
/// Where the broker's managed revocation pages live in a target account.
const REVOCATION_PAGE_PATH: &str = "/cloud-iam-broker/";

fn revocation_page_name(role: &RoleArn, page: usize) -> String {
    format!(
        "{}-{}-{page}",
        crate::domain::revocation::REVOCATIONS_POLICY,
        role.name()
    )
}

fn revocation_page_arn(role: &RoleArn, page: usize) -> String {
    let partition = role.as_str().split(':').nth(1).unwrap_or("aws");
    format!(
        "arn:{partition}:iam::{}:policy{REVOCATION_PAGE_PATH}{}",
        role.account(),
        revocation_page_name(role, page)
    )
}

pub struct AwsIamConnector {
    base: aws_config::SdkConfig,
}

/// ListUserTags calls in flight at once while listing users (IAM throttles bursts).
const USER_TAG_READS_AT_ONCE: usize = 8;

impl AwsIamConnector {
    pub fn new(base: aws_config::SdkConfig) -> Self {
        AwsIamConnector { base }
    }
}

fn classify<E: aws_sdk_iam::error::ProvideErrorMetadata + std::fmt::Debug>(
    err: aws_sdk_iam::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> CloudError {
    let text = describe(&err);
    match service_code(&err).as_deref() {
        Some("NoSuchEntity") => CloudError::NotFound(text),
        Some("EntityAlreadyExists") => CloudError::AlreadyExists(text),
        Some(
            "AccessDenied"
            | "AccessDeniedException"
            | "DeleteConflict"
            | "LimitExceeded"
            | "InvalidInput"
            | "MalformedPolicyDocument"
            | "PasswordPolicyViolation"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "UnrecognizedClient",
        ) => CloudError::Refused(text),
        _ => CloudError::Unavailable(text),
    }
}

#[async_trait]
impl IamConnector for AwsIamConnector {
    async fn connect(&self, access: &AccountAccess) -> Result<Box<dyn TargetIam>, CloudError> {
        let region = aws_config::Region::new(access.region.to_string());
        let credentials = target_credentials(&self.base, access, SESSION_NAME).await?;
        let config = aws_sdk_iam::config::Builder::from(&self.base)
            .region(region)
            .credentials_provider(credentials)
            .build();
        Ok(Box::new(AwsTargetIam {
            client: aws_sdk_iam::Client::from_conf(config),
        }))
    }
}

/// IAM's NotFound, where absence is an answer rather than a failure.
fn found<T>(result: Result<T, CloudError>) -> Result<Option<T>, CloudError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(CloudError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

struct AwsTargetIam {
    client: aws_sdk_iam::Client,
}

/// Collects every page of a paginated IAM list call.
macro_rules! all_pages {
    ($req:expr, $items:expr, $map:expr) => {{
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = $req.set_marker(marker.take()).send().await.map_err(classify)?;
            let next = if page.is_truncated { page.marker.clone() } else { None };
            out.extend(($items)(page).into_iter().map($map));
            match next {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        out
    }};
}

#[async_trait]
impl TargetIam for AwsTargetIam {
    async fn get_user(&self, name: &IamUserName) -> Result<Option<IamUserInfo>, CloudError> {
        let Some(out) = found(
            self.client
                .get_user()
                .user_name(name.as_str())
                .send()
                .await
                .map_err(classify),
        )?
        else {
            return Ok(None);
        };
        let u = out
            .user
            .ok_or_else(|| CloudError::Unavailable("IAM returned no user".into()))?;
        let tags = self
            .client
            .list_user_tags()
            .user_name(name.as_str())
            .send()
            .await
            .map_err(classify)?
            .tags;
        Ok(Some(IamUserInfo {
            name: u.user_name,
            arn: u.arn,
            tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
        }))
    }

    async fn create_user(&self, name: &IamUserName, tags: &[(String, String)]) -> Result<String, CloudError> {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag has key and value"));
        let out = self
            .client
            .create_user()
            .user_name(name.as_str())
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(classify)?;
        Ok(out.user.map(|u| u.arn).unwrap_or_default())
    }

    async fn delete_user(&self, name: &IamUserName) -> Result<(), CloudError> {
        self.client
            .delete_user()
            .user_name(name.as_str())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// ListUsers "does not return … Tags" on AWS (IAM API reference), so each user's tags are
    /// read with ListUserTags, a few users at once. A user deleted in between is left out.
    async fn list_users(&self) -> Result<Vec<IamUserInfo>, CloudError> {
        use futures::StreamExt;
        let listed = all_pages!(
            self.client.list_users().max_items(100),
            |p: aws_sdk_iam::operation::list_users::ListUsersOutput| p.users,
            |u| (u.user_name, u.arn)
        );
        let tagged: Vec<Result<Option<IamUserInfo>, CloudError>> = futures::stream::iter(listed)
            .map(|(name, arn)| async move {
                let tags = found(
                    self.client
                        .list_user_tags()
                        .user_name(&name)
                        .send()
                        .await
                        .map_err(classify),
                )?;
                Ok(tags.map(|out| IamUserInfo {
                    name,
                    arn,
                    tags: out.tags.into_iter().map(|t| (t.key, t.value)).collect(),
                }))
            })
            .buffered(USER_TAG_READS_AT_ONCE)
            .collect()
            .await;
        tagged.into_iter().filter_map(Result::transpose).collect()
    }

    async fn password_policy(&self) -> Result<PasswordPolicy, CloudError> {
        // No policy set (NotFound): IAM's defaults apply.
        let policy = found(self.client.get_account_password_policy().send().await.map_err(classify))?;
        let minimum = policy
            .and_then(|out| out.password_policy)
            .and_then(|p| p.minimum_password_length);
        Ok(PasswordPolicy {
            minimum_length: minimum.unwrap_or(0).max(0) as u32,
        })
    }

    /// Update first, create when there is none: a console session's start and end change a
    /// password that exists (one call), and a new user's first costs the two a read and a
    /// create did.
    async fn set_login_profile(&self, name: &IamUserName, password: &Secret) -> Result<(), CloudError> {
        let (user, pw) = (name.as_str(), password.expose());
        let updated = self
            .client
            .update_login_profile()
            .user_name(user)
            .password(pw)
            .password_reset_required(false)
            .send()
            .await
            .map_err(classify);
        match updated {
            Err(CloudError::NotFound(_)) => {}
            other => return other.map(|_| ()),
        }
        self.client
            .create_login_profile()
            .user_name(user)
            .password(pw)
            .password_reset_required(false)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn has_login_profile(&self, name: &IamUserName) -> Result<bool, CloudError> {
        Ok(found(
            self.client
                .get_login_profile()
                .user_name(name.as_str())
                .send()
                .await
                .map_err(classify),
        )?
        .is_some())
    }

    async fn delete_login_profile(&self, name: &IamUserName) -> Result<(), CloudError> {
        self.client
            .delete_login_profile()
            .user_name(name.as_str())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn create_access_key(&self, name: &IamUserName) -> Result<(AccessKeyId, Secret), CloudError> {
        let key = self
            .client
            .create_access_key()
            .user_name(name.as_str())
            .send()
            .await
            .map_err(classify)?
            .access_key
            .ok_or_else(|| CloudError::Unavailable("IAM returned no access key".into()))?;
        let id = AccessKeyId::parse(&key.access_key_id)
            .map_err(|_| CloudError::Unavailable("IAM returned an unexpected access key id".into()))?;
        Ok((id, Secret::new(key.secret_access_key)))
    }

    async fn list_access_keys(&self, name: &IamUserName) -> Result<Vec<String>, CloudError> {
        Ok(all_pages!(
            self.client.list_access_keys().user_name(name.as_str()),
            |p: aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput| p.access_key_metadata,
            |k| k.access_key_id.unwrap_or_default()
        ))
    }

    async fn deactivate_access_key(&self, name: &IamUserName, key: &str) -> Result<(), CloudError> {
        self.client
            .update_access_key()
            .user_name(name.as_str())
            .access_key_id(key)
            .status(StatusType::Inactive)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete_access_key(&self, name: &IamUserName, key: &str) -> Result<(), CloudError> {
        self.client
            .delete_access_key()
            .user_name(name.as_str())
            .access_key_id(key)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn attach_policy(&self, name: &IamUserName, policy: &PolicyArn) -> Result<(), CloudError> {
        self.client
            .attach_user_policy()
            .user_name(name.as_str())
            .policy_arn(policy.as_str())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn detach_policy(&self, name: &IamUserName, policy: &str) -> Result<(), CloudError> {
        self.client
            .detach_user_policy()
            .user_name(name.as_str())
            .policy_arn(policy)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list_attached_policies(&self, name: &IamUserName) -> Result<Vec<String>, CloudError> {
        Ok(all_pages!(
            self.client.list_attached_user_policies().user_name(name.as_str()),
            |p: aws_sdk_iam::operation::list_attached_user_policies::ListAttachedUserPoliciesOutput| p
                .attached_policies
                .unwrap_or_default(),
            |p| p.policy_arn.unwrap_or_default()
        ))
    }

    async fn put_inline_policy(&self, name: &IamUserName, policy: &str, document: &str) -> Result<(), CloudError> {
        self.client
            .put_user_policy()
            .user_name(name.as_str())
            .policy_name(policy)
            .policy_document(document)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete_inline_policy(&self, name: &IamUserName, policy: &str) -> Result<(), CloudError> {
        self.client
            .delete_user_policy()
            .user_name(name.as_str())
            .policy_name(policy)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list_inline_policies(&self, name: &IamUserName) -> Result<Vec<String>, CloudError> {
        Ok(all_pages!(
            self.client.list_user_policies().user_name(name.as_str()),
            |p: aws_sdk_iam::operation::list_user_policies::ListUserPoliciesOutput| p.policy_names,
            |p| p
        ))
    }

    async fn add_to_group(&self, name: &IamUserName, group: &IamGroupName) -> Result<(), CloudError> {
        self.client
            .add_user_to_group()
            .user_name(name.as_str())
            .group_name(group.as_str())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn remove_from_group(&self, name: &IamUserName, group: &str) -> Result<(), CloudError> {
        self.client
            .remove_user_from_group()
            .user_name(name.as_str())
            .group_name(group)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list_groups_for_user(&self, name: &IamUserName) -> Result<Vec<String>, CloudError> {
        Ok(all_pages!(
            self.client.list_groups_for_user().user_name(name.as_str()),
            |p: aws_sdk_iam::operation::list_groups_for_user::ListGroupsForUserOutput| p.groups,
            |g| g.group_name
        ))
    }

    async fn get_role(&self, role: &RoleArn) -> Result<RoleInfo, CloudError> {
        let out = self
            .client
            .get_role()
            .role_name(role.name())
            .send()
            .await
            .map_err(classify)?;
        let role = out
            .role
            .ok_or_else(|| CloudError::Unavailable("GetRole returned no role".into()))?;
        Ok(RoleInfo {
            max_session_seconds: role.max_session_duration.unwrap_or(3600).max(0) as u32,
            // IAM returns the document URL-encoded.
            trust_policy: role
                .assume_role_policy_document
                .as_deref()
                .map(crate::encoding::percent_decode)
                .unwrap_or_default(),
        })
    }

    async fn get_role_policy(&self, role: &RoleArn, policy: &str) -> Result<Option<String>, CloudError> {
        let out = found(
            self.client
                .get_role_policy()
                .role_name(role.name())
                .policy_name(policy)
                .send()
                .await
                .map_err(classify),
        )?;
        // IAM returns the document URL-encoded.
        Ok(out.map(|o| crate::encoding::percent_decode(&o.policy_document)))
    }

    async fn roles_under(&self, path_prefix: &str) -> Result<Vec<RoleArn>, CloudError> {
        let arns = all_pages!(
            self.client.list_roles().path_prefix(path_prefix).max_items(100),
            |p: aws_sdk_iam::operation::list_roles::ListRolesOutput| p.roles,
            |r| r.arn
        );
        arns.into_iter()
            .map(|arn| {
                RoleArn::parse(&arn).map_err(|_| CloudError::Unavailable(format!("IAM listed {arn}, not a role ARN")))
            })
            .collect()
    }

    async fn put_role_policy(&self, role: &RoleArn, policy: &str, document: &str) -> Result<(), CloudError> {
        self.client
            .put_role_policy()
            .role_name(role.name())
            .policy_name(policy)
            .policy_document(document)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete_role_policy(&self, role: &RoleArn, policy: &str) -> Result<(), CloudError> {
        self.client
            .delete_role_policy()
            .role_name(role.name())
            .policy_name(policy)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn put_revocation_page(&self, role: &RoleArn, page: usize, document: &str) -> Result<(), CloudError> {
        let arn = revocation_page_arn(role, page);
        let created = self
            .client
            .create_policy()
            .policy_name(revocation_page_name(role, page))
            .path(REVOCATION_PAGE_PATH)
            .policy_document(document)
            .send()
            .await
            .map_err(classify);
        match created {
            Ok(_) => {}
            Err(CloudError::AlreadyExists(_)) => {
                // IAM keeps at most five versions: make room by deleting the oldest old one.
                let versions = self
                    .client
                    .list_policy_versions()
                    .policy_arn(&arn)
                    .send()
                    .await
                    .map_err(classify)?
                    .versions
                    .unwrap_or_default();
                if versions.len() >= 5 {
                    let oldest = versions
                        .iter()
                        .filter(|v| !v.is_default_version)
                        .min_by_key(|v| v.create_date.map(|d| d.secs()).unwrap_or_default());
                    if let Some(id) = oldest.and_then(|v| v.version_id.clone()) {
                        self.client
                            .delete_policy_version()
                            .policy_arn(&arn)
                            .version_id(id)
                            .send()
                            .await
                            .map_err(classify)?;
                    }
                }
                self.client
                    .create_policy_version()
                    .policy_arn(&arn)
                    .policy_document(document)
                    .set_as_default(true)
                    .send()
                    .await
                    .map_err(classify)?;
            }
            Err(e) => return Err(e),
        }
        // Attaching what is attached already is a no-op in IAM.
        self.client
            .attach_role_policy()
            .role_name(role.name())
            .policy_arn(&arn)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn get_revocation_page(&self, role: &RoleArn, page: usize) -> Result<Option<String>, CloudError> {
        let arn = revocation_page_arn(role, page);
        let Some(policy) =
            found(self.client.get_policy().policy_arn(&arn).send().await.map_err(classify))?.and_then(|o| o.policy)
        else {
            return Ok(None);
        };
        let Some(version) = policy.default_version_id else {
            return Ok(None);
        };
        let out = self
            .client
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(version)
            .send()
            .await
            .map_err(classify)?;
        Ok(out
            .policy_version
            .and_then(|v| v.document)
            .map(|d| crate::encoding::percent_decode(&d)))
    }
}

/// The IAM connector, for `Overrides::iam` (see `App::on_aws`).
pub fn connector(sdk: &aws_config::SdkConfig) -> std::sync::Arc<dyn crate::ports::IamConnector> {
    std::sync::Arc::new(AwsIamConnector::new(sdk.clone()))
}
