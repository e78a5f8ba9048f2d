//! The IAM documents the broker writes on provisioned users and asks of JIT roles: one place,
//! so provisioning, sessions and the guidance the API publishes agree.
//!
//! The broker can revoke exactly two kinds of role session, so these documents allow no other:
//! - a JIT session: RoleSessionName `cib-<session id>`, SourceIdentity = the user's e-mail,
//!   made by the broker with the user's own long-term key (the user never holds that key);
//! - a console switch-role session during a console session: RoleSessionName = the IAM user
//!   name (what the AWS console uses), revoked by user name and token issue time.
//!
//! While a console session is live its user holds the console's credentials, which could call
//! AssumeRole themselves (CloudShell, say); so during it any other session name is refused,
//! and the broker starts no JIT session for that user (see `sessions::starting`). After it
//! ends, the console's (exported) temporary credentials assume no role at all.
//!
//! A role's trust is one fixed document per account (`role_trust_policy`), whatever the number
//! of users: which roles a user reaches is decided by the user's own policy, which the broker
//! writes, and by the start's checks.

use serde_json::{Value, json};

use super::{Account, IamUserName, JitSettings, ManagedUser, RoleArn, UserStatus};

/// The user inline policy that keeps a console user's permissions off outside sessions.
pub const SESSION_DENY_POLICY: &str = "CloudIamBrokerSessionDeny";
/// The user inline policy allowing exactly the account's JIT roles.
pub const JIT_POLICY: &str = "CloudIamBrokerJit";
/// Every RoleSessionName the broker uses starts with this.
pub const SESSION_NAME_PREFIX: &str = "cib-";

/// Switch-role is refused unless the session is one of the broker's (`cib-*`).
fn no_switch_role_statement() -> Value {
    json!({
        "Sid": "NoSwitchRoleOutsideJit",
        "Effect": "Deny",
        "Action": "sts:AssumeRole",
        "Resource": "*",
        "Condition": { "StringNotLike": { "sts:RoleSessionName": format!("{SESSION_NAME_PREFIX}*") } },
    })
}

/// Temporary credentials of the user (a console session's, exported from CloudShell) assume
/// no role: the broker's own AssumeRole is signed with the user's long-term key, which carries
/// no `aws:TokenIssueTime` ("present only when the principal uses temporary credentials",
/// AWS global condition context keys). Without this, a console's exported credentials could
/// mint `cib-*` sessions after that console session ended, sessions the broker never recorded.
fn no_role_from_temporary_credentials_statement() -> Value {
    json!({
        "Sid": "NoRoleFromTemporaryCredentials",
        "Effect": "Deny",
        "Action": "sts:AssumeRole",
        "Resource": "*",
        "Condition": { "Null": { "aws:TokenIssueTime": "false" } },
    })
}

/// Outside sessions: nothing but the broker's own JIT AssumeRole with the user's key (and
/// GetCallerIdentity, which IAM cannot deny anyway).
pub fn session_deny_document() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NoAccessOutsideSessions",
                "Effect": "Deny",
                "NotAction": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession", "sts:GetCallerIdentity"],
                "Resource": "*",
            },
            no_switch_role_statement(),
            no_role_from_temporary_credentials_statement(),
        ]
    })
    .to_string()
}

/// During a console session of a user whose groups do not grant JIT on the account: the
/// console works, assuming any role does not.
pub fn console_without_jit_document() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Sid": "NoAssumeRole", "Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*" }]
    })
    .to_string()
}

/// During a console session of a user whose groups grant JIT: switch-role works, named after
/// the user as the console names it (revocable by that name), into the JIT roles it was given
/// only; no other session name does, and no other role (the shell role among them: a
/// switch-role session carries no session policy, so it would reach every target).
pub fn console_with_jit_document(user_name: &IamUserName, switch_roles: &[RoleArn]) -> String {
    let roles: Vec<&str> = switch_roles.iter().map(|r| r.as_str()).collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyConsoleSwitchRole",
                "Effect": "Deny",
                "Action": "sts:AssumeRole",
                "Resource": "*",
                "Condition": { "StringNotEquals": { "sts:RoleSessionName": user_name.as_str() } },
            },
            {
                "Sid": "OnlyTheJitRolesGiven",
                "Effect": "Deny",
                "Action": "sts:AssumeRole",
                "NotResource": roles,
            },
        ]
    })
    .to_string()
}

/// The roles the broker assumes with a provisioned user's key on an active account: the JIT
/// roles when JIT is on, and the shell role when shell sessions are.
pub fn brokered_roles(jit: &JitSettings, shell: Option<&super::shell::ShellSettings>) -> Vec<RoleArn> {
    if !jit.active {
        return Vec::new();
    }
    let mut roles = if jit.jit_enabled {
        jit.allowed_roles.clone()
    } else {
        Vec::new()
    };
    if let Some(shell) = shell.filter(|s| s.enabled)
        && !roles.contains(&shell.role)
    {
        roles.push(shell.role.clone());
    }
    roles
}

/// Allows exactly the brokered roles (`brokered_roles`; none: no policy): `sts:AssumeRole`
/// plus the two actions a brokered AssumeRole uses. Which sessions are possible is narrowed by
/// the session deny and by the roles' trust statements.
pub fn jit_policy_document(roles: &[RoleArn]) -> Option<String> {
    if roles.is_empty() {
        return None;
    }
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Some(
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "CloudIamBrokerJit",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
                "Resource": roles,
            }]
        })
        .to_string(),
    )
}

/// The tag every user the broker provisions carries, and its value (the role trust's
/// `aws:PrincipalTag/cloud-iam-broker:managed-by` condition names it).
pub const MANAGED_BY_TAG: &str = "cloud-iam-broker:managed-by";
pub const MANAGED_BY_VALUE: &str = "cloud-iam-broker";

/// The trust a brokered role (a JIT role or the shell role) needs, the same for every user:
/// applied once, its size does not grow with users, its Sids are unique, and it names no
/// user's ARN (IAM rewrites a deleted user's ARN to an id, so a per-user statement broke on
/// re-provisioning). It trusts the account (`<partition>:iam::<account>:root`), so a user's
/// own identity policy (`JIT_POLICY`, which the broker writes with exactly the roles it may
/// reach) must allow the role too, and only users the broker manages (by tag) qualify:
/// - brokered JIT and shell sessions: named `cib-*`, with a SourceIdentity, and signed with a
///   long-term access key (no `aws:TokenIssueTime`: AWS sets it only for temporary
///   credentials). Only the broker holds a provisioned user's key, so credentials exported
///   from the user's console (CloudShell) cannot make a session the broker never recorded;
/// - console switch-role: a session named after the IAM user itself, as the console names it.
pub fn role_trust_statements(partition: &str, aws_account_id: &str) -> Vec<Value> {
    let account = format!("arn:{partition}:iam::{aws_account_id}:root");
    vec![
        json!({
            "Sid": "CloudIamBrokerJit",
            "Effect": "Allow",
            "Principal": { "AWS": &account },
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
            "Condition": {
                "StringEquals": { "aws:PrincipalTag/cloud-iam-broker:managed-by": MANAGED_BY_VALUE, "aws:PrincipalType": "User" },
                "StringLike": { "sts:RoleSessionName": format!("{SESSION_NAME_PREFIX}*") },
                "Null": { "aws:TokenIssueTime": "true", "sts:SourceIdentity": "false" },
            },
        }),
        json!({
            "Sid": "CloudIamBrokerConsoleSwitch",
            "Effect": "Allow",
            "Principal": { "AWS": &account },
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {
                    "aws:PrincipalTag/cloud-iam-broker:managed-by": MANAGED_BY_VALUE,
                    "aws:PrincipalType": "User",
                    "sts:RoleSessionName": "${aws:username}",
                },
            },
        }),
    ]
}

/// The whole trust policy document for a brokered role of `role`'s account.
pub fn role_trust_policy(role: &RoleArn) -> Value {
    json!({ "Version": "2012-10-17", "Statement": role_trust_statements(role.partition(), role.account().as_str()) })
}

/// A role a provisioned user may assume, with what the role needs to trust the user.
#[derive(Debug, Clone)]
pub struct JitRoleGuide {
    pub role: RoleArn,
    pub trust_policy_statements: Vec<Value>,
    pub switch_role_url: String,
}

/// For each allowed role: the statements its trust policy needs for this user, and the
/// console's switch-role link.
pub fn role_guides(account: &Account, user: &ManagedUser, jit: &JitSettings) -> Vec<JitRoleGuide> {
    if user.status != UserStatus::Provisioned || user.arn.is_none() || user.email.is_none() {
        return Vec::new();
    }
    jit.allowed_roles
        .iter()
        .map(|role| JitRoleGuide {
            role: role.clone(),
            trust_policy_statements: role_trust_statements(role.partition(), role.account().as_str()),
            switch_role_url: format!(
                "https://signin.aws.amazon.com/switchrole?account={}&roleName={}&displayName={}",
                account.aws_account_id,
                crate::encoding::percent_encode(role.path_and_name()),
                crate::encoding::percent_encode(&format!("{}@{}", role.name(), account.name))
            ),
        })
        .collect()
}

/// The session policy every JIT AssumeRole carries: the role's own permissions, minus
/// assuming further roles (a session chained out of a JIT role would land on a role whose
/// policies the broker does not manage, beyond the reach of revocation), and minus opening
/// Session Manager sessions (a shell, a port forward, ECS Exec) outside `region`, the account's
/// default Region: such a data channel no longer asks IAM once open, so the end terminates the
/// session's live ones, and it looks for them there.
pub fn jit_session_policy(region: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "RolePermissions", "Effect": "Allow", "Action": "*", "Resource": "*" },
            // The only credential-minting call a role session can sign itself.
            { "Sid": "NoRoleChaining", "Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*" },
            {
                "Sid": "SessionManagerWhereTheEndLooks",
                "Effect": "Deny",
                "Action": ["ssm:StartSession", "ssm:ResumeSession", "ecs:ExecuteCommand"],
                "Resource": "*",
                "Condition": { "StringNotEquals": { "aws:RequestedRegion": region } },
            },
        ]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_trust_is_the_same_for_every_user_and_names_none() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/ops/OnCall").unwrap();
        let doc = role_trust_policy(&role);
        let statements = doc["Statement"].as_array().unwrap();
        let sids: std::collections::BTreeSet<&str> = statements.iter().map(|s| s["Sid"].as_str().unwrap()).collect();
        assert_eq!(sids.len(), statements.len(), "Sids are unique within the policy");
        for s in statements {
            assert_eq!(s["Principal"]["AWS"], "arn:aws:iam::123456789012:root");
            assert_eq!(
                s["Condition"]["StringEquals"][format!("aws:PrincipalTag/{MANAGED_BY_TAG}")],
                MANAGED_BY_VALUE
            );
        }
        assert_eq!(statements[0]["Condition"]["StringLike"]["sts:RoleSessionName"], "cib-*");
        assert_eq!(
            statements[0]["Condition"]["Null"]["aws:TokenIssueTime"], "true",
            "only a long-term key: the broker's"
        );
        assert_eq!(
            statements[1]["Condition"]["StringEquals"]["sts:RoleSessionName"],
            "${aws:username}"
        );
        // Well inside IAM's default trust quota (2,048 characters, white space not counted).
        let size = doc.to_string().chars().filter(|c| !c.is_whitespace()).count();
        assert!(size < 1_000, "{size}");
    }

    #[test]
    fn the_session_deny_keeps_only_the_brokers_assume_role() {
        let doc: Value = serde_json::from_str(&session_deny_document()).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 3);
        assert!(
            statements[0]["NotAction"]
                .as_array()
                .unwrap()
                .contains(&json!("sts:AssumeRole"))
        );
        assert_eq!(statements[1], no_switch_role_statement());
        assert_eq!(statements[2]["Condition"]["Null"]["aws:TokenIssueTime"], "false");
    }
}
