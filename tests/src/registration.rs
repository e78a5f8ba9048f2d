//! Registering through a role as an admin following the API does: ask the broker for an
//! ExternalId, put the trust policy it returns on the role (with the target account's own IAM),
//! then register with that ExternalId.

use local_runner::local_aws::TargetAccount;
use serde_json::Value;

use crate::TestEnv;

/// Issues an ExternalId and makes the target's broker role trust exactly the policy the
/// broker returned. Returns the ExternalId.
pub async fn trust_issued_external_id(env: &TestEnv, target: &TargetAccount) -> String {
    let issued = issue_external_id(env).await;
    trust_external_id(env, target, &issued).await;
    issued["external_id"].as_str().expect("an ExternalId").to_string()
}

/// `POST /accounts/external-ids` as an admin: the ExternalId with its trust policy.
pub async fn issue_external_id(env: &TestEnv) -> Value {
    env.client()
        .post("/accounts/external-ids", &env.admin(), Value::Null)
        .await
        .ok(201)
}

/// Puts the trust policy `issued` came with on the target's broker role, as the admin of that
/// account would (one issued ExternalId may be put on several roles; it registers one).
pub async fn trust_external_id(env: &TestEnv, target: &TargetAccount, issued: &Value) {
    let role_name = target.broker_access_role_arn.rsplit('/').next().expect("a role ARN");
    env.target_iam(target)
        .await
        .update_assume_role_policy()
        .role_name(role_name)
        .policy_document(issued["trust_policy"].to_string())
        .send()
        .await
        .expect("the role takes the trust policy the broker returned");
}

/// A registration body through the target's broker role with `external_id`.
pub fn role_registration(name: &str, target: &TargetAccount, external_id: &str) -> Value {
    serde_json::json!({
        "name": name,
        "default_region": "us-west-2",
        "credentials": {
            "type": "assume_role",
            "role_arn": target.broker_access_role_arn,
            "external_id": external_id,
        }
    })
}
