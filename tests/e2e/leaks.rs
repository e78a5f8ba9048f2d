//! Secret leakage: a scenario that creates every kind of secret the broker handles (account
//! secret keys and ExternalIds, temporary credentials, sign-in tokens, console passwords,
//! bearer tokens, the Slack signing secret), then scans every log line, every S3 object, every
//! DynamoDB item and the API's responses for any of them: none may appear.

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{RawBody, access_key_registration, captured_logs, env, fixture};
use serde_json::json;

#[tokio::test]
async fn no_secret_reaches_logs_storage_or_responses() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let mut secrets: Vec<(String, String)> = vec![("admin token".into(), admin.clone())];
    let mut responses: Vec<String> = Vec::new();

    // Accounts: an access key, a role with an ExternalId, and a wrong secret.
    let f = fixture(env, "leaks").await;
    secrets.push(("user token".into(), f.token.clone()));
    let target = env.take_account();
    secrets.push(("account secret key".into(), target.admin.secret_access_key.clone()));
    let with_role = json!({ "name": "leaks-role", "default_region": "eu-west-1", "credentials": { "type": "assume_role", "role_arn": target.broker_access_role_arn, "external_id": "local-external-id" } });
    responses.push(api.post("/accounts", &admin, with_role).await.text);
    secrets.push(("ExternalId".into(), "local-external-id".into()));
    let mut wrong = access_key_registration("leaks-wrong", &target);
    let wrong_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYLEAKCHECKKEY";
    wrong["credentials"]["secret_access_key"] = json!(wrong_secret);
    responses.push(api.post("/accounts", &admin, wrong).await.text);
    secrets.push(("rejected secret key".into(), wrong_secret.into()));

    // Sessions: JIT credentials and sign-in token; a console password.
    let jit = api
        .post("/sessions", &f.token, json!({ "account_id": f.account, "type": "jit", "role_arn": f.role, "duration_seconds": 900, "reason": "leak scan" }))
        .await
        .ok(201);
    secrets.push((
        "temporary secret key".into(),
        jit["credentials"]["secret_access_key"].as_str().unwrap().into(),
    ));
    secrets.push((
        "session token".into(),
        jit["credentials"]["session_token"].as_str().unwrap().into(),
    ));
    let signin = jit["console_url"]
        .as_str()
        .unwrap()
        .rsplit("SigninToken=")
        .next()
        .unwrap()
        .to_string();
    secrets.push(("sign-in token".into(), signin));
    let console = api
        .post(
            "/sessions",
            &f.token,
            json!({ "account_id": f.account, "type": "console", "duration_seconds": 900, "reason": "leak scan" }),
        )
        .await
        .ok(201);
    secrets.push((
        "console password".into(),
        console["console"]["password"].as_str().unwrap().into(),
    ));
    for s in [&jit, &console] {
        let id = s["session"]["id"].as_str().unwrap();
        responses.push(
            api.send(
                "DELETE",
                &format!("/sessions/{id}"),
                Some(&f.token),
                Some(RawBody::Json(json!({ "reason": "scan" }))),
            )
            .await
            .text,
        );
        responses.push(api.get(&format!("/sessions/{id}/log"), &f.token).await.text);
    }
    env.run_expirer().await;
    secrets.push((
        "Slack signing secret".into(),
        env.config.slack_signing_secret.as_ref().unwrap().expose().to_string(),
    ));
    secrets.push(("JWT signing secret".into(), env.jwt_secret().to_string()));

    // Everything a caller can list or read.
    for path in ["/accounts", "/groups", "/sessions", "/me", "/chatops/slack/users"] {
        responses.push(api.get(path, &admin).await.text);
    }
    responses.push(api.get(&format!("/accounts/{}/users", f.account), &admin).await.text);
    responses.push(
        api.get(&format!("/accounts/{}/users/{}", f.account, f.email), &admin)
            .await
            .text,
    );
    responses.push(api.get("/sessions", &f.token).await.text);

    // Everything stored: every S3 object and every DynamoDB item.
    let sdk = env.sdk(&env.broker).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let mut stored = Vec::new();
    let listed = s3
        .list_objects_v2()
        .bucket(&env.config.session_log_bucket)
        .send()
        .await
        .unwrap();
    for object in listed.contents() {
        let key = object.key().unwrap();
        let body = s3
            .get_object()
            .bucket(&env.config.session_log_bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap();
        stored.push(String::from_utf8_lossy(&body.into_bytes()).into_owned());
    }
    assert!(stored.len() >= 2, "session logs were written");
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
    loop {
        let page = ddb
            .scan()
            .table_name(&env.config.table_name)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        stored.extend(page.items().iter().map(|i| format!("{i:?}")));
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }

    let logs = captured_logs();
    assert!(logs.lines().count() > 20, "logs were captured");
    let mut found = Vec::new();
    for (what, secret) in &secrets {
        assert!(
            secret.len() >= 16 || what == "ExternalId",
            "{what} is long enough to search for"
        );
        for (place, text) in [
            ("logs", &logs),
            ("storage", &stored.join("\n")),
            ("responses", &responses.join("\n")),
        ] {
            if text.contains(secret.as_str()) {
                found.push(format!("{what} in {place}"));
            }
        }
    }
    assert!(found.is_empty(), "secrets leaked: {found:?}");
    eprintln!(
        "leak scan: {} secrets × {} log lines, {} stored items, {} responses: 0 found",
        secrets.len(),
        logs.lines().count(),
        stored.len(),
        responses.len()
    );
}
