//! Per-account just-in-time access settings.

use super::{AwsAccountId, Collector, Invalid, RoleArn};

/// Bounds from the product: JIT sessions last at least 900 s, and STS caps a role session at 12 h.
pub const MIN_SESSION_SECONDS: u32 = 900;
pub const MAX_SESSION_SECONDS: u32 = 43_200;
/// Keeps the per-user inline policy (which lists these roles) far below IAM's 2 KiB limit.
pub const MAX_ALLOWED_ROLES: usize = 20;

/// A session length bound in seconds, within `MIN_SESSION_SECONDS..=MAX_SESSION_SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxDuration(u32);

impl MaxDuration {
    pub fn parse(seconds: i64) -> Result<Self, Invalid> {
        if (MIN_SESSION_SECONDS as i64..=MAX_SESSION_SECONDS as i64).contains(&seconds) {
            Ok(MaxDuration(seconds as u32))
        } else {
            Err(Invalid::field(
                "max_duration_seconds",
                format!("must be between {MIN_SESSION_SECONDS} and {MAX_SESSION_SECONDS} seconds"),
            ))
        }
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

/// The JIT settings of one account. New accounts start inactive and disabled.
#[derive(Debug, Clone, PartialEq)]
pub struct JitSettings {
    pub active: bool,
    pub description: String,
    pub jit_enabled: bool,
    pub max_duration: MaxDuration,
    pub allowed_roles: Vec<RoleArn>,
    /// Each allowed role's trust policy, reviewed when the settings were saved.
    pub trust_review: Vec<super::trust::RoleTrustReview>,
}

impl Default for JitSettings {
    fn default() -> Self {
        JitSettings {
            active: false,
            description: String::new(),
            jit_enabled: false,
            max_duration: MaxDuration(3600),
            allowed_roles: Vec::new(),
            trust_review: Vec::new(),
        }
    }
}

impl JitSettings {
    /// `role`'s maximum session duration as last read (see `RoleTrustReview`).
    pub fn role_max_seconds(&self, role: &RoleArn) -> Option<u32> {
        self.trust_review
            .iter()
            .find(|r| r.role_arn == role.as_str())
            .and_then(|r| r.max_session_seconds)
    }

    /// The positions of the first two allowed roles that are one IAM role (`RoleArn::identity`:
    /// names are unique regardless of case, and the path is not part of them), however spelled.
    /// Settings listing a role twice are refused: the broker's records of a role (its
    /// revocations, its deny pages) must not be split between spellings.
    pub fn role_listed_twice(&self) -> Option<(usize, usize)> {
        let identities: Vec<String> = self.allowed_roles.iter().map(RoleArn::identity).collect();
        identities.iter().enumerate().find_map(|(later, id)| {
            identities[..later]
                .iter()
                .position(|e| e == id)
                .map(|first| (first, later))
        })
    }

    /// Validates raw settings for the account `owner`: roles must be IAM role ARNs in that
    /// account (a role listed twice is `role_listed_twice`'s to find).
    pub fn parse(
        owner: &AwsAccountId,
        active: bool,
        description: Option<&str>,
        jit_enabled: bool,
        max_duration_seconds: i64,
        allowed_role_arns: &[String],
    ) -> Result<Self, Invalid> {
        let mut c = Collector::default();
        let description = description.unwrap_or("").trim().to_string();
        if description.chars().count() > 256 || description.chars().any(char::is_control) {
            c.push(
                "description",
                "must be at most 256 characters, without control characters",
            );
        }
        let max_duration = c.take(MaxDuration::parse(max_duration_seconds));
        if allowed_role_arns.len() > MAX_ALLOWED_ROLES {
            c.push("allowed_role_arns", format!("at most {MAX_ALLOWED_ROLES} roles"));
        }
        let mut roles: Vec<RoleArn> = Vec::new();
        for (i, raw) in allowed_role_arns.iter().enumerate() {
            let field = format!("allowed_role_arns[{i}]");
            let Some(role) = c.take(RoleArn::parse(raw).map_err(|e| e.under(&field))) else {
                continue;
            };
            if role.account() != owner {
                c.push(
                    &field,
                    format!("role is in account {}, not this account ({owner})", role.account()),
                );
            } else {
                roles.push(role);
            }
        }
        c.finish()?;
        Ok(JitSettings {
            active,
            description,
            jit_enabled,
            max_duration: max_duration.expect("collector checked"),
            allowed_roles: roles,
            trust_review: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> AwsAccountId {
        AwsAccountId::parse("123456789012").unwrap()
    }

    #[test]
    fn durations() {
        assert!(MaxDuration::parse(899).is_err());
        assert!(MaxDuration::parse(900).is_ok());
        assert!(MaxDuration::parse(43_200).is_ok());
        assert!(MaxDuration::parse(43_201).is_err());
    }

    #[test]
    fn roles_must_belong_to_the_account() {
        let ok = "arn:aws:iam::123456789012:role/Admin".to_string();
        let other = "arn:aws:iam::210987654321:role/Admin".to_string();
        assert!(JitSettings::parse(&owner(), true, None, true, 3600, std::slice::from_ref(&ok)).is_ok());
        let err = JitSettings::parse(&owner(), true, None, true, 100, &[ok, other, "x".into()]).unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["max_duration_seconds", "allowed_role_arns[1]", "allowed_role_arns[2]"]
        );
    }

    #[test]
    fn a_role_listed_twice_is_found_however_spelled() {
        let roles = |arns: &[&str]| {
            let arns: Vec<String> = arns
                .iter()
                .map(|a| format!("arn:aws:iam::123456789012:role/{a}"))
                .collect();
            JitSettings::parse(&owner(), true, None, true, 3600, &arns).unwrap()
        };
        assert_eq!(roles(&["Admin", "ReadOnly", "team/Other"]).role_listed_twice(), None);
        assert_eq!(roles(&["Admin", "ReadOnly", "Admin"]).role_listed_twice(), Some((0, 2)));
        // Case and path differ, the role is the same (IAM role names are case-insensitively
        // unique, the path is not part of the name).
        assert_eq!(
            roles(&["Ops", "ReadOnly", "team/ops"]).role_listed_twice(),
            Some((0, 2))
        );
        assert_eq!(roles(&["A", "ops", "B", "OPS"]).role_listed_twice(), Some((1, 3)));
    }
}
