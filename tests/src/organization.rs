//! The seeded AWS Organization (`local_runner::organization`) as its admins use it through the
//! API: an ExternalId issued and its trust applied as the customer does (the organization role
//! and, through the StackSet's parameter, every member's `CloudIamBrokerAccess`), member
//! accounts enabled and readied for JIT sessions, and the sync run now.

use local_runner::organization as seeded;
use serde_json::{Value, json};

use crate::TestEnv;

/// `POST /accounts/external-ids`, then its `trust_policy` put on the organization role and on
/// every member's `CloudIamBrokerAccess`. Returns the issued answer (`external_id`,
/// `trust_policy`).
pub async fn issue_and_trust(env: &TestEnv) -> Value {
    let issued = crate::registration::issue_external_id(env).await;
    assert!(
        issued["trust_policy"].is_object(),
        "the trust to apply is returned: {issued}"
    );
    seeded::trust_external_id(
        &env.aws_endpoint,
        &env.organization,
        &issued["trust_policy"].to_string(),
    )
    .await
    .expect("the issued trust is applied across the organization");
    issued
}

/// The issued `trust_policy` with a second statement letting in `external_id` too: a role that
/// trusts a registered organization's ExternalId and a newly issued one.
pub fn trust_both(issued_trust: &Value, external_id: &str) -> Value {
    let mut doc = issued_trust.clone();
    let mut second = doc["Statement"][0].clone();
    second["Condition"]["StringEquals"]["sts:ExternalId"] = json!(external_id);
    doc["Statement"]
        .as_array_mut()
        .expect("a trust policy has statements")
        .push(second);
    doc
}

/// IAM in the member account `aws_account_id`, as its administrator (OrganizationAccountAccessRole).
pub async fn member_iam(env: &TestEnv, aws_account_id: &str) -> aws_sdk_iam::Client {
    seeded::member_iam(&env.aws_endpoint, &env.organization, aws_account_id)
        .await
        .expect("the management admin reaches the member account")
}

/// `POST /organizations/{id}/sync` as an admin: the sync report.
pub async fn sync_now(env: &TestEnv, organization_id: &str) -> Value {
    env.client()
        .send(
            "POST",
            &format!("/organizations/{organization_id}/sync"),
            Some(&env.admin()),
            None,
        )
        .await
        .ok(200)
}

/// `GET /organizations/{id}` as an admin.
pub async fn organization(env: &TestEnv, organization_id: &str) -> Value {
    env.client()
        .get(&format!("/organizations/{organization_id}"), &env.admin())
        .await
        .ok(200)
}

/// The entry of `aws_account_id` in an organization's `accounts`.
pub fn listed_account<'a>(organization: &'a Value, aws_account_id: &str) -> Option<&'a Value> {
    organization["accounts"]
        .as_array()?
        .iter()
        .find(|a| a["aws_account_id"] == aws_account_id)
}

/// The strings of a JSON array (empty if it is not one).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// An enabled member account ready for JIT sessions: its broker id, AWS account id and the JIT
/// role (which carries the broker's role trust), with `email` provisioned there.
pub struct Member {
    pub account: String,
    pub aws_account: String,
    pub role: String,
    /// `POST …/enable`'s answer (AccountOut).
    pub enabled: Value,
}

impl Member {
    /// A `POST /sessions` body for a JIT session on the member's role.
    pub fn jit(&self, seconds: i64) -> Value {
        json!({ "account_id": self.account, "type": "jit", "role_arn": self.role, "duration_seconds": seconds, "reason": "incident INC-29" })
    }
}

/// Enables the member `aws_account_id` of the organization (`POST …/enable` → 201, Location
/// `/accounts/<id>`), then readies it for JIT sessions of `email` (see `ready_for_jit`).
pub async fn enable_for_jit(
    env: &TestEnv,
    organization_id: &str,
    aws_account_id: &str,
    tag: &str,
    email: &str,
) -> Member {
    let reply = env
        .client()
        .send(
            "POST",
            &format!("/organizations/{organization_id}/accounts/{aws_account_id}/enable"),
            Some(&env.admin()),
            None,
        )
        .await;
    let enabled = reply.ok(201);
    let account = enabled["id"].as_str().expect("a broker account id").to_string();
    assert_eq!(
        reply.header("location").as_deref(),
        Some(format!("/accounts/{account}").as_str())
    );
    assert_eq!(enabled["aws_account_id"], aws_account_id);
    let mut member = ready_for_jit(env, &account, aws_account_id, tag, email).await;
    member.enabled = enabled;
    member
}

/// JIT settings naming a role `OnCall-<tag>` of the member, the role made there (by the
/// member's administrator) with the `role_trust_policy` the settings answer with and saved
/// again so its trust is reviewed, and `email` provisioned with a credential.
pub async fn ready_for_jit(env: &TestEnv, account: &str, aws_account_id: &str, tag: &str, email: &str) -> Member {
    let api = env.client();
    let admin = env.admin();
    let role_name = format!("OnCall-{tag}");
    let role = format!("arn:aws:iam::{aws_account_id}:role/{role_name}");
    let settings =
        json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [role] });
    let jit = api
        .put(&format!("/accounts/{account}/jit"), &admin, settings.clone())
        .await
        .ok(200);
    let trust = &jit["role_trust_policy"];
    assert!(trust.is_object(), "the trust to apply is shown: {jit}");
    crate::jit_role(&member_iam(env, aws_account_id).await, &role_name, &trust.to_string()).await;
    api.put(&format!("/accounts/{account}/jit"), &admin, settings)
        .await
        .ok(200);
    api.post(
        &format!("/accounts/{account}/users"),
        &admin,
        json!({ "email": email, "console_access": false, "credential": true }),
    )
    .await
    .ok(201);
    Member {
        account: account.to_string(),
        aws_account: aws_account_id.to_string(),
        role,
        enabled: Value::Null,
    }
}
