//! Authentication through the HTTP API: every malformed, forged, expired or misdirected token
//! is a 401 problem; a valid token of the wrong role is a 403.

use base64::Engine;
use e2e::{Role, env};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn good_claims() -> Value {
    json!({ "sub": "admin@example.com", "email": "admin@example.com", "role": "admin", "iss": "cloud-iam-broker-local", "aud": "cloud-iam-broker", "iat": now(), "nbf": now(), "exp": now() + 300 })
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let env = env();
    let api = env.client();
    let secret = env.jwt_secret().as_bytes().to_vec();
    let good = hs256(&good_claims(), &secret);
    api.get("/accounts", &good).await.ok(200);

    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let rs_key = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/tests/fixtures/test-only-rs256.pem"
    ))
    .unwrap();
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut tampered_claims = good_claims();
    tampered_claims["sub"] = json!("someone-else");

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({ "alg": "none", "typ": "JWT" })),
                b64(&good_claims())
            ),
        ),
        (
            "RS256 while HS256 is pinned",
            jsonwebtoken::encode(
                &Header::new(Algorithm::RS256),
                &good_claims(),
                &EncodingKey::from_rsa_pem(rs_key.as_bytes()).unwrap(),
            )
            .unwrap(),
        ),
        (
            "wrong key",
            hs256(&good_claims(), b"another-secret-that-is-long-enough-to-use"),
        ),
        ("tampered payload", format!("{head}.{}.{sig}", b64(&tampered_claims))),
        (
            "wrong issuer",
            hs256(&with(good_claims(), "iss", json!("https://evil.example")), &secret),
        ),
        (
            "wrong audience",
            hs256(&with(good_claims(), "aud", json!("another-api")), &secret),
        ),
        (
            "expired",
            hs256(&with(good_claims(), "exp", json!(now() - 120)), &secret),
        ),
        (
            "not yet valid",
            hs256(&with(good_claims(), "nbf", json!(now() + 600)), &secret),
        ),
        ("no exp", hs256(&with(good_claims(), "exp", Value::Null), &secret)),
        ("no sub", hs256(&with(good_claims(), "sub", Value::Null), &secret)),
        ("no role", hs256(&with(good_claims(), "role", Value::Null), &secret)),
        (
            "unknown role",
            hs256(&with(good_claims(), "role", json!("root")), &secret),
        ),
        (
            "user without email",
            hs256(
                &with(with(good_claims(), "role", json!("user")), "email", Value::Null),
                &secret,
            ),
        ),
        (
            "user with a bad email",
            hs256(
                &with(
                    with(good_claims(), "role", json!("user")),
                    "email",
                    json!("not an email"),
                ),
                &secret,
            ),
        ),
        ("malformed", "abc.def".to_string()),
        ("empty", String::new()),
    ];
    for (name, token) in cases {
        let reply = api.get("/accounts", &token).await;
        let p = reply.problem(401);
        assert_eq!(reply.headers["www-authenticate"], "Bearer", "{name}");
        if !token.is_empty() {
            assert!(!reply.text.contains(&token), "{name}: the token is echoed");
        }
        assert!(p["detail"].as_str().is_some(), "{name}");
    }

    // No Authorization header, and other schemes than Bearer (with a valid token, even).
    api.send("GET", "/accounts", None, None).await.problem(401);
    let http = reqwest::Client::new();
    for header in [
        "Basic YWRtaW46cGFzc3dvcmQ=".to_string(),
        format!("Token {}", env.admin()),
        format!("Bearer{}", env.admin()),
        "Bearer".to_string(),
    ] {
        let resp = http
            .get(format!("{}/accounts", env.base_url))
            .header("authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{header:.12}");
    }
}

#[tokio::test]
async fn roles_other_than_admin_cannot_manage_accounts() {
    let env = env();
    let api = env.client();
    for token in [env.user("bob@example.com"), env.token(Role::Bot, "bot:chatops", None)] {
        api.get("/accounts", &token).await.problem(403);
        api.post("/accounts", &token, json!({})).await.problem(403);
    }
}

/// A person is their identity provider's (issuer, subject), bound to one e-mail at first use:
/// someone who edits their e-mail to another user's does not become that user, until an admin
/// releases the binding.
#[tokio::test]
async fn an_email_is_bound_to_one_sign_in() {
    let env = env();
    let api = env.client();
    let first = env.token(Role::User, "idp|carol", Some("carol@example.com"));
    api.get("/me", &first).await.ok(200);
    // The same subject with another e-mail...
    let renamed = env.token(Role::User, "idp|carol", Some("dave@example.com"));
    let p = api.get("/me", &renamed).await.problem(403);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/identity-conflict");
    // ...and another subject with her e-mail are refused.
    let impostor = env.token(Role::User, "idp|mallory", Some("carol@example.com"));
    let p = api.get("/me", &impostor).await.problem(403);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/identity-conflict");
    // Only admins release; then the address's new owner signs in (and is bound).
    api.delete("/identities/carol@example.com", &first).await.problem(403);
    api.delete("/identities/carol@example.com", &env.admin()).await.ok(204);
    api.delete("/identities/carol@example.com", &env.admin())
        .await
        .problem(404);
    api.get("/me", &impostor).await.ok(200);
    let p = api
        .get(
            "/me",
            &env.token(Role::User, "idp|someone-else", Some("carol@example.com")),
        )
        .await
        .problem(403);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/identity-conflict");
}

/// A token whose identity provider says the e-mail is not verified is refused.
#[tokio::test]
async fn an_unverified_email_is_refused() {
    let env = env();
    let mut claims = good_claims();
    claims["email_verified"] = json!(false);
    let token = hs256(&claims, env.jwt_secret().as_bytes());
    let p = env.client().get("/me", &token).await.problem(401);
    assert!(p["detail"].as_str().unwrap().contains("not verified"), "{p}");
    claims["email_verified"] = json!(true);
    let token = hs256(&claims, env.jwt_secret().as_bytes());
    env.client().get("/me", &token).await.ok(200);
}
