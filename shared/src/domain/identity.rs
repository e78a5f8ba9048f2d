//! Platform users (by e-mail) and the IAM users the broker provisions for them.

use std::fmt;

use time::OffsetDateTime;

use super::{AccessKeyId, AccountId, Collector, Invalid, Sealed};

/// A platform user's e-mail, lower-cased: the identity every grant and session refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim().to_ascii_lowercase();
        if looks_like_email(&s) {
            Ok(Email(s))
        } else {
            Err(Invalid::field("email", "must be an e-mail address"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A deliberately loose check (one `@`, a dot in the domain, no spaces): the identity provider
/// owns e-mail verification; we only refuse values that cannot be an address.
pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && s.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// An IAM user name: 1 to 64 of `A-Z a-z 0-9 +=,.@_-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IamUserName(String);

impl IamUserName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if (1..=64).contains(&s.len()) && s.chars().all(iam_name_char) {
            Ok(IamUserName(s.to_string()))
        } else {
            Err(Invalid::field("user_name", "must be 1 to 64 of A-Z a-z 0-9 +=,.@_-"))
        }
    }

    /// The default name for a platform user: the e-mail itself when IAM accepts it (it usually
    /// does), otherwise with other characters replaced, cut to 64.
    pub fn from_email(email: &Email) -> Self {
        let name: String = email
            .as_str()
            .chars()
            .map(|c| if iam_name_char(c) { c } else { '-' })
            .take(64)
            .collect();
        IamUserName(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IamUserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IAM group name: 1 to 128 of the IAM name characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IamGroupName(String);

impl IamGroupName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if (1..=128).contains(&s.len()) && s.chars().all(iam_name_char) {
            Ok(IamGroupName(s.to_string()))
        } else {
            Err(Invalid::field(
                "",
                "must be an IAM group name (1 to 128 of A-Z a-z 0-9 +=,.@_-)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A managed policy ARN: AWS-managed (`arn:aws:iam::aws:policy/…`) or customer-managed in the
/// user's account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyArn(String);

impl PolicyArn {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let err = || {
            Invalid::field(
                "",
                "must be a managed policy ARN (arn:aws:iam::aws:policy/Name or arn:aws:iam::123456789012:policy/Name)",
            )
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, owner, resource] = parts.as_slice() else {
            return Err(err());
        };
        let owner_ok = *owner == "aws" || (owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()));
        let name = resource.strip_prefix("policy/").unwrap_or("");
        let name_ok = !name.is_empty()
            && name.len() <= 512
            && name
                .rsplit('/')
                .next()
                .is_some_and(|n| (1..=128).contains(&n.len()) && n.chars().all(iam_name_char));
        if *arn == "arn"
            && partition.starts_with("aws")
            && *service == "iam"
            && region.is_empty()
            && owner_ok
            && name_ok
        {
            Ok(PolicyArn(s.to_string()))
        } else {
            Err(err())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most managed policies IAM lets one user have attached.
pub const MAX_USER_POLICIES: usize = 10;

/// Where a provisioned user is in its life (the senhasegura lifecycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Recorded; nothing created in AWS yet.
    Pending,
    /// Being created in AWS (the record exists before anything in AWS does).
    Provisioning,
    Provisioned,
    /// Being removed from AWS.
    Unprovisioning,
    /// Removed from AWS; the record stays as history.
    Unprovisioned,
    /// An IAM user the broker found but does not manage. Never starts sessions.
    Imported,
    /// Provisioning or removal failed; `failure` says where. A retry converges.
    Failed,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Pending => "pending",
            UserStatus::Provisioning => "provisioning",
            UserStatus::Provisioned => "provisioned",
            UserStatus::Unprovisioning => "unprovisioning",
            UserStatus::Unprovisioned => "unprovisioned",
            UserStatus::Imported => "imported",
            UserStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => UserStatus::Pending,
            "provisioning" => UserStatus::Provisioning,
            "provisioned" => UserStatus::Provisioned,
            "unprovisioning" => UserStatus::Unprovisioning,
            "unprovisioned" => UserStatus::Unprovisioned,
            "imported" => UserStatus::Imported,
            "failed" => UserStatus::Failed,
            _ => return None,
        })
    }

    /// Whether the user may hold resources in AWS that the broker must clean up (and that keep
    /// the account from being deleted).
    pub fn holds_aws_resources(self) -> bool {
        !matches!(self, UserStatus::Unprovisioned | UserStatus::Imported)
    }
}

/// What the admin asked to provision.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSpec {
    pub email: Email,
    pub user_name: IamUserName,
    pub console_access: bool,
    pub credential: bool,
    pub policies: Vec<PolicyArn>,
    pub groups: Vec<IamGroupName>,
}

impl UserSpec {
    pub fn parse(
        email: &str,
        user_name: Option<&str>,
        console_access: bool,
        credential: bool,
        policies: &[String],
        groups: &[String],
    ) -> Result<Self, Invalid> {
        let mut c = Collector::default();
        let email = c.take(Email::parse(email));
        let user_name = match (user_name, &email) {
            (Some(n), _) => c.take(IamUserName::parse(n)),
            (None, Some(e)) => Some(IamUserName::from_email(e)),
            (None, None) => None,
        };
        if policies.len() > MAX_USER_POLICIES {
            c.push("policy_arns", format!("at most {MAX_USER_POLICIES} managed policies"));
        }
        let mut parsed_policies: Vec<PolicyArn> = Vec::new();
        for (i, p) in policies.iter().enumerate() {
            let field = format!("policy_arns[{i}]");
            if let Some(p) = c.take(PolicyArn::parse(p).map_err(|e| e.under(&field))) {
                if parsed_policies.contains(&p) {
                    c.push(&field, "is listed twice");
                } else {
                    parsed_policies.push(p);
                }
            }
        }
        if groups.len() > 10 {
            c.push("groups", "at most 10 IAM groups");
        }
        let mut parsed_groups: Vec<IamGroupName> = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            let field = format!("groups[{i}]");
            if let Some(g) = c.take(IamGroupName::parse(g).map_err(|e| e.under(&field)))
                && !parsed_groups.contains(&g)
            {
                parsed_groups.push(g);
            }
        }
        c.finish()?;
        Ok(UserSpec {
            email: email.expect("checked"),
            user_name: user_name.expect("checked"),
            console_access,
            credential,
            policies: parsed_policies,
            groups: parsed_groups,
        })
    }
}

/// The broker's long-lived credential for a provisioned user: an access key whose secret is
/// sealed and only ever opened to make the user's own STS calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCredential {
    pub access_key_id: AccessKeyId,
    pub sealed_secret: Sealed,
    pub created_at: OffsetDateTime,
}

/// An IAM user known to the broker in one account.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedUser {
    pub account_id: AccountId,
    pub user_name: IamUserName,
    /// `None` for imported users (IAM does not know platform e-mails).
    pub email: Option<Email>,
    pub status: UserStatus,
    pub arn: Option<String>,
    pub console_access: bool,
    pub wants_credential: bool,
    pub credential: Option<UserCredential>,
    pub policies: Vec<PolicyArn>,
    pub groups: Vec<IamGroupName>,
    /// Ties the IAM user to this record (as a tag), so a retry never adopts a stranger's user.
    pub provisioning_id: String,
    /// Where provisioning or removal last failed, for admins; never a secret.
    pub failure: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

impl ManagedUser {
    pub fn spec(&self) -> Option<UserSpec> {
        Some(UserSpec {
            email: self.email.clone()?,
            user_name: self.user_name.clone(),
            console_access: self.console_access,
            credential: self.wants_credential,
            policies: self.policies.clone(),
            groups: self.groups.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_emails() {
        let e = Email::parse(" Alice.Smith+ops@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "alice.smith+ops@example.com");
        assert_eq!(IamUserName::from_email(&e).as_str(), "alice.smith+ops@example.com");
        let odd = Email::parse("o'neil@example.com").unwrap();
        assert_eq!(IamUserName::from_email(&odd).as_str(), "o-neil@example.com");
        assert!(IamUserName::parse(&"a".repeat(65)).is_err());
        assert!(IamUserName::parse("has space").is_err());
    }

    #[test]
    fn policies() {
        assert!(PolicyArn::parse("arn:aws:iam::aws:policy/ReadOnlyAccess").is_ok());
        assert!(PolicyArn::parse("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess").is_ok());
        assert!(PolicyArn::parse("arn:aws:iam::123456789012:policy/team/Mine").is_ok());
        assert!(PolicyArn::parse("arn:aws:iam::123456789012:role/Mine").is_err());
        assert!(PolicyArn::parse("ReadOnlyAccess").is_err());
        let many: Vec<String> = (0..11).map(|i| format!("arn:aws:iam::aws:policy/P{i}")).collect();
        let err = UserSpec::parse("a@b.co", None, false, false, &many, &[]).unwrap_err();
        assert!(err.0.iter().any(|e| e.field == "policy_arns"));
    }
}
