//! IAM Identity Center as the broker grants through it: permission sets (by ARN), the
//! organization's instance and identity store, how a platform user is found in that store,
//! and what an Identity Center session records (`IcAccess`). How its end is made an end (the
//! deny statements in the permission set) is `revocation`'s.

pub mod revocation;

use std::fmt;

use super::{AwsAccountId, Invalid, Region};

/// The partitions an Identity Center ARN may name (the API reference's patterns).
const PARTITIONS: [&str; 5] = ["aws", "aws-us-gov", "aws-cn", "aws-iso", "aws-iso-b"];

/// `[a-zA-Z0-9-.]` (and `/` where a permission set id allows it), as the API reference's
/// patterns say.
fn id_chars(s: &str, slash: bool) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || (slash && c == '/'))
}

/// An Identity Center instance:
/// `arn:aws:sso:::instance/ssoins-<16>` (API reference: `^arn:(aws|…):sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}$`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceArn(String);

impl InstanceArn {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let err = || {
            Invalid::field(
                "",
                "must be an IAM Identity Center instance ARN (arn:aws:sso:::instance/ssoins-0123456789abcdef)",
            )
        };
        let rest = s.strip_prefix("arn:").ok_or_else(err)?;
        let (partition, rest) = rest.split_once(':').ok_or_else(err)?;
        let id = rest.strip_prefix("sso:::instance/").ok_or_else(err)?;
        let tail = id
            .strip_prefix("ssoins-")
            .or_else(|| id.strip_prefix("ins-"))
            .ok_or_else(err)?;
        if !PARTITIONS.contains(&partition) || tail.len() != 16 || !id_chars(tail, false) {
            return Err(err());
        }
        Ok(InstanceArn(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The instance's id (`ssoins-…`), which a permission set's ARN repeats.
    fn id(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

impl fmt::Display for InstanceArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A permission set:
/// `arn:aws:sso:::permissionSet/ssoins-<16>/ps-<16>` (API reference:
/// `^arn:(aws|…):sso:::permissionSet/(sso)?ins-[a-zA-Z0-9-.]{16}/ps-[a-zA-Z0-9-./]{16}$`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermissionSetArn(String);

impl PermissionSetArn {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let err = || {
            Invalid::field(
                "",
                "must be a permission set ARN (arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef)",
            )
        };
        let rest = s.strip_prefix("arn:").ok_or_else(err)?;
        let (partition, rest) = rest.split_once(':').ok_or_else(err)?;
        let ids = rest.strip_prefix("sso:::permissionSet/").ok_or_else(err)?;
        let (instance, ps) = ids.split_once("/ps-").ok_or_else(err)?;
        let instance = instance
            .strip_prefix("ssoins-")
            .or_else(|| instance.strip_prefix("ins-"))
            .ok_or_else(err)?;
        if !PARTITIONS.contains(&partition)
            || instance.len() != 16
            || !id_chars(instance, false)
            || ps.len() != 16
            || !id_chars(ps, true)
        {
            return Err(err());
        }
        Ok(PermissionSetArn(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it belongs to `instance`.
    pub fn of(&self, instance: &InstanceArn) -> bool {
        self.0
            .strip_prefix(&format!("arn:{}:sso:::permissionSet/", instance.partition()))
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(id, _)| id == instance.id())
    }
}

impl InstanceArn {
    fn partition(&self) -> &str {
        self.0.split(':').nth(1).unwrap_or("aws")
    }
}

impl fmt::Display for PermissionSetArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which identity-store attribute holds a platform user's e-mail (GetUserId's unique
/// attributes: `emails.value` or `userName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserAttribute {
    /// `emails.value`: the user's e-mail address.
    #[default]
    Email,
    /// `userName`: where the organization's user names are their e-mail addresses.
    UserName,
}

impl UserAttribute {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "emails.value" => Ok(UserAttribute::Email),
            "userName" => Ok(UserAttribute::UserName),
            _ => Err(Invalid::field("user_attribute", "must be emails.value or userName")),
        }
    }

    /// The attribute path GetUserId takes.
    pub fn path(self) -> &'static str {
        match self {
            UserAttribute::Email => "emails.value",
            UserAttribute::UserName => "userName",
        }
    }
}

/// An organization's Identity Center, as the broker reaches it: the instance (found with
/// ListInstances), its identity store, and the account and Region it is administered from
/// (the management account, or a delegated administrator) through the broker's role there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityCenterSettings {
    pub instance_arn: InstanceArn,
    pub identity_store_id: String,
    pub region: Region,
    pub admin_account_id: AwsAccountId,
    pub user_attribute: UserAttribute,
    /// The AWS access portal's URL (`https://<identity store id>.awsapps.com/start`, or the
    /// organization's own alias).
    pub start_url: String,
}

impl IdentityCenterSettings {
    /// The portal URL AWS gives an instance without an alias.
    pub fn default_start_url(identity_store_id: &str) -> String {
        format!("https://{identity_store_id}.awsapps.com/start")
    }

    /// The access portal's shortcut to one account and permission set (User Guide:
    /// "Create shortcut links to AWS Management Console").
    pub fn shortcut(&self, account: &AwsAccountId, permission_set_name: &str) -> String {
        format!(
            "{}/#/console?account_id={account}&role_name={}",
            self.start_url.trim_end_matches('/'),
            crate::encoding::percent_encode(permission_set_name)
        )
    }

    /// The AWS CLI profile that signs in through the portal to this access (the keys the
    /// AWS CLI v1 and v2 both read).
    pub fn cli_profile(&self, account: &AwsAccountId, permission_set_name: &str, region: &Region) -> String {
        format!(
            "[profile cib-{account}-{permission_set_name}]\nsso_start_url = {}\nsso_region = {}\nsso_account_id = {account}\nsso_role_name = {permission_set_name}\nregion = {region}\n",
            self.start_url, self.region
        )
    }
}

/// What an Identity Center session is a grant of, as its record keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcAccess {
    pub permission_set: PermissionSetArn,
    /// Its name: the role name the portal and the AWS CLI know it by.
    pub permission_set_name: String,
    /// How long the permission set's sessions last (its SessionDuration), as read at the
    /// start: what the portal's credentials and consoles last.
    pub permission_set_seconds: u32,
    /// The user in the identity store, and their user name there (the name the portal gives
    /// their role sessions).
    pub user_id: String,
    pub user_name: String,
    /// Access the user already had outside the broker (an assignment it did not make, to the
    /// user or a group of theirs): the start said so, and the end leaves it alone.
    pub outside: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: &str = "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef";
    const INSTANCE: &str = "arn:aws:sso:::instance/ssoins-0123456789abcdef";

    #[test]
    fn arns_take_the_api_references_shapes() {
        assert!(PermissionSetArn::parse(PS).is_ok());
        assert!(InstanceArn::parse(INSTANCE).is_ok());
        assert!(InstanceArn::parse("arn:aws:sso:::instance/ins-0123456789abcdef").is_ok());
        for bad in [
            "arn:aws:sso:::permissionSet/ssoins-0123456789abcde/ps-0123456789abcdef",
            "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdefg",
            "arn:aws:iam:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef",
            "arn:foo:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef",
            "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef",
            "arn:aws:sso:::permissionSet/ssoins-01234567 9abcdef/ps-0123456789abcdef",
        ] {
            assert!(PermissionSetArn::parse(bad).is_err(), "{bad}");
        }
        assert!(InstanceArn::parse("arn:aws:sso:::instance/ssoins-0123").is_err());
    }

    #[test]
    fn a_permission_set_knows_its_instance() {
        let ps = PermissionSetArn::parse(PS).unwrap();
        assert!(ps.of(&InstanceArn::parse(INSTANCE).unwrap()));
        assert!(!ps.of(&InstanceArn::parse("arn:aws:sso:::instance/ssoins-fedcba9876543210").unwrap()));
        assert!(!ps.of(&InstanceArn::parse("arn:aws-cn:sso:::instance/ssoins-0123456789abcdef").unwrap()));
    }

    #[test]
    fn the_portal_shortcut_and_cli_profile_name_the_access() {
        let s = IdentityCenterSettings {
            instance_arn: InstanceArn::parse(INSTANCE).unwrap(),
            identity_store_id: "d-1234567890".into(),
            region: Region::parse("eu-west-1").unwrap(),
            admin_account_id: AwsAccountId::parse("220000000001").unwrap(),
            user_attribute: UserAttribute::Email,
            start_url: IdentityCenterSettings::default_start_url("d-1234567890"),
        };
        let account = AwsAccountId::parse("220000000002").unwrap();
        assert_eq!(
            s.shortcut(&account, "Admin+Ops"),
            "https://d-1234567890.awsapps.com/start/#/console?account_id=220000000002&role_name=Admin%2BOps"
        );
        let profile = s.cli_profile(&account, "ReadOnly", &Region::parse("us-east-2").unwrap());
        assert!(profile.contains("sso_start_url = https://d-1234567890.awsapps.com/start\n"));
        assert!(profile.contains("sso_region = eu-west-1\n"));
        assert!(profile.contains("sso_account_id = 220000000002\nsso_role_name = ReadOnly\nregion = us-east-2\n"));
    }
}
