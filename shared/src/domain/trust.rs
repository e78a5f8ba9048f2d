//! Reading a JIT role's trust policy for ways in that bypass the broker.
//!
//! Revocation covers sessions the broker made (or a console session switched into). A role
//! whose trust policy also lets in the account root without conditions (so any principal of
//! the account that an identity policy allows), other roles (chaining), other users, services,
//! identity providers or anyone, can be entered in ways no revocation reaches. This reports
//! them; it does not change the role.

use serde_json::Value;

/// One principal a role's trust policy lets in beyond the broker's provisioned users.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrustFinding {
    pub principal: String,
    pub why: String,
}

/// What one allowed role's trust policy lets in beyond the broker, as of the last time the
/// JIT settings were saved. `error` says why a role could not be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoleTrustReview {
    pub role_arn: String,
    pub findings: Vec<TrustFinding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The role's maximum session duration as read then: starts check durations against it
    /// without reading the role, and read it again when STS refuses a duration.
    #[serde(
        default,
        rename = "max_session_duration_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_session_seconds: Option<u32>,
}

fn as_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// Whether an action pattern (with IAM's `*` and `?`) covers `sts:AssumeRole`.
fn covers_assume_role(pattern: &str) -> bool {
    fn matches(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => matches(&p[1..], s) || (!s.is_empty() && matches(p, &s[1..])),
            (Some(b'?'), Some(_)) => matches(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &s[1..]),
            _ => false,
        }
    }
    matches(pattern.to_ascii_lowercase().as_bytes(), b"sts:assumerole")
}

fn allows_assume(statement: &Value) -> bool {
    as_list(&statement["Action"]).iter().any(|a| covers_assume_role(a)) || statement.get("NotAction").is_some()
}

/// What the trust document `policy` lets in beyond `provisioned` (the ARNs of the broker's
/// provisioned users in the role's account). An unreadable document is itself a finding.
pub fn findings(policy: &str, provisioned: &[String]) -> Vec<TrustFinding> {
    let finding = |principal: &str, why: &str| TrustFinding {
        principal: principal.to_string(),
        why: why.to_string(),
    };
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return vec![finding("?", "the trust policy could not be read as JSON")];
    };
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for s in statements {
        if s["Effect"] != "Allow" || !allows_assume(&s) {
            continue;
        }
        let conditional = s
            .get("Condition")
            .is_some_and(|c| c.as_object().is_some_and(|o| !o.is_empty()));
        if s.get("NotPrincipal").is_some() {
            out.push(finding("NotPrincipal", "allows every principal but those listed"));
            continue;
        }
        let principal = &s["Principal"];
        if principal == "*" {
            out.push(finding("*", "anyone (only its conditions restrict it)"));
            continue;
        }
        for p in as_list(&principal["AWS"]) {
            if p == "*" {
                out.push(finding("*", "any AWS principal (only its conditions restrict it)"));
            } else if p.len() == 12 && p.chars().all(|c| c.is_ascii_digit()) || p.ends_with(":root") {
                out.push(finding(
                    &p,
                    if conditional {
                        "the account root, with conditions: any principal of that account that meets them and whose own policies allow sts:AssumeRole"
                    } else {
                        "the account root without conditions: any principal of that account whose own policies allow sts:AssumeRole"
                    },
                ));
            } else if p.contains(":role/") || p.contains(":assumed-role/") {
                out.push(finding(&p, "another role: its sessions can chain into this one"));
            } else if provisioned.contains(&p) {
                if !conditional {
                    out.push(finding(
                        &p,
                        "a provisioned user without the broker's conditions: it could open sessions the broker cannot revoke",
                    ));
                }
            } else if p.contains(":user/") {
                out.push(finding(&p, "an IAM user the broker does not manage"));
            } else {
                out.push(finding(&p, "a principal the broker does not manage"));
            }
        }
        for p in as_list(&principal["Service"]) {
            out.push(finding(&p, "an AWS service (for example an instance profile)"));
        }
        for p in as_list(&principal["Federated"]) {
            out.push(finding(&p, "a federated identity provider"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_what_bypasses_the_broker() {
        let user = "arn:aws:iam::123456789012:user/alice".to_string();
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                { "Effect": "Allow", "Principal": { "AWS": &user }, "Action": "sts:AssumeRole",
                  "Condition": { "StringLike": { "sts:RoleSessionName": "cib-*" } } },
                { "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:root" }, "Action": "sts:AssumeRole" },
                { "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:root" }, "Action": "sts:AssumeRole",
                  "Condition": { "Bool": { "aws:MultiFactorAuthPresent": "true" } } },
                { "Effect": "Allow", "Principal": { "AWS": ["arn:aws:iam::123456789012:role/Hub"] }, "Action": "sts:AssumeRole" },
                { "Effect": "Allow", "Principal": { "Service": "ec2.amazonaws.com" }, "Action": "sts:AssumeRole" },
                { "Effect": "Deny", "Principal": { "AWS": "*" }, "Action": "sts:AssumeRole" },
                { "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:root" }, "Action": "sts:TagSession" },
            ]
        })
        .to_string();
        let f = findings(&policy, &[user]);
        let principals: Vec<&str> = f.iter().map(|x| x.principal.as_str()).collect();
        assert_eq!(
            principals,
            [
                "arn:aws:iam::123456789012:root",
                "arn:aws:iam::123456789012:root",
                "arn:aws:iam::123456789012:role/Hub",
                "ec2.amazonaws.com"
            ]
        );
        assert!(f[0].why.contains("without conditions") && f[1].why.contains("with conditions"));
        assert!(covers_assume_role("sts:Assume*") && covers_assume_role("STS:AssumeRol?"));
        assert!(!covers_assume_role("sts:TagSession") && !covers_assume_role("sts:AssumeRoleWithSAML"));
    }

    #[test]
    fn an_unconditional_provisioned_user_and_garbage_are_findings() {
        let user = "arn:aws:iam::123456789012:user/alice".to_string();
        let policy =
            format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{user}"}},"Action":"sts:AssumeRole"}}}}"#);
        assert_eq!(findings(&policy, std::slice::from_ref(&user)).len(), 1);
        assert_eq!(findings("not json", &[user])[0].principal, "?");
    }
}
