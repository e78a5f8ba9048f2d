//! `OrganizationDirectory` on AWS Organizations: AssumeRole into the organization's read-only
//! role (with its ExternalId), then DescribeOrganization, ListRoots, and, breadth first from
//! the root, ListOrganizationalUnitsForParent and ListAccountsForParent for every parent,
//! following every NextToken (these lists answer 20 items a page at most).

use async_trait::async_trait;
use aws_sdk_organizations::error::ProvideErrorMetadata;

use super::sts::{AssumeFailure, account_credentials};
use super::{describe, service_code};
use crate::domain::organization::{Discovered, MemberState, OrgUnit, OrganizationId, OuId, ParentId};
use crate::domain::{AccountCredentials, AwsAccountId, Region, RoleArn, Secret};
use crate::ports::{DiscoveryError, OrganizationDirectory};

/// Session name in the management account's CloudTrail.
const SESSION_NAME: &str = "cloud-iam-broker-organization";

pub struct OrganizationsDirectory {
    base: aws_config::SdkConfig,
}

impl OrganizationsDirectory {
    pub fn new(base: aws_config::SdkConfig) -> Self {
        OrganizationsDirectory { base }
    }
}

/// Organizations refuses a caller that is not the management account or a delegated
/// administrator (`AccessDeniedException`), or whose account is in no organization.
fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: aws_sdk_organizations::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> DiscoveryError {
    match service_code(&err).as_deref() {
        Some("AccessDeniedException" | "AWSOrganizationsNotInUseException" | "AccessDeniedForDependencyException") => {
            DiscoveryError::NotOrganizationAdmin(describe(&err))
        }
        _ => DiscoveryError::Unavailable(describe(&err)),
    }
}

fn malformed(what: &str) -> DiscoveryError {
    DiscoveryError::Unavailable(format!("Organizations answered {what}"))
}

fn state(account: &aws_sdk_organizations::types::Account) -> MemberState {
    // `State` is the newer field; `Status` is what older answers carry.
    account
        .state()
        .and_then(|s| MemberState::parse(s.as_str()))
        .or_else(|| account.status().and_then(|s| MemberState::parse(s.as_str())))
        .unwrap_or(MemberState::Suspended)
}

#[async_trait]
impl OrganizationDirectory for OrganizationsDirectory {
    async fn discover(
        &self,
        role: &RoleArn,
        external_id: &Secret,
        region: &Region,
    ) -> Result<Discovered, DiscoveryError> {
        let credentials = AccountCredentials::AssumeRole {
            role_arn: role.clone(),
            external_id: external_id.clone(),
        };
        let creds = account_credentials(&self.base, region, &credentials, SESSION_NAME)
            .await
            .map_err(|e| match e {
                AssumeFailure::Refused(m) => DiscoveryError::Refused(m),
                AssumeFailure::Unavailable(m) => DiscoveryError::Unavailable(m),
            })?;
        let client = aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&self.base)
                .region(aws_sdk_organizations::config::Region::new(region.to_string()))
                .credentials_provider(creds)
                .build(),
        );
        let org = client
            .describe_organization()
            .send()
            .await
            .map_err(classify)?
            .organization
            .ok_or_else(|| malformed("no organization"))?;
        let organization_id = org
            .id()
            .and_then(|id| OrganizationId::parse(id).ok())
            .ok_or_else(|| malformed("no organization id"))?;
        let management_account_id = org
            .master_account_id()
            .and_then(|id| AwsAccountId::parse(id).ok())
            .ok_or_else(|| malformed("no management account"))?;

        let mut roots = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .list_roots()
                .set_next_token(token)
                .send()
                .await
                .map_err(classify)?;
            roots.extend(page.roots().iter().filter_map(|r| r.id().map(str::to_string)));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let root_id = roots.into_iter().next().ok_or_else(|| malformed("no root"))?;
        let root = ParentId::parse(&root_id).map_err(|_| malformed("a root id of another shape"))?;

        let mut units = Vec::new();
        let mut accounts = Vec::new();
        let mut parents = std::collections::VecDeque::from([root]);
        while let Some(parent) = parents.pop_front() {
            let mut token = None;
            loop {
                let page = client
                    .list_organizational_units_for_parent()
                    .parent_id(parent.as_str())
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(classify)?;
                for ou in page.organizational_units() {
                    let id = ou
                        .id()
                        .and_then(|id| OuId::parse(id).ok())
                        .ok_or_else(|| malformed("an OU without a valid id"))?;
                    units.push(OrgUnit {
                        id: id.clone(),
                        name: ou.name().unwrap_or_default().to_string(),
                        parent: parent.clone(),
                    });
                    parents.push_back(ParentId::Unit(id));
                }
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            let mut token = None;
            loop {
                let page = client
                    .list_accounts_for_parent()
                    .parent_id(parent.as_str())
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(classify)?;
                for a in page.accounts() {
                    let id = a
                        .id()
                        .and_then(|id| AwsAccountId::parse(id).ok())
                        .ok_or_else(|| malformed("an account without a valid id"))?;
                    accounts.push((id, a.name().unwrap_or_default().to_string(), state(a), parent.clone()));
                }
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(Discovered {
            organization_id,
            management_account_id,
            root_id,
            units,
            accounts,
        })
    }
}

/// The reader, for `Overrides::organizations`.
pub fn directory(sdk: &aws_config::SdkConfig) -> std::sync::Arc<dyn OrganizationDirectory> {
    std::sync::Arc::new(OrganizationsDirectory::new(sdk.clone()))
}
