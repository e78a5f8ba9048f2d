//! Reading a brokered role's trust policy: is the broker's trust there, and what else gets in.
//!
//! Revocation covers sessions the broker made (or a console session switched into). A role
//! whose trust policy also lets in the account root without conditions (so any principal of
//! the account that an identity policy allows), other roles (chaining), other users, services,
//! identity providers or anyone, can be entered in ways no revocation reaches. The broker's
//! own statements (`iam_policies::role_trust_statements`) are recognised; the per-user
//! statements an earlier version asked for are reported with the change to make, as is a role
//! that lacks the broker's trust. This reports; it does not change the role.

use serde_json::Value;

use super::RoleArn;
use super::iam_policies::role_trust_statements;

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

/// A statement as IAM reads it: no Sid, the account as its root ARN, actions as a set
/// (lower case), single values as they are.
fn normalized(statement: &Value) -> Value {
    let mut s = statement.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("Sid");
        if let Some(aws) = o.get_mut("Principal").and_then(|p| p.get_mut("AWS"))
            && let Some(id) = aws
                .as_str()
                .filter(|p| p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()))
        {
            *aws = Value::String(format!("arn:aws:iam::{id}:root"));
        }
        if let Some(action) = o.get_mut("Action") {
            let mut set: Vec<String> = as_list(action).iter().map(|a| a.to_ascii_lowercase()).collect();
            set.sort();
            set.dedup();
            *action = serde_json::json!(set);
        }
    }
    s
}

/// The change an admin makes once per role (also what `GET /accounts/{id}/jit` shows as
/// `role_trust_policy`).
const APPLY_THE_ROLE_TRUST: &str = "replace the per-user statements with the broker's role trust (role_trust_policy in GET /accounts/{id}/jit), the same for every user";

/// Whether the trust document `policy` of `role` holds the broker's JIT trust statement.
pub fn has_brokers_trust(policy: &str, role: &RoleArn) -> bool {
    !findings(policy, role, &[])
        .iter()
        .any(|f| f.principal == MISSING_TRUST || f.principal == "?")
}

/// The finding's principal when the broker's own trust is missing.
const MISSING_TRUST: &str = "cloud-iam-broker";

/// What the trust document `policy` of `role` lets in beyond the broker's trust, and whether
/// that trust is there. `provisioned`: the ARNs of the broker's provisioned users in the role's
/// account, whose per-user statements an earlier version asked for. An unreadable document is
/// itself a finding.
pub fn findings(policy: &str, role: &RoleArn, provisioned: &[String]) -> Vec<TrustFinding> {
    let brokers: Vec<Value> = role_trust_statements(role.partition(), role.account().as_str())
        .iter()
        .map(normalized)
        .collect();
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
    let mut has_brokers_jit = false;
    for s in statements {
        if s["Effect"] != "Allow" || !allows_assume(&s) {
            continue;
        }
        if let Some(at) = brokers.iter().position(|b| *b == normalized(&s)) {
            has_brokers_jit |= at == 0;
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
                out.push(finding(
                    &p,
                    &if conditional {
                        format!(
                            "a provisioned user's own statement, as an earlier version asked for: it stops matching when the user is re-provisioned (IAM keeps a deleted user's id) and a role fits only a few; {APPLY_THE_ROLE_TRUST}"
                        )
                    } else {
                        format!(
                            "a provisioned user without the broker's conditions: it could open sessions the broker cannot revoke; {APPLY_THE_ROLE_TRUST}"
                        )
                    },
                ));
            } else if p.starts_with("AIDA") || p.starts_with("AROA") {
                out.push(finding(
                    &p,
                    "the unique id of a deleted user or role (IAM rewrites a deleted principal's ARN to its id): it matches no one and takes room; remove it",
                ));
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
    if !has_brokers_jit {
        out.push(finding(
            MISSING_TRUST,
            "the broker's trust is missing: no session can be started on this role until the role trust policy (role_trust_policy in GET /accounts/{id}/jit) is applied",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::iam_policies::role_trust_policy;

    fn role() -> RoleArn {
        RoleArn::parse("arn:aws:iam::123456789012:role/OnCall").unwrap()
    }

    fn with_brokers(mut extra: Vec<Value>) -> String {
        let mut doc = role_trust_policy(&role());
        let statements = doc["Statement"].as_array_mut().unwrap();
        statements.append(&mut extra);
        doc.to_string()
    }

    #[test]
    fn reports_what_bypasses_the_broker() {
        let user = "arn:aws:iam::123456789012:user/alice".to_string();
        let policy = with_brokers(vec![
            serde_json::json!({ "Effect": "Allow", "Principal": { "AWS": &user }, "Action": "sts:AssumeRole",
              "Condition": { "StringLike": { "sts:RoleSessionName": "cib-*" } } }),
            serde_json::json!({ "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:root" }, "Action": "sts:AssumeRole" }),
            serde_json::json!({ "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:root" }, "Action": "sts:AssumeRole",
              "Condition": { "Bool": { "aws:MultiFactorAuthPresent": "true" } } }),
            serde_json::json!({ "Effect": "Allow", "Principal": { "AWS": ["arn:aws:iam::123456789012:role/Hub"] }, "Action": "sts:AssumeRole" }),
            serde_json::json!({ "Effect": "Allow", "Principal": { "Service": "ec2.amazonaws.com" }, "Action": "sts:AssumeRole" }),
            serde_json::json!({ "Effect": "Deny", "Principal": { "AWS": "*" }, "Action": "sts:AssumeRole" }),
            serde_json::json!({ "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:root" }, "Action": "sts:TagSession" }),
            serde_json::json!({ "Effect": "Allow", "Principal": { "AWS": "AIDAEXAMPLEDELETED01" }, "Action": "sts:AssumeRole" }),
        ]);
        let f = findings(&policy, &role(), std::slice::from_ref(&user));
        let principals: Vec<&str> = f.iter().map(|x| x.principal.as_str()).collect();
        assert_eq!(
            principals,
            [
                user.as_str(),
                "arn:aws:iam::123456789012:root",
                "arn:aws:iam::123456789012:root",
                "arn:aws:iam::123456789012:role/Hub",
                "ec2.amazonaws.com",
                "AIDAEXAMPLEDELETED01",
            ]
        );
        assert!(f[0].why.contains("earlier version") && f[0].why.contains("role_trust_policy"));
        assert!(f[1].why.contains("without conditions") && f[2].why.contains("with conditions"));
        assert!(covers_assume_role("sts:Assume*") && covers_assume_role("STS:AssumeRol?"));
        assert!(!covers_assume_role("sts:TagSession") && !covers_assume_role("sts:AssumeRoleWithSAML"));
    }

    #[test]
    fn the_brokers_trust_is_recognised_as_written_or_as_iam_returns_it() {
        assert_eq!(findings(&with_brokers(Vec::new()), &role(), &[]), Vec::new());
        // IAM may return the account as its id, actions in another order, and no Sids.
        let mut doc = role_trust_policy(&role());
        for s in doc["Statement"].as_array_mut().unwrap() {
            s.as_object_mut().unwrap().remove("Sid");
            s["Principal"]["AWS"] = "123456789012".into();
            if let Some(actions) = s["Action"].as_array_mut() {
                actions.reverse();
            }
        }
        assert_eq!(findings(&doc.to_string(), &role(), &[]), Vec::new());
        // A loosened copy is not the broker's.
        let mut loose = role_trust_policy(&role());
        loose["Statement"][0]["Condition"]["Null"]["aws:TokenIssueTime"] = "false".into();
        let f = findings(&loose.to_string(), &role(), &[]);
        assert_eq!(
            f.iter().map(|x| x.principal.as_str()).collect::<Vec<_>>(),
            ["arn:aws:iam::123456789012:root", "cloud-iam-broker"]
        );
    }

    #[test]
    fn an_unconditional_provisioned_user_a_missing_trust_and_garbage_are_findings() {
        let user = "arn:aws:iam::123456789012:user/alice".to_string();
        let policy =
            format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{user}"}},"Action":"sts:AssumeRole"}}}}"#);
        let f = findings(&policy, &role(), std::slice::from_ref(&user));
        assert_eq!(f.len(), 2);
        assert!(f[0].why.contains("without the broker's conditions"));
        assert_eq!(f[1].principal, "cloud-iam-broker");
        assert_eq!(findings("not json", &role(), &[user])[0].principal, "?");
    }
}
