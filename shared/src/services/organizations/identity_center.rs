//! An organization's IAM Identity Center, as an admin sets it up for Identity Center
//! sessions: the account that administers it (the management account, or a delegated
//! administrator in the organization), its Region, and how platform users are found in its
//! identity store. The broker reaches it through its role there and finds the instance itself
//! (ListInstances), so a setting that cannot work is refused when it is made, not at a start.

use super::{OrganizationError, OrganizationService};
use crate::domain::identity_center::{IdentityCenterSettings, InstanceArn, UserAttribute};
use crate::domain::{AwsAccountId, Region};
use crate::ports::{CloudError, StoredOrganization};

/// What an admin says of an organization's Identity Center, validated.
#[derive(Debug, Clone)]
pub struct SetIdentityCenter {
    pub region: Region,
    /// `None`: the management account.
    pub admin_account_id: Option<AwsAccountId>,
    /// `None`: the only instance the account administers.
    pub instance_arn: Option<InstanceArn>,
    pub user_attribute: UserAttribute,
    /// `None`: the portal URL AWS gives an instance without an alias.
    pub start_url: Option<String>,
}

impl OrganizationService {
    /// Reaches the organization's Identity Center as `cmd` says, finds its instance, and
    /// keeps the settings.
    pub async fn set_identity_center(
        &self,
        id: &str,
        cmd: SetIdentityCenter,
    ) -> Result<StoredOrganization, OrganizationError> {
        let mut org = self.get(id).await?;
        let management = org.organization.management_account_id.clone();
        let admin_account = cmd.admin_account_id.unwrap_or_else(|| management.clone());
        if admin_account != management && !org.members.iter().any(|m| m.aws_account_id == admin_account) {
            return Err(OrganizationError::NotAMember {
                organization: org.organization.id.to_string(),
                account: admin_account.to_string(),
            });
        }
        let external_id = self.external_id(&org.organization).await?;
        // Reached first with a placeholder instance: the connection needs only the account,
        // the Region and the role.
        let probe = IdentityCenterSettings {
            // The organization's partition, which the role's ARN is built in.
            instance_arn: InstanceArn::parse(&format!(
                "arn:{}:sso:::instance/ssoins-0000000000000000",
                org.organization.role_arn.partition()
            ))
            .or_else(|_| InstanceArn::parse("arn:aws:sso:::instance/ssoins-0000000000000000"))
            .expect("a valid ARN"),
            identity_store_id: String::new(),
            region: cmd.region.clone(),
            admin_account_id: admin_account.clone(),
            user_attribute: cmd.user_attribute,
            start_url: String::new(),
        };
        let admin = self
            .identity_center
            .connect(&probe, &self.identity_center_role, &external_id)
            .await
            .map_err(|e| match e {
                CloudError::Refused(m) => OrganizationError::InvalidCredentials(format!(
                    "the broker could not assume {} in account {admin_account} with the organization's ExternalId: {m}",
                    self.identity_center_role
                )),
                e => OrganizationError::Unavailable(e.to_string()),
            })?;
        let instances = admin.instances().await.map_err(|e| match e {
            CloudError::Refused(m) => OrganizationError::InvalidCredentials(m),
            e => OrganizationError::Unavailable(e.to_string()),
        })?;
        let (instance_arn, identity_store_id) = match &cmd.instance_arn {
            Some(wanted) => instances.into_iter().find(|(arn, _)| arn == wanted).ok_or_else(|| {
                OrganizationError::NoIdentityCenter(format!(
                    "account {admin_account} administers no IAM Identity Center instance {wanted} in {}",
                    cmd.region
                ))
            })?,
            None => match <[_; 1]>::try_from(instances) {
                Ok([one]) => one,
                Err(v) if v.is_empty() => {
                    return Err(OrganizationError::NoIdentityCenter(format!(
                        "account {admin_account} administers no IAM Identity Center instance in {}",
                        cmd.region
                    )));
                }
                Err(v) => {
                    return Err(OrganizationError::NoIdentityCenter(format!(
                        "account {admin_account} administers {} IAM Identity Center instances in {}: name one with instance_arn",
                        v.len(),
                        cmd.region
                    )));
                }
            },
        };
        let settings = IdentityCenterSettings {
            start_url: cmd
                .start_url
                .unwrap_or_else(|| IdentityCenterSettings::default_start_url(&identity_store_id)),
            instance_arn,
            identity_store_id,
            region: cmd.region,
            admin_account_id: admin_account,
            user_attribute: cmd.user_attribute,
        };
        self.store
            .set_identity_center(&org.organization.id, Some(&settings))
            .await?;
        org.identity_center = Some(settings);
        Ok(org)
    }
}
