//! Shell sessions through AWS Systems Manager Session Manager: the targets, an account's shell
//! settings, the Session Manager preferences document the broker keeps for them, SSM Agent
//! versions, and the session policy that scopes a shell session's credentials to one target.
//!
//! A shell session is a role session like a JIT one (`cib-<session id>`, revoked the same
//! way); what differs is its session policy (`ssm:StartSession` on one target, and only its own
//! Session Manager sessions to terminate) and that its end also terminates the Session
//! Manager sessions it opened, which outlive the credentials.

mod policy;
mod settings;

pub use policy::shell_session_policy;
pub use settings::{Drift, Recording, ShellSettings, ShellSettingsInput, drift};

use std::collections::BTreeMap;

/// Why a role cannot be both the shell role and a JIT role of an account: a JIT session (or a
/// console's switch-role) carries no shell session policy, so it would reach every instance
/// with any document.
pub fn shell_role_conflict(role: &super::RoleArn) -> String {
    format!(
        "{role} cannot be both the shell role and a JIT role of this account: a JIT session or console switch-role into it would reach every instance with any document; give shell sessions a role of their own"
    )
}
use std::fmt;

use super::{AwsAccountId, Invalid, Region};

/// The Session document holding an account's Session Manager preferences (per region). AWS
/// uses it for every session started without another document.
pub const PREFERENCES_DOCUMENT: &str = "SSM-SessionManagerRunShell";
/// The principal tag Session Manager reads for the OS user a session runs as.
pub const RUN_AS_TAG: &str = "SSMSessionRunAs";
/// The oldest SSM Agent that logs session data to S3 (the seed's prerequisite).
pub const MIN_AGENT: AgentVersion = AgentVersion([2, 3, 68, 0]);
/// The oldest SSM Agent that streams session data to CloudWatch Logs.
pub const MIN_AGENT_STREAMING: AgentVersion = AgentVersion([3, 0, 284, 0]);
/// Session Manager's idle timeout bounds, in minutes.
pub const IDLE_TIMEOUT_MINUTES: std::ops::RangeInclusive<u32> = 1..=60;
/// Tags and explicit ids a selector may hold.
pub(super) const MAX_SELECTOR_ENTRIES: usize = 50;
/// Platform users with their own OS user.
pub(super) const MAX_RUN_AS_USERS: usize = 200;

/// A node a shell session reaches: an EC2 instance (`i-` and 8 or 17 hex digits) or a
/// managed node registered through a hybrid activation (`mi-` and 17 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShellTarget(String);

impl ShellTarget {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let hex = |t: &str| t.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        let ok = match s.split_once('-') {
            Some(("i", rest)) => (rest.len() == 8 || rest.len() == 17) && hex(rest),
            Some(("mi", rest)) => rest.len() == 17 && hex(rest),
            _ => false,
        };
        if ok {
            Ok(ShellTarget(s.to_string()))
        } else {
            Err(Invalid::field(
                "target",
                "must be an EC2 instance id (i- and 8 or 17 hex digits) or a managed node id (mi- and 17 hex digits)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An on-premises (hybrid) managed node rather than an EC2 instance.
    pub fn is_managed_node(&self) -> bool {
        self.0.starts_with("mi-")
    }

    /// The ARN IAM checks `ssm:StartSession` against.
    pub fn arn(&self, partition: &str, region: &Region, account: &AwsAccountId) -> String {
        if self.is_managed_node() {
            format!("arn:{partition}:ssm:{region}:{account}:managed-instance/{}", self.0)
        } else {
            format!("arn:{partition}:ec2:{region}:{account}:instance/{}", self.0)
        }
    }
}

impl fmt::Display for ShellTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An operating-system user a session runs as: 1 to 32 of `A-Z a-z 0-9 . _ -`, not starting
/// with `-` (what Linux and Windows both accept, and what Session Manager's run-as passes on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsUser(String);

impl OsUser {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = (1..=32).contains(&s.len())
            && !s.starts_with('-')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if ok {
            Ok(OsUser(s.to_string()))
        } else {
            Err(Invalid::field(
                "",
                "must be an OS user name: 1 to 32 letters, digits, '.', '_' or '-', not starting with '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An SSM Agent version: up to four dot-separated numbers, compared numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AgentVersion([u32; 4]);

impl AgentVersion {
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = [0u32; 4];
        for (n, piece) in s.trim().split('.').enumerate() {
            *parts.get_mut(n)? = piece.parse().ok()?;
        }
        Some(AgentVersion(parts))
    }
}

impl fmt::Display for AgentVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

/// Which targets shell sessions may reach: those listed by id, and those carrying every one
/// of `tags`. At least one of the two is given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetSelector {
    pub tags: BTreeMap<String, String>,
    pub ids: Vec<ShellTarget>,
}

impl TargetSelector {
    pub fn allows(&self, target: &ShellTarget, tags: &BTreeMap<String, String>) -> bool {
        self.ids.contains(target) || (!self.tags.is_empty() && self.tags.iter().all(|(k, v)| tags.get(k) == Some(v)))
    }
}

/// A Session Manager session a shell session opened, and where its transcript lands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SsmSession {
    pub id: String,
    pub target: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<time::OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<time::OffsetDateTime>,
    /// `s3://<bucket>/<key>`, as the preferences at the session's end said.
    pub transcript: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> AwsAccountId {
        AwsAccountId::parse("123456789012").unwrap()
    }

    #[test]
    fn targets() {
        for ok in ["i-0123abcd", "i-0123456789abcdef0", "mi-0123456789abcdef0"] {
            assert!(ShellTarget::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "i-0123",
            "i-0123456789ABCDEF0",
            "mi-0123abcd",
            "x-0123abcd",
            "i-0123abcd ",
            "",
        ] {
            assert!(ShellTarget::parse(bad).is_err(), "{bad}");
        }
        let region = Region::parse("eu-west-1").unwrap();
        assert_eq!(
            ShellTarget::parse("mi-0123456789abcdef0")
                .unwrap()
                .arn("aws", &region, &owner()),
            "arn:aws:ssm:eu-west-1:123456789012:managed-instance/mi-0123456789abcdef0"
        );
    }

    #[test]
    fn agent_versions_compare_numerically() {
        let v = |s| AgentVersion::parse(s).unwrap();
        assert!(v("2.3.68.0") >= MIN_AGENT);
        assert!(v("2.3.9.0") < MIN_AGENT, "9 < 68, not '9' > '6'");
        assert!(v("3.0.284.0") >= MIN_AGENT_STREAMING);
        assert!(v("3.0.1390.0") >= MIN_AGENT_STREAMING);
        assert!(v("2.3.1319.0") < MIN_AGENT_STREAMING);
        assert!(AgentVersion::parse("3.x").is_none());
        assert!(AgentVersion::parse("1.2.3.4.5").is_none());
    }
}
