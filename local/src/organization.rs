//! The AWS Organization the local AWS is seeded with (docs/organizations.md), and what its
//! administrator does to it afterwards: accounts created, moved between OUs and closed, and the
//! broker's trust put on the organization role and on every member's `CloudIamBrokerAccess`.
//!
//! The organization, as the organization spec lays it out:
//! - the management account `220000000001`, with an `admin` user (made during the local AWS's
//!   free, unauthenticated actions, like the target accounts' admins); everything else here is
//!   signed with that admin's key, or with the role sessions it assumes;
//! - `CreateOrganization` (all features); OUs `Workloads` (under the root), `Production` (under
//!   Workloads) and `Sandbox` (under the root);
//! - six accounts, each made with `CreateAccount` then `MoveAccount`: prod-1 and prod-2 in
//!   Production, shared-services in Workloads, sandbox-1 and sandbox-2 in Sandbox, audit at the
//!   root;
//! - in the management account, the role `CloudIamBrokerOrganizationReader` with read-only
//!   Organizations permissions; in each member, reached as on AWS by AssumeRole into
//!   `OrganizationAccountAccessRole` (which `CreateAccount` makes, trusting the management
//!   account's root), the role `CloudIamBrokerAccess` with the IAM permissions the seeded target
//!   accounts' role has, as the customer's StackSet deploys it. Both trust the broker's user
//!   with the placeholder ExternalId condition the target accounts' role has (`cib-*`);
//!   registration applies the issued trust (`trust_external_id`).
//!
//! Organizations' list operations page (and a caller other than the management account may be
//! refused them), so every listing here follows `NextToken` and is made as the management
//! account's admin.

use std::time::Duration;

use aws_credential_types::Credentials;

use crate::local_aws::{ALLOW_ALL, BROKER_ACCESS_ROLE, Keys, REGION, broker_placeholder_trust, sdk_config};

/// The management account of the seeded organization (not one of the target accounts).
pub const MANAGEMENT_ACCOUNT: &str = "220000000001";
/// The role in the management account the broker reads the organization through.
pub const READER_ROLE: &str = "CloudIamBrokerOrganizationReader";
/// The role `CreateAccount` makes in each new member, trusting the management account.
pub const MEMBER_ADMIN_ROLE: &str = "OrganizationAccountAccessRole";
/// The read-only Organizations policy of the reader role (the template's).
const ORGANIZATIONS_READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["organizations:Describe*","organizations:List*"],"Resource":"*"}]}"#;

/// The seeded OUs: (name, parent name; `None` is the root).
const UNITS: [(&str, Option<&str>); 3] = [
    ("Workloads", None),
    ("Production", Some("Workloads")),
    ("Sandbox", None),
];
/// The seeded member accounts: (name, OU name; `None` is the root).
const ACCOUNTS: [(&str, Option<&str>); 6] = [
    ("prod-1", Some("Production")),
    ("prod-2", Some("Production")),
    ("shared-services", Some("Workloads")),
    ("sandbox-1", Some("Sandbox")),
    ("sandbox-2", Some("Sandbox")),
    ("audit", None),
];

/// The organization the local AWS was seeded with.
#[derive(Debug, Clone)]
pub struct SeededOrganization {
    /// AWS's organization id (`o-…`): the broker's API id of the organization.
    pub organization_id: String,
    pub management_account_id: String,
    /// The management account's `admin` user (allowed everything there).
    pub admin: Keys,
    /// `arn:aws:iam::220000000001:role/CloudIamBrokerOrganizationReader`.
    pub reader_role_arn: String,
    pub root_id: String,
    /// The OUs as seeded: (name, OU id).
    pub units: Vec<(String, String)>,
    /// The member accounts as seeded: (name, AWS account id). Accounts made later with
    /// `create_member_account` are not added here.
    pub accounts: Vec<(String, String)>,
}

impl SeededOrganization {
    /// The id of the seeded OU `name` (`Workloads`, `Production`, `Sandbox`).
    pub fn unit(&self, name: &str) -> &str {
        self.units
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.as_str())
            .unwrap_or_else(|| panic!("no seeded OU {name}"))
    }

    /// The AWS account id of the seeded member `name` (`prod-1`, …, `audit`).
    pub fn account(&self, name: &str) -> &str {
        self.accounts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.as_str())
            .unwrap_or_else(|| panic!("no seeded account {name}"))
    }

    /// The `POST /organizations` body registering this organization with `external_id` (one
    /// the broker issued, whose trust `trust_external_id` applied).
    pub fn registration(&self, name: &str, external_id: &str) -> serde_json::Value {
        serde_json::json!({
            "name": name,
            "default_region": REGION,
            "role_arn": self.reader_role_arn,
            "external_id": external_id,
            "enable_new_accounts": false,
        })
    }
}

/// An SDK configuration for `endpoint` signed with `credentials` (a role session's).
async fn sdk_with(endpoint: &str, credentials: Credentials) -> aws_config::SdkConfig {
    shared::adapters::aws::sdk_defaults()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(credentials)
        .load()
        .await
}

async fn organizations(endpoint: &str, org: &SeededOrganization) -> aws_sdk_organizations::Client {
    aws_sdk_organizations::Client::new(&sdk_config(endpoint, &org.admin).await)
}

/// Seeds the organization with `admin`, the management account's admin (see the module doc).
pub(crate) async fn seed(endpoint: &str, admin: Keys) -> Result<SeededOrganization, String> {
    let sdk = sdk_config(endpoint, &admin).await;
    let orgs = aws_sdk_organizations::Client::new(&sdk);
    let created = orgs
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .map_err(|e| format!("creating the organization: {e:?}"))?;
    let organization_id = created
        .organization
        .and_then(|o| o.id)
        .ok_or("CreateOrganization returned no organization id")?;

    let mut root_id = None;
    let mut next = None;
    loop {
        let page = orgs
            .list_roots()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| format!("listing the organization's roots: {e:?}"))?;
        if root_id.is_none() {
            root_id = page.roots.unwrap_or_default().into_iter().find_map(|r| r.id);
        }
        next = page.next_token;
        if next.is_none() {
            break;
        }
    }
    let root_id = root_id.ok_or("the organization has no root")?;

    let mut units: Vec<(String, String)> = Vec::new();
    for (name, parent) in UNITS {
        let parent_id = match parent {
            None => root_id.clone(),
            Some(p) => units
                .iter()
                .find(|(n, _)| n == p)
                .map(|(_, id)| id.clone())
                .ok_or_else(|| format!("OU {p} is made after {name}"))?,
        };
        let id = orgs
            .create_organizational_unit()
            .parent_id(parent_id)
            .name(name)
            .send()
            .await
            .map_err(|e| format!("creating the OU {name}: {e:?}"))?
            .organizational_unit
            .and_then(|ou| ou.id)
            .ok_or_else(|| format!("CreateOrganizationalUnit {name} returned no id"))?;
        units.push((name.to_string(), id));
    }

    // The organization role in the management account, read-only.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let reader = iam
        .create_role()
        .role_name(READER_ROLE)
        .assume_role_policy_document(broker_placeholder_trust())
        .send()
        .await
        .map_err(|e| format!("creating {READER_ROLE}: {e:?}"))?
        .role
        .map(|r| r.arn)
        .ok_or_else(|| format!("CreateRole {READER_ROLE} returned no role"))?;
    iam.put_role_policy()
        .role_name(READER_ROLE)
        .policy_name("organizations-read-only")
        .policy_document(ORGANIZATIONS_READ_ONLY)
        .send()
        .await
        .map_err(|e| format!("granting {READER_ROLE}: {e:?}"))?;

    let mut org = SeededOrganization {
        organization_id,
        management_account_id: MANAGEMENT_ACCOUNT.to_string(),
        admin,
        reader_role_arn: reader,
        root_id,
        units,
        accounts: Vec::new(),
    };
    for (name, unit) in ACCOUNTS {
        let parent = match unit {
            Some(u) => org.unit(u).to_string(),
            None => org.root_id.clone(),
        };
        let id = create_member_account(endpoint, &org, name, &parent).await?;
        org.accounts.push((name.to_string(), id));
    }
    crate::identity_center::seed_role(endpoint, &org).await?;
    Ok(org)
}

/// Creates the member account `name` (CreateAccount, waiting for it to succeed), moves it from
/// the root to `parent_id` (an OU id, or the root id to leave it there), and deploys
/// `CloudIamBrokerAccess` in it as the customer's StackSet does (auto-deployment), with the
/// placeholder trust (`trust_external_id` then applies an issued one). Returns its AWS account id.
pub async fn create_member_account(
    endpoint: &str,
    org: &SeededOrganization,
    name: &str,
    parent_id: &str,
) -> Result<String, String> {
    use aws_sdk_organizations::types::CreateAccountState;
    let orgs = organizations(endpoint, org).await;
    let email: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    let mut status = orgs
        .create_account()
        .email(format!("aws+{email}@example.com"))
        .account_name(name)
        .send()
        .await
        .map_err(|e| format!("creating the account {name}: {e:?}"))?
        .create_account_status
        .ok_or_else(|| format!("CreateAccount {name} returned no status"))?;
    // Account creation is asynchronous on AWS: wait for the request to succeed.
    let mut polls = 0;
    let account_id = loop {
        let succeeded = matches!(status.state, None | Some(CreateAccountState::Succeeded));
        if let (true, Some(id)) = (succeeded, status.account_id.clone()) {
            break id;
        }
        if status.state == Some(CreateAccountState::Failed) {
            return Err(format!(
                "creating the account {name} failed: {:?}",
                status.failure_reason
            ));
        }
        polls += 1;
        if polls > 100 {
            return Err(format!("the account {name} was not created within 20 s"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let request = status
            .id
            .clone()
            .ok_or_else(|| format!("CreateAccount {name} returned no request id"))?;
        status = orgs
            .describe_create_account_status()
            .create_account_request_id(request)
            .send()
            .await
            .map_err(|e| format!("reading the creation of {name}: {e:?}"))?
            .create_account_status
            .ok_or_else(|| format!("DescribeCreateAccountStatus {name} returned no status"))?;
    };
    if parent_id != org.root_id {
        orgs.move_account()
            .account_id(&account_id)
            .source_parent_id(&org.root_id)
            .destination_parent_id(parent_id)
            .send()
            .await
            .map_err(|e| format!("moving the account {name} to {parent_id}: {e:?}"))?;
    }
    deploy_access_role(endpoint, org, &account_id, &broker_placeholder_trust()).await?;
    Ok(account_id)
}

/// The parent (OU or root id) of the account `aws_account_id`.
pub async fn parent_of(endpoint: &str, org: &SeededOrganization, aws_account_id: &str) -> Result<String, String> {
    organizations(endpoint, org)
        .await
        .list_parents()
        .child_id(aws_account_id)
        .send()
        .await
        .map_err(|e| format!("reading the parent of {aws_account_id}: {e:?}"))?
        .parents
        .unwrap_or_default()
        .into_iter()
        .find_map(|p| p.id)
        .ok_or_else(|| format!("the account {aws_account_id} has no parent"))
}

/// Moves the account `aws_account_id` from where it is to `destination_parent_id` (an OU id, or
/// the root id), as the organization's administrator does.
pub async fn move_account(
    endpoint: &str,
    org: &SeededOrganization,
    aws_account_id: &str,
    destination_parent_id: &str,
) -> Result<(), String> {
    let source = parent_of(endpoint, org, aws_account_id).await?;
    organizations(endpoint, org)
        .await
        .move_account()
        .account_id(aws_account_id)
        .source_parent_id(source)
        .destination_parent_id(destination_parent_id)
        .send()
        .await
        .map_err(|e| format!("moving the account {aws_account_id} to {destination_parent_id}: {e:?}"))?;
    Ok(())
}

/// Closes the member account `aws_account_id` (`CloseAccount`: AWS suspends it, then closes it).
pub async fn close_account(endpoint: &str, org: &SeededOrganization, aws_account_id: &str) -> Result<(), String> {
    organizations(endpoint, org)
        .await
        .close_account()
        .account_id(aws_account_id)
        .send()
        .await
        .map_err(|e| format!("closing the account {aws_account_id}: {e:?}"))?;
    Ok(())
}

/// Every account of the organization but the management account (all pages of ListAccounts).
pub async fn member_account_ids(endpoint: &str, org: &SeededOrganization) -> Result<Vec<String>, String> {
    let orgs = organizations(endpoint, org).await;
    let mut ids = Vec::new();
    let mut next = None;
    loop {
        let page = orgs
            .list_accounts()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| format!("listing the organization's accounts: {e:?}"))?;
        ids.extend(
            page.accounts
                .unwrap_or_default()
                .into_iter()
                .filter_map(|a| a.id)
                .filter(|id| *id != org.management_account_id),
        );
        next = page.next_token;
        if next.is_none() {
            break;
        }
    }
    Ok(ids)
}

/// An SDK configuration acting in the member account `aws_account_id` as its administrator: a
/// session of `OrganizationAccountAccessRole` assumed with the management admin's key, as on
/// AWS. (That role has administrator permissions on AWS; the local AWS must give it them too.)
pub async fn member_sdk(
    endpoint: &str,
    org: &SeededOrganization,
    aws_account_id: &str,
) -> Result<aws_config::SdkConfig, String> {
    let sts = aws_sdk_sts::Client::new(&sdk_config(endpoint, &org.admin).await);
    let role = format!("arn:aws:iam::{aws_account_id}:role/{MEMBER_ADMIN_ROLE}");
    let out = sts
        .assume_role()
        .role_arn(&role)
        .role_session_name("organization-admin")
        .send()
        .await
        .map_err(|e| format!("assuming {role}: {e:?}"))?;
    let c = out
        .credentials
        .ok_or_else(|| format!("AssumeRole {role} returned no credentials"))?;
    Ok(sdk_with(
        endpoint,
        Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "organization-admin",
        ),
    )
    .await)
}

/// IAM in the member account `aws_account_id`, as its administrator (see `member_sdk`).
pub async fn member_iam(
    endpoint: &str,
    org: &SeededOrganization,
    aws_account_id: &str,
) -> Result<aws_sdk_iam::Client, String> {
    Ok(aws_sdk_iam::Client::new(
        &member_sdk(endpoint, org, aws_account_id).await?,
    ))
}

/// Makes (or updates) `CloudIamBrokerAccess` in the member `aws_account_id` with `trust` and the
/// IAM permissions the broker needs, as the StackSet's stack instance does.
pub async fn deploy_access_role(
    endpoint: &str,
    org: &SeededOrganization,
    aws_account_id: &str,
    trust: &str,
) -> Result<(), String> {
    let iam = member_iam(endpoint, org, aws_account_id).await?;
    match iam
        .create_role()
        .role_name(BROKER_ACCESS_ROLE)
        .assume_role_policy_document(trust)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if aws_sdk_iam::error::ProvideErrorMetadata::code(&e) == Some("EntityAlreadyExists") => {
            iam.update_assume_role_policy()
                .role_name(BROKER_ACCESS_ROLE)
                .policy_document(trust)
                .send()
                .await
                .map_err(|e| format!("trusting {BROKER_ACCESS_ROLE} in {aws_account_id}: {e:?}"))?;
        }
        Err(e) if aws_sdk_iam::error::ProvideErrorMetadata::code(&e) == Some("AccessDenied") => {
            return Err(format!(
                "creating {BROKER_ACCESS_ROLE} in {aws_account_id} as {MEMBER_ADMIN_ROLE} was refused: on AWS, \
                 CreateAccount gives that role administrator permissions, and the local AWS must too ({e:?})"
            ));
        }
        Err(e) => return Err(format!("creating {BROKER_ACCESS_ROLE} in {aws_account_id}: {e:?}")),
    }
    iam.put_role_policy()
        .role_name(BROKER_ACCESS_ROLE)
        .policy_name("admin")
        .policy_document(ALLOW_ALL)
        .send()
        .await
        .map_err(|e| format!("granting {BROKER_ACCESS_ROLE} in {aws_account_id}: {e:?}"))?;
    Ok(())
}

/// Puts `trust` (a trust policy document) on the organization role in the management account.
pub async fn set_reader_trust(endpoint: &str, org: &SeededOrganization, trust: &str) -> Result<(), String> {
    aws_sdk_iam::Client::new(&sdk_config(endpoint, &org.admin).await)
        .update_assume_role_policy()
        .role_name(READER_ROLE)
        .policy_document(trust)
        .send()
        .await
        .map_err(|e| format!("trusting {READER_ROLE}: {e:?}"))?;
    Ok(())
}

/// Applies the trust policy `POST /accounts/external-ids` returned (`trust_policy`, as JSON
/// text) as the customer does: on the organization role and the Identity Center role, and, through the StackSet's
/// ExternalId parameter, on every member's `CloudIamBrokerAccess` (accounts created since
/// included: the organization is listed now, all pages).
pub async fn trust_external_id(endpoint: &str, org: &SeededOrganization, trust_policy: &str) -> Result<(), String> {
    serde_json::from_str::<serde_json::Value>(trust_policy)
        .map_err(|e| format!("the trust policy is not JSON ({e}): pass the issued trust_policy as JSON text"))?;
    set_reader_trust(endpoint, org, trust_policy).await?;
    crate::identity_center::set_trust(endpoint, org, trust_policy).await?;
    for id in member_account_ids(endpoint, org).await? {
        deploy_access_role(endpoint, org, &id, trust_policy).await?;
    }
    Ok(())
}
