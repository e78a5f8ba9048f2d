//! Acting as the consoles AWS lets people make, through the local AWS's console sessions
//! (`local/aws/cib_local_aws/console_sessions.py`): a console signed in from role credentials
//! through the federation endpoint (`getSigninToken` with a `SessionDuration`), an IAM user's
//! console signed in with a password, and credentials exported from either (CloudShell).

use serde_json::{Value, json};

use crate::TestEnv;

/// A console signed in from role credentials with `getSigninToken&SessionDuration=…`, through
/// the broker's configured federation endpoint (the stand-in), as the holder of the
/// credentials can do themselves. `Err` is the endpoint's refusal.
pub async fn federated_console(
    env: &TestEnv,
    creds: &aws_credential_types::Credentials,
    session_duration: u32,
) -> Result<String, String> {
    let session = json!({
        "sessionId": creds.access_key_id(),
        "sessionKey": creds.secret_access_key(),
        "sessionToken": creds.session_token(),
    })
    .to_string();
    let reply = reqwest::Client::new()
        .get(&env.config.federation_endpoint)
        .query(&[
            ("Action", "getSigninToken"),
            ("SessionDuration", &session_duration.to_string()),
            ("Session", &session),
        ])
        .send()
        .await
        .expect("the federation endpoint answers");
    if !reply.status().is_success() {
        return Err(format!(
            "{}: {}",
            reply.status(),
            reply.text().await.unwrap_or_default()
        ));
    }
    let token: Value = reply.json().await.expect("a JSON answer");
    let login = control(env, "console/login", json!({ "SigninToken": token["SigninToken"] })).await?;
    Ok(login["ConsoleSessionId"].as_str().expect("a console id").to_string())
}

/// An IAM user's console sign-in with the password a console session handed out.
pub async fn user_console(env: &TestEnv, aws_account: &str, user_name: &str, password: &str) -> Result<String, String> {
    let login = control(
        env,
        "console/user-login",
        json!({ "AccountId": aws_account, "UserName": user_name, "Password": password }),
    )
    .await?;
    Ok(login["ConsoleSessionId"].as_str().expect("a console id").to_string())
}

/// What CloudShell's `aws configure export-credentials` gives inside that console.
pub async fn export_credentials(env: &TestEnv, console: &str) -> Result<aws_credential_types::Credentials, String> {
    let c = control(
        env,
        "console/export-credentials",
        json!({ "ConsoleSessionId": console }),
    )
    .await?;
    Ok(aws_credential_types::Credentials::new(
        c["AccessKeyId"].as_str().expect("a key id"),
        c["SecretAccessKey"].as_str().expect("a secret"),
        c["SessionToken"].as_str().map(str::to_string),
        None,
        "exported from a console",
    ))
}

/// IAM's propagation delay in the local AWS, for changes made from now on (0: off).
pub async fn set_iam_propagation(env: &TestEnv, milliseconds: u64) {
    control(env, "iam/propagation", json!({ "Milliseconds": milliseconds }))
        .await
        .expect("the propagation delay is set");
}

/// Makes role credentials expire now in the local AWS (STS's 900 s minimum is too long to wait).
pub async fn expire_credentials(env: &TestEnv, creds: &aws_credential_types::Credentials) {
    control(env, "sts/expire", json!({ "AccessKeyId": creds.access_key_id() }))
        .await
        .expect("the credentials are expired");
}

async fn control(env: &TestEnv, path: &str, body: Value) -> Result<Value, String> {
    let reply = reqwest::Client::new()
        .post(format!(
            "{}/moto-api/cib/{path}",
            env.aws_endpoint.trim_end_matches('/')
        ))
        .json(&body)
        .send()
        .await
        .expect("the local AWS answers");
    let status = reply.status();
    let body: Value = reply.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {}", body["message"]))
    }
}
