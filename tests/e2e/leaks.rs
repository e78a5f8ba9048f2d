//! Secret leakage: a scenario that creates every kind of secret the broker handles (account
//! secret keys and ExternalIds, temporary credentials, sign-in tokens, console passwords,
//! bearer tokens, the Slack signing secret), then scans every log line, every S3 object, every
//! DynamoDB item and the API's responses for any of them: none may appear.

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::registration::{role_registration, trust_issued_external_id};
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
    let external_id = trust_issued_external_id(env, &target).await;
    let with_role = role_registration("leaks-role", &target, &external_id);
    let registered = api.post("/accounts", &admin, with_role).await;
    registered.ok(201);
    responses.push(registered.text);
    secrets.push(("ExternalId".into(), external_id));
    let mut wrong = access_key_registration("leaks-wrong", &target);
    let wrong_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYLEAKCHECKKEY";
    wrong["credentials"]["secret_access_key"] = json!(wrong_secret);
    responses.push(api.post("/accounts", &admin, wrong).await.text);
    secrets.push(("rejected secret key".into(), wrong_secret.into()));

    // Sessions: JIT credentials and sign-in token (started with an Idempotency-Key, so the
    // answer is remembered sealed, and replayed); a console password.
    let start = json!({ "account_id": f.account, "type": "jit", "role_arn": f.role, "duration_seconds": 900, "reason": "leak scan" });
    let jit = api
        .send_with_headers(
            "POST",
            "/sessions",
            Some(&f.token),
            Some(RawBody::Json(start.clone())),
            &[("idempotency-key", "leak-scan-1")],
        )
        .await
        .ok(201);
    let replay = api
        .send_with_headers(
            "POST",
            "/sessions",
            Some(&f.token),
            Some(RawBody::Json(start)),
            &[("idempotency-key", "leak-scan-1")],
        )
        .await;
    assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(replay.ok(201), jit, "the replay is the first answer, to its owner");
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
    // The scan sees a secret however it is wrapped: inside base64 at any offset, or encoded
    // into a URL.
    {
        use base64::Engine;
        let (_, token) = secrets.iter().find(|(w, _)| w == "session token").unwrap();
        for lead in ["", "a", "ab"] {
            let wrapped = base64::engine::general_purpose::STANDARD.encode(format!("{lead}{{\"t\":\"{token}\"}}"));
            assert!(
                encodings(token).iter().any(|(_, n)| wrapped.contains(n.as_str())),
                "base64 after {lead:?}"
            );
        }
        let in_url = format!(
            "https://x/?t={}",
            form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
        );
        assert!(
            encodings(token)
                .iter()
                .any(|(f, n)| f != "raw" && in_url.contains(n.as_str()))
        );
    }
    let mut found = Vec::new();
    let (stored, responses) = (stored.join("\n"), responses.join("\n"));
    for (what, secret) in &secrets {
        assert!(
            secret.len() >= 16 || what == "ExternalId",
            "{what} is long enough to search for"
        );
        for (form, needle) in encodings(secret) {
            for (place, text) in [("logs", &logs), ("storage", &stored), ("responses", &responses)] {
                if text.contains(needle.as_str()) {
                    found.push(format!("{what} ({form}) in {place}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "secrets leaked: {found:?}");
    eprintln!(
        "leak scan: {} secrets × {} forms × {} log lines, {} bytes stored, {} bytes of responses: 0 found",
        secrets.len(),
        encodings("x".repeat(16).as_str()).len(),
        logs.lines().count(),
        stored.len(),
        responses.len()
    );
}

/// The forms a secret could be written in: as is, percent-encoded (both styles), and base64
/// (standard and URL-safe) at each of the three alignments it could have inside a longer
/// encoded text. For base64, the part of the encoding that depends only on the secret is
/// searched: the first and last four characters, which mix in neighbouring bytes, are left out.
fn encodings(secret: &str) -> Vec<(String, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let mut forms = vec![
        ("raw".to_string(), secret.to_string()),
        (
            "form-encoded".into(),
            form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        ),
        ("percent-encoded".into(), shared::encoding::percent_encode(secret)),
    ];
    for shift in 0..3 {
        let mut bytes = vec![0u8; shift];
        bytes.extend_from_slice(secret.as_bytes());
        for (name, encoded) in [
            ("base64", STANDARD.encode(&bytes)),
            ("base64url", URL_SAFE_NO_PAD.encode(&bytes)),
        ] {
            let stable = encoded.trim_end_matches('=');
            if stable.len() > 12 {
                forms.push((format!("{name}+{shift}"), stable[4..stable.len() - 4].to_string()));
            }
        }
    }
    forms.sort_by(|a, b| a.1.cmp(&b.1));
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}
