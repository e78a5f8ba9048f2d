//! Registered AWS accounts: identifiers, names, regions, ARNs and the credentials the broker
//! uses to reach each account.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use super::{Invalid, Secret};

/// Implements `as_str`, `Display` and `FromStr` (via `parse`) for a validated string newtype.
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = Invalid;
            fn from_str(s: &str) -> Result<Self, Invalid> {
                Self::parse(s)
            }
        }
    };
}

/// The broker's own id for a registered account (a ULID: sortable by creation time).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);
string_newtype!(AccountId);

impl AccountId {
    pub fn generate() -> Self {
        AccountId(ulid::Ulid::new().to_string())
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        ulid::Ulid::from_string(s)
            .map(|u| AccountId(u.to_string()))
            .map_err(|_| Invalid::field("", "must be an account id as returned by POST /accounts"))
    }
}

/// A display name chosen by the admin: 1 to 64 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName(String);
string_newtype!(AccountName);

impl AccountName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let len = s.chars().count();
        if !(1..=64).contains(&len) {
            return Err(Invalid::field("name", "must be 1 to 64 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid::field("name", "must not contain control characters"));
        }
        Ok(AccountName(s.to_string()))
    }
}

/// An AWS region code such as `eu-west-1` or `us-gov-west-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region(String);
string_newtype!(Region);

impl Region {
    /// Checks the shape AWS uses (`area-[gov|iso…-]direction-N`) rather than a fixed list,
    /// so new regions work without a release.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let err = || Invalid::field("default_region", "must be an AWS region code such as us-east-1");
        let parts: Vec<&str> = s.split('-').collect();
        if !(3..=5).contains(&parts.len()) || s.len() > 25 {
            return Err(err());
        }
        let (area, rest) = parts.split_first().ok_or_else(err)?;
        let (number, middle) = rest.split_last().ok_or_else(err)?;
        let lower = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
        if area.len() != 2
            || !lower(area)
            || !middle.iter().all(lower)
            || number.is_empty()
            || number.len() > 2
            || !number.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        Ok(Region(s.to_string()))
    }
}

/// A 12-digit AWS account number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsAccountId(String);
string_newtype!(AwsAccountId);

impl AwsAccountId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AwsAccountId(s.to_string()))
        } else {
            Err(Invalid::field("aws_account_id", "must be 12 digits"))
        }
    }
}

/// The ARN of an IAM role: `arn:<partition>:iam::<account>:role/<path/>name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleArn {
    arn: String,
    account: AwsAccountId,
    name_start: usize,
}

impl RoleArn {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let err = |m: &str| {
            Invalid::field(
                "",
                format!("must be an IAM role ARN (arn:aws:iam::123456789012:role/Name): {m}"),
            )
        };
        let mut parts = s.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(err("not an IAM ARN"));
        };
        if !matches!(
            partition,
            "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b" | "aws-iso-e" | "aws-iso-f" | "aws-eusc"
        ) {
            return Err(err("unknown partition"));
        }
        let account = AwsAccountId::parse(account).map_err(|_| err("account must be 12 digits"))?;
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(err("resource must start with role/"));
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        let valid_name_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(valid_name_char) {
            return Err(err("role name must be 1 to 64 of A-Z a-z 0-9 +=,.@_-"));
        }
        let path = &path_and_name[..path_and_name.len() - name.len()];
        if path.len() > 512 || !path.chars().all(|c| c == '/' || ('!'..='~').contains(&c)) {
            return Err(err("role path is invalid"));
        }
        Ok(RoleArn {
            arn: s.to_string(),
            account,
            name_start: s.len() - name.len(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }

    pub fn account(&self) -> &AwsAccountId {
        &self.account
    }

    pub fn partition(&self) -> &str {
        self.arn.split(':').nth(1).unwrap_or("aws")
    }

    pub fn name(&self) -> &str {
        &self.arn[self.name_start..]
    }

    /// Whether the role's name matches `pattern`, where `*` stands for any characters (as an
    /// IAM policy's resource does). IAM role names are unique regardless of case.
    pub fn name_matches(&self, pattern: &str) -> bool {
        fn glob(p: &[u8], s: &[u8]) -> bool {
            match (p.first(), s.first()) {
                (None, None) => true,
                (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
                (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => glob(&p[1..], &s[1..]),
                _ => false,
            }
        }
        glob(pattern.as_bytes(), self.name().as_bytes())
    }

    /// The role as IAM identifies it, whatever the spelling: IAM role names are unique within
    /// an account regardless of case, and a path is not part of that name ("IAM identifiers",
    /// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html). Two ARNs
    /// naming one role (`role/Ops`, `role/team/ops`) have one identity, so records kept per role
    /// (its revocations, its lease) are kept under it.
    pub fn identity(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition(),
            self.account,
            self.name().to_ascii_lowercase()
        )
    }

    /// `path/name` without the leading `role/` (what the console's switch-role page wants).
    pub fn path_and_name(&self) -> &str {
        self.arn
            .split_once(":role/")
            .map(|(_, rest)| rest)
            .unwrap_or(self.name())
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// A long-lived IAM access key id (`AKIA…`). Temporary (`ASIA…`) keys are refused: they would
/// expire under the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyId(String);
string_newtype!(AccessKeyId);

impl AccessKeyId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.starts_with("ASIA") {
            return Err(Invalid::field(
                "access_key_id",
                "is a temporary (ASIA…) key; register a long-lived IAM user key (AKIA…) or use assume_role",
            ));
        }
        if s.len() < 16
            || s.len() > 128
            || !s.starts_with("AKIA")
            || !s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(Invalid::field(
                "access_key_id",
                "must be an IAM access key id (AKIA followed by letters and digits)",
            ));
        }
        Ok(AccessKeyId(s.to_string()))
    }
}

/// Validates a secret access key's shape without ever echoing it.
pub fn parse_secret_access_key(s: &str) -> Result<Secret, Invalid> {
    if (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(Secret::new(s))
    } else {
        Err(Invalid::field(
            "secret_access_key",
            "must be 16 to 128 printable characters without spaces",
        ))
    }
}

/// Validates an ExternalId (2 to 1224 of `[\w+=,.@:/-]`, as STS requires) without echoing it.
pub fn parse_external_id(s: &str) -> Result<Secret, Invalid> {
    let ok = (2..=1224).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
    if ok {
        Ok(Secret::new(s))
    } else {
        Err(Invalid::field(
            "external_id",
            "must be 2 to 1224 of A-Z a-z 0-9 _+=,.@:/-",
        ))
    }
}

/// How long a broker-issued ExternalId waits for the registration that uses it.
pub const EXTERNAL_ID_VALIDITY: time::Duration = time::Duration::days(7);

/// A new ExternalId for one registration: 128 random bits, so no admin picks it and no two
/// registrations share it (AWS's confused-deputy guidance: the third party generates it).
pub fn generate_external_id() -> Secret {
    let bits: [u8; 16] = rand::random();
    Secret::new(format!(
        "cib-{}",
        bits.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// What the store keeps of an issued ExternalId: its SHA-256, so the table never holds one
/// that is still waiting to be used.
pub fn external_id_digest(external_id: &Secret) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(external_id.expose().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How the broker reaches an account, as supplied by the admin (plaintext secrets).
#[derive(Debug, Clone)]
pub enum AccountCredentials {
    /// An IAM user's access key in the target account (the seed documents' way).
    AccessKey {
        access_key_id: AccessKeyId,
        secret_access_key: Secret,
    },
    /// A role the broker assumes with its own identity for management calls; no long-lived key is
    /// stored. Sessions never go through it (they use each user's own key), so role chaining's
    /// one-hour cap does not limit them.
    AssumeRole { role_arn: RoleArn, external_id: Secret },
}

/// The same credentials as stored: secrets sealed by the key service, never plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredCredentials {
    AccessKey {
        access_key_id: AccessKeyId,
        sealed_secret: Sealed,
    },
    AssumeRole {
        role_arn: RoleArn,
        sealed_external_id: Sealed,
    },
}

impl StoredCredentials {
    pub fn kind(&self) -> &'static str {
        match self {
            StoredCredentials::AccessKey { .. } => "access_key",
            StoredCredentials::AssumeRole { .. } => "assume_role",
        }
    }
}

/// Ciphertext produced by the key service. Opaque to everything but the sealer.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// Who AWS says the credentials belong to (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub aws_account_id: AwsAccountId,
    pub arn: String,
}

/// A registered AWS account.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: AccountId,
    pub name: AccountName,
    pub default_region: Region,
    pub aws_account_id: AwsAccountId,
    pub caller_arn: String,
    pub credentials: StoredCredentials,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Bumped on every write; updates are conditional on it so concurrent edits cannot be lost.
    pub version: u64,
    /// Where the account sits in a registered organization (kept by its syncs, outside
    /// `version`: an admin's edit and a sync never race for the same fields).
    pub organization: Option<super::organization::Placement>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_match_patterns_as_iam_resources_do() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/team/CloudIamBrokerAccess").unwrap();
        assert!(role.name_matches("CloudIamBrokerAccess"));
        assert!(role.name_matches("cloudiambrokeraccess"), "IAM role names ignore case");
        assert!(role.name_matches("CloudIamBroker*") && role.name_matches("*"));
        assert!(!role.name_matches("CloudIamBroker") && !role.name_matches("Admin*"));
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-west-3",
            "ap-southeast-5",
            "us-gov-west-1",
            "us-iso-east-1",
            "il-central-1",
        ] {
            assert!(Region::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-1a",
            "us--1",
            "u-east-1",
            "us-east-123",
        ] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_identity_ignores_case_and_path() {
        let a = RoleArn::parse("arn:aws:iam::123456789012:role/Ops").unwrap();
        let b = RoleArn::parse("arn:aws:iam::123456789012:role/team/a/OPS").unwrap();
        let c = RoleArn::parse("arn:aws:iam::123456789013:role/Ops").unwrap();
        assert_eq!(a.identity(), b.identity());
        assert_eq!(a.identity(), "arn:aws:iam::123456789012:role/ops");
        assert_ne!(a.identity(), c.identity());
    }

    #[test]
    fn issued_external_ids_are_random_and_stored_as_digests() {
        let (a, b) = (generate_external_id(), generate_external_id());
        assert_ne!(a.expose(), b.expose());
        assert!(parse_external_id(a.expose()).is_ok(), "STS accepts it");
        assert_eq!(external_id_digest(&a).len(), 64);
        assert!(!external_id_digest(&a).contains(a.expose()));
    }

    #[test]
    fn role_arns() {
        let arn = RoleArn::parse("arn:aws:iam::123456789012:role/ops/Admin").unwrap();
        assert_eq!(arn.account().as_str(), "123456789012");
        assert_eq!(arn.name(), "Admin");
        for bad in [
            "arn:aws:iam::123456789012:user/Admin",
            "arn:aws:iam::12345:role/Admin",
            "arn:aws:s3:::bucket",
            "arn:foo:iam::123456789012:role/Admin",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/bad name",
            "role/Admin",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn access_keys() {
        assert!(AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").is_ok());
        assert!(AccessKeyId::parse("ASIAIOSFODNN7EXAMPLE").is_err());
        assert!(AccessKeyId::parse("akiaiosfodnn7example").is_err());
        assert!(parse_secret_access_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").is_ok());
        assert!(parse_secret_access_key("short").is_err());
        let err = parse_secret_access_key("has space in the middle of it").unwrap_err();
        assert!(!err.to_string().contains("middle"), "never echo the secret");
    }
}
