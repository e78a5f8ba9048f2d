//! The IAM documents the broker writes on provisioned users and asks of JIT roles: one place,
//! so provisioning, sessions and the guidance the API publishes agree.
//!
//! The broker can revoke exactly two kinds of role session, so these documents allow no other:
//! - a JIT session: RoleSessionName `cib-<session id>`, SourceIdentity = the user's e-mail,
//!   made by the broker with the user's own key (the user never holds that key);
//! - a console switch-role session during a console session: RoleSessionName = the IAM user
//!   name (what the AWS console uses), revoked by user name and token issue time.
//!
//! While a console session is live its user holds the console's credentials, which could call
//! AssumeRole themselves (CloudShell, say); so during it any other session name is refused,
//! and the broker starts no JIT session for that user (see `sessions::starting`).

use serde_json::{Value, json};

use super::{Account, Email, IamUserName, JitSettings, ManagedUser, RoleArn, UserStatus};

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

/// The statements a JIT role's trust policy needs for one provisioned user: brokered JIT
/// sessions (named `cib-*`, carrying the user's e-mail as SourceIdentity) and, for console
/// users, console switch-role sessions (named after the IAM user). Nothing else is trusted,
/// so every session on the role is one the broker can revoke.
pub fn trust_statements(user_arn: &str, email: &Email, user_name: &IamUserName, console: bool) -> Vec<Value> {
    let mut statements = vec![json!({
        "Sid": "CloudIamBrokerJit",
        "Effect": "Allow",
        "Principal": { "AWS": user_arn },
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
        "Condition": {
            "StringEquals": { "sts:SourceIdentity": email.as_str() },
            "StringLike": { "sts:RoleSessionName": format!("{SESSION_NAME_PREFIX}*") },
        },
    })];
    if console {
        statements.push(json!({
            "Sid": "CloudIamBrokerConsoleSwitch",
            "Effect": "Allow",
            "Principal": { "AWS": user_arn },
            "Action": "sts:AssumeRole",
            "Condition": { "StringEquals": { "sts:RoleSessionName": user_name.as_str() } },
        }));
    }
    statements
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
    let (Some(arn), Some(email)) = (
        user.arn.as_deref().filter(|_| user.status == UserStatus::Provisioned),
        user.email.as_ref(),
    ) else {
        return Vec::new();
    };
    jit.allowed_roles
        .iter()
        .map(|role| JitRoleGuide {
            role: role.clone(),
            trust_policy_statements: trust_statements(arn, email, &user.user_name, user.console_access),
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
/// assuming further roles. A session chained out of a JIT role would land on a role whose
/// policies the broker does not manage, beyond the reach of revocation.
pub fn jit_session_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "RolePermissions", "Effect": "Allow", "Action": "*", "Resource": "*" },
            // The only credential-minting call a role session can sign itself.
            { "Sid": "NoRoleChaining", "Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*" },
        ]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_trust_is_only_for_console_users_and_names_the_user() {
        let email = Email::parse("a@example.com").unwrap();
        let name = IamUserName::parse("a.example").unwrap();
        let arn = "arn:aws:iam::123456789012:user/a.example";
        let jit_only = trust_statements(arn, &email, &name, false);
        assert_eq!(jit_only.len(), 1);
        assert_eq!(
            jit_only[0]["Condition"]["StringEquals"]["sts:SourceIdentity"],
            "a@example.com"
        );
        assert_eq!(jit_only[0]["Condition"]["StringLike"]["sts:RoleSessionName"], "cib-*");
        let both = trust_statements(arn, &email, &name, true);
        assert_eq!(both[1]["Condition"]["StringEquals"]["sts:RoleSessionName"], "a.example");
        assert_eq!(
            both[1]["Action"], "sts:AssumeRole",
            "no SourceIdentity or tags from the console"
        );
    }

    #[test]
    fn the_session_deny_keeps_only_the_brokers_assume_role() {
        let doc: Value = serde_json::from_str(&session_deny_document()).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2);
        assert!(
            statements[0]["NotAction"]
                .as_array()
                .unwrap()
                .contains(&json!("sts:AssumeRole"))
        );
        assert_eq!(statements[1], no_switch_role_statement());
    }
}
