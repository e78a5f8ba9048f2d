//! The seeded organization's IAM Identity Center as its users reach it: signing in to the
//! access portal as the AWS CLI does (the OIDC device code grant, the browser's approval being
//! the local AWS's control endpoint), fetching a permission set's role credentials from the
//! portal (GetRoleCredentials), and the AWS CLI itself with an SSO profile.

use serde_json::{Value, json};

use crate::TestEnv;

/// A signed-in portal session: the access token the AWS CLI keeps in its SSO cache.
pub struct PortalSignIn {
    pub access_token: String,
}

async fn post_json(env: &TestEnv, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", env.aws_endpoint))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Signs `user_name` of the identity store in through the device code grant: RegisterClient,
/// StartDeviceAuthorization, the user's approval in the browser, CreateToken.
pub async fn sign_in(env: &TestEnv, start_url: &str, identity_store_id: &str, user_name: &str) -> PortalSignIn {
    let (status, client) = post_json(
        env,
        "/client/register",
        json!({ "clientName": "cib-e2e", "clientType": "public" }),
    )
    .await;
    assert_eq!(status, 200, "RegisterClient: {client}");
    let (status, device) = post_json(
        env,
        "/device_authorization",
        json!({ "clientId": client["clientId"], "clientSecret": client["clientSecret"], "startUrl": start_url }),
    )
    .await;
    assert_eq!(status, 200, "StartDeviceAuthorization: {device}");
    let (status, approved) = post_json(
        env,
        "/moto-api/cib/sso/device/approve",
        json!({ "UserCode": device["userCode"], "IdentityStoreId": identity_store_id, "UserName": user_name }),
    )
    .await;
    assert_eq!(status, 200, "the browser's approval: {approved}");
    let (status, token) = post_json(
        env,
        "/token",
        json!({
            "clientId": client["clientId"],
            "clientSecret": client["clientSecret"],
            "grantType": "urn:ietf:params:oauth:grant-type:device_code",
            "deviceCode": device["deviceCode"],
        }),
    )
    .await;
    assert_eq!(status, 200, "CreateToken: {token}");
    PortalSignIn {
        access_token: token["accessToken"].as_str().expect("an access token").to_string(),
    }
}

/// GetRoleCredentials for the permission set `role_name` in `aws_account_id`: the credentials,
/// or the portal's HTTP status and error.
pub async fn role_credentials(
    env: &TestEnv,
    signed_in: &PortalSignIn,
    aws_account_id: &str,
    role_name: &str,
) -> Result<aws_credential_types::Credentials, (u16, Value)> {
    let resp = reqwest::Client::new()
        .get(format!("{}/federation/credentials", env.aws_endpoint))
        .query(&[("account_id", aws_account_id), ("role_name", role_name)])
        .header("x-amz-sso_bearer_token", &signed_in.access_token)
        .send()
        .await
        .expect("the portal answers");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status != 200 {
        return Err((status, body));
    }
    let c = &body["roleCredentials"];
    Ok(aws_credential_types::Credentials::new(
        c["accessKeyId"].as_str().expect("an access key id"),
        c["secretAccessKey"].as_str().expect("a secret"),
        c["sessionToken"].as_str().map(str::to_string),
        None,
        "identity-center-portal",
    ))
}
