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

/// `aws sts get-caller-identity` from the AWS CLI (the pinned v1) with the SSO profile a start
/// answered (`cli_profile`), signed in as `signed_in`: the token in the AWS CLI's SSO cache
/// (`~/.aws/sso/cache/<sha1 of the start URL>.json`, what `aws sso login` writes) and every
/// endpoint, the portal's included, pointed at the local AWS. The caller's ARN, or the CLI's
/// error output.
pub async fn aws_cli_caller(
    env: &TestEnv,
    cli_profile: &str,
    start_url: &str,
    signed_in: &PortalSignIn,
) -> Result<String, String> {
    use sha1::Digest;
    let home = std::env::temp_dir().join(format!("cib-sso-{}", ulid::Ulid::new()));
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).expect("a temporary home");
    let profile = cli_profile
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("[profile "))
        .and_then(|l| l.strip_suffix(']'))
        .expect("the profile lines name the profile")
        .to_string();
    std::fs::write(home.join(".aws/config"), cli_profile).expect("the AWS CLI's config");
    let key: String = sha1::Sha1::digest(start_url.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let expires = (time::OffsetDateTime::now_utc() + std::time::Duration::from_secs(3600))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    std::fs::write(
        cache.join(format!("{key}.json")),
        json!({ "startUrl": start_url, "region": "us-east-1", "accessToken": signed_in.access_token, "expiresAt": expires })
            .to_string(),
    )
    .expect("the SSO token cache");
    let python = std::env::var("LOCAL_AWS_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = tokio::process::Command::new(python)
        .args([
            "-m",
            "awscli",
            "sts",
            "get-caller-identity",
            "--profile",
            &profile,
            "--output",
            "json",
        ])
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
        .env("AWS_ENDPOINT_URL", &env.aws_endpoint)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .expect("the AWS CLI runs (pip install awscli)");
    let _ = std::fs::remove_dir_all(&home);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    let who: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok(who["Arn"].as_str().unwrap_or_default().to_string())
}

/// `POST /organizations/{id}/accounts/{member}/enable`, then the account made active with no JIT
/// role (Identity Center sessions need none): the new account's id.
pub async fn enable_member(env: &TestEnv, org_id: &str, aws_account_id: &str) -> String {
    let api = env.client();
    let admin = env.admin();
    let enabled = api
        .send(
            "POST",
            &format!("/organizations/{org_id}/accounts/{aws_account_id}/enable"),
            Some(&admin),
            None,
        )
        .await
        .ok(201);
    let account = enabled["id"].as_str().expect("an account id").to_string();
    api.put(
        &format!("/accounts/{account}/jit"),
        &admin,
        json!({ "active": true, "jit_enabled": false, "max_duration_seconds": 3600, "allowed_role_arns": [] }),
    )
    .await
    .ok(200);
    account
}

/// Identity Center sessions made possible for one user, as a test or benchmark sets them up.
pub struct Granted {
    /// The enabled member's account id in the broker.
    pub account: String,
    pub permission_set: String,
    pub email: String,
}

/// The seeded organization registered (as `name`), `member` enabled, its Identity Center set up,
/// a permission set `set_name` allowing `iam:ListRoles` (the call `try_call` makes), the
/// identity-store user `user` (`<user>@example.com`), and a group granting the set on the
/// account with that user in it.
pub async fn granted(env: &TestEnv, name: &str, member: &str, set_name: &str, user: &str) -> Granted {
    let api = env.client();
    let admin = env.admin();
    let org = &env.organization;
    let issued = crate::organization::issue_and_trust(env).await;
    let external_id = issued["external_id"].as_str().expect("an ExternalId");
    api.post("/organizations", &admin, org.registration(name, external_id))
        .await
        .ok(201);
    let account = enable_member(env, &org.organization_id, member).await;
    api.put(
        &format!("/organizations/{}/identity-center", org.organization_id),
        &admin,
        json!({ "region": local_runner::identity_center::region() }),
    )
    .await
    .ok(200);
    let endpoint = &env.aws_endpoint;
    let permission_set = local_runner::identity_center::create_permission_set(
        endpoint,
        org,
        set_name,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}"#,
    )
    .await
    .expect("a permission set");
    let email = format!("{user}@example.com");
    local_runner::identity_center::create_user(endpoint, org, user, &email)
        .await
        .expect("an identity-store user");
    let group = api
        .post(
            "/groups",
            &admin,
            json!({ "name": format!("{name}-identity-center"), "accounts": [account],
                    "permissions": { "start_identity_center_sessions": true },
                    "policy": { "permission_set_arns": [permission_set] } }),
        )
        .await
        .ok(201);
    api.put(
        &format!("/groups/{}/members/{email}", group["id"].as_str().expect("an id")),
        &admin,
        json!({}),
    )
    .await
    .ok(201);
    Granted {
        account,
        permission_set,
        email,
    }
}
