//! The seeded organization's IAM Identity Center (docs/identity-center.md), as its
//! administrator sets it up: the instance in the management account (the local AWS's), the
//! broker's role there (`CloudIamBrokerIdentityCenter`, as infra/organization-identity-center-role.yaml
//! makes it), permission sets, and users and groups in the identity store. Everything is made
//! with the SDK calls an administrator makes, signed by the management account's admin.

use crate::local_aws::{REGION, broker_placeholder_trust, sdk_config};
use crate::organization::SeededOrganization;

/// The broker's role where the organization's Identity Center is administered.
pub const IDENTITY_CENTER_ROLE: &str = shared::config::DEFAULT_IDENTITY_CENTER_ROLE_NAME;

/// The calls the broker makes there (the role template's permissions).
const IDENTITY_CENTER_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sso:ListInstances","sso:ListPermissionSets","sso:DescribePermissionSet","sso:ListAccountAssignments","sso:CreateAccountAssignment","sso:DeleteAccountAssignment","sso:DescribeAccountAssignmentCreationStatus","sso:DescribeAccountAssignmentDeletionStatus","sso:GetInlinePolicyForPermissionSet","sso:PutInlinePolicyToPermissionSet","sso:DeleteInlinePolicyFromPermissionSet","sso:ProvisionPermissionSet","sso:DescribePermissionSetProvisioningStatus","identitystore:GetUserId","identitystore:DescribeUser","identitystore:ListGroupMembershipsForMember"],"Resource":"*"}]}"#;

/// The organization's Identity Center instance.
#[derive(Debug, Clone)]
pub struct Instance {
    pub instance_arn: String,
    pub identity_store_id: String,
}

async fn sso(endpoint: &str, org: &SeededOrganization) -> aws_sdk_ssoadmin::Client {
    aws_sdk_ssoadmin::Client::new(&sdk_config(endpoint, &org.admin).await)
}

async fn store(endpoint: &str, org: &SeededOrganization) -> aws_sdk_identitystore::Client {
    aws_sdk_identitystore::Client::new(&sdk_config(endpoint, &org.admin).await)
}

/// Makes the broker's role in the management account, with the placeholder trust (the issued
/// one is applied with the organization's, `organization::trust_external_id`).
pub(crate) async fn seed_role(endpoint: &str, org: &SeededOrganization) -> Result<(), String> {
    let iam = aws_sdk_iam::Client::new(&sdk_config(endpoint, &org.admin).await);
    iam.create_role()
        .role_name(IDENTITY_CENTER_ROLE)
        .assume_role_policy_document(broker_placeholder_trust())
        .send()
        .await
        .map_err(|e| format!("creating {IDENTITY_CENTER_ROLE}: {e:?}"))?;
    iam.put_role_policy()
        .role_name(IDENTITY_CENTER_ROLE)
        .policy_name("identity-center")
        .policy_document(IDENTITY_CENTER_POLICY)
        .send()
        .await
        .map_err(|e| format!("granting {IDENTITY_CENTER_ROLE}: {e:?}"))?;
    Ok(())
}

/// Puts `trust` on the broker's Identity Center role.
pub async fn set_trust(endpoint: &str, org: &SeededOrganization, trust: &str) -> Result<(), String> {
    aws_sdk_iam::Client::new(&sdk_config(endpoint, &org.admin).await)
        .update_assume_role_policy()
        .role_name(IDENTITY_CENTER_ROLE)
        .policy_document(trust)
        .send()
        .await
        .map_err(|e| format!("trusting {IDENTITY_CENTER_ROLE}: {e:?}"))?;
    Ok(())
}

/// The management account's instance (ListInstances).
pub async fn instance(endpoint: &str, org: &SeededOrganization) -> Result<Instance, String> {
    let out = sso(endpoint, org)
        .await
        .list_instances()
        .send()
        .await
        .map_err(|e| format!("listing Identity Center instances: {e:?}"))?;
    let first = out
        .instances()
        .first()
        .ok_or("the management account has no instance")?;
    Ok(Instance {
        instance_arn: first.instance_arn().ok_or("an instance without an ARN")?.to_string(),
        identity_store_id: first
            .identity_store_id()
            .ok_or("an instance without a store")?
            .to_string(),
    })
}

/// Creates the permission set `name` with `inline` as its inline policy and a one-hour
/// session duration. Returns its ARN.
pub async fn create_permission_set(
    endpoint: &str,
    org: &SeededOrganization,
    name: &str,
    inline: &str,
) -> Result<String, String> {
    let i = instance(endpoint, org).await?;
    let sso = sso(endpoint, org).await;
    let arn = sso
        .create_permission_set()
        .instance_arn(&i.instance_arn)
        .name(name)
        .session_duration("PT1H")
        .send()
        .await
        .map_err(|e| format!("creating permission set {name}: {e:?}"))?
        .permission_set()
        .and_then(|p| p.permission_set_arn())
        .ok_or_else(|| format!("CreatePermissionSet {name} returned no ARN"))?
        .to_string();
    sso.put_inline_policy_to_permission_set()
        .instance_arn(&i.instance_arn)
        .permission_set_arn(&arn)
        .inline_policy(inline)
        .send()
        .await
        .map_err(|e| format!("the inline policy of {name}: {e:?}"))?;
    Ok(arn)
}

/// The permission set's inline policy as Identity Center keeps it.
pub async fn inline_policy(endpoint: &str, org: &SeededOrganization, permission_set: &str) -> Result<String, String> {
    let i = instance(endpoint, org).await?;
    let out = sso(endpoint, org)
        .await
        .get_inline_policy_for_permission_set()
        .instance_arn(&i.instance_arn)
        .permission_set_arn(permission_set)
        .send()
        .await
        .map_err(|e| format!("reading the inline policy: {e:?}"))?;
    Ok(out.inline_policy().unwrap_or_default().to_string())
}

/// Who has `permission_set` in `aws_account_id`: (principal type, principal id).
pub async fn assignments(
    endpoint: &str,
    org: &SeededOrganization,
    aws_account_id: &str,
    permission_set: &str,
) -> Result<Vec<(String, String)>, String> {
    let i = instance(endpoint, org).await?;
    let out = sso(endpoint, org)
        .await
        .list_account_assignments()
        .instance_arn(&i.instance_arn)
        .account_id(aws_account_id)
        .permission_set_arn(permission_set)
        .send()
        .await
        .map_err(|e| format!("listing assignments: {e:?}"))?;
    Ok(out
        .account_assignments()
        .iter()
        .map(|a| {
            (
                a.principal_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                a.principal_id().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// Assigns `permission_set` in `aws_account_id` to the user as an administrator would, outside
/// the broker, and waits until it is provisioned.
pub async fn assign(
    endpoint: &str,
    org: &SeededOrganization,
    aws_account_id: &str,
    permission_set: &str,
    user_id: &str,
) -> Result<(), String> {
    let i = instance(endpoint, org).await?;
    let sso = sso(endpoint, org).await;
    let id = sso
        .create_account_assignment()
        .instance_arn(&i.instance_arn)
        .target_id(aws_account_id)
        .target_type(aws_sdk_ssoadmin::types::TargetType::AwsAccount)
        .permission_set_arn(permission_set)
        .principal_type(aws_sdk_ssoadmin::types::PrincipalType::User)
        .principal_id(user_id)
        .send()
        .await
        .map_err(|e| format!("assigning: {e:?}"))?
        .account_assignment_creation_status()
        .and_then(|s| s.request_id())
        .ok_or("CreateAccountAssignment returned no request id")?
        .to_string();
    for _ in 0..100 {
        let status = sso
            .describe_account_assignment_creation_status()
            .instance_arn(&i.instance_arn)
            .account_assignment_creation_request_id(&id)
            .send()
            .await
            .map_err(|e| format!("reading the assignment's status: {e:?}"))?;
        match status
            .account_assignment_creation_status()
            .and_then(|s| s.status())
            .map(|s| s.as_str().to_string())
            .as_deref()
        {
            Some("SUCCEEDED") => return Ok(()),
            Some("FAILED") => return Err(format!("the assignment failed: {status:?}")),
            _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    Err("the assignment was not provisioned within 20 s".into())
}

/// Creates the identity-store user `user_name` with `email` as its primary e-mail. Returns
/// its user id.
pub async fn create_user(
    endpoint: &str,
    org: &SeededOrganization,
    user_name: &str,
    email: &str,
) -> Result<String, String> {
    use aws_sdk_identitystore::types::{Email, Name};
    let i = instance(endpoint, org).await?;
    let out = store(endpoint, org)
        .await
        .create_user()
        .identity_store_id(&i.identity_store_id)
        .user_name(user_name)
        .display_name(user_name)
        .name(Name::builder().given_name(user_name).family_name("Example").build())
        .emails(Email::builder().value(email).r#type("work").primary(true).build())
        .send()
        .await
        .map_err(|e| format!("creating identity-store user {user_name}: {e:?}"))?;
    Ok(out.user_id().to_string())
}

/// The Region the seeded Identity Center is in.
pub fn region() -> &'static str {
    REGION
}

/// What `scripts/dev` readies in the organization's Identity Center for a newcomer: the
/// permission set `ReadOnly` (read IAM) and identity-store users for the development sign-in's
/// people (`alice@example.com` as `alice`, `bob@example.com` as `bob`).
#[derive(Debug, Clone)]
pub struct DevIdentityCenter {
    pub read_only: String,
    pub identity_store_id: String,
}

static DEV: std::sync::OnceLock<DevIdentityCenter> = std::sync::OnceLock::new();

/// What `ready_for_dev` readied, once it has.
pub fn dev() -> Option<&'static DevIdentityCenter> {
    DEV.get()
}

/// Readies the organization's Identity Center as `DevIdentityCenter` says (kept for `dev`).
pub async fn ready_for_dev(endpoint: &str, org: &SeededOrganization) -> Result<DevIdentityCenter, String> {
    let read_only = create_permission_set(
        endpoint,
        org,
        "ReadOnly",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadIam","Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"}]}"#,
    )
    .await?;
    for name in ["alice", "bob"] {
        create_user(endpoint, org, name, &format!("{name}@example.com")).await?;
    }
    let readied = DevIdentityCenter {
        read_only,
        identity_store_id: instance(endpoint, org).await?.identity_store_id,
    };
    let _ = DEV.set(readied.clone());
    Ok(readied)
}
