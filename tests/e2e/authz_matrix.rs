//! The authorization matrix, generated from the OpenAPI contract: every operation × {no token,
//! user, admin, bot, bot on behalf of a user, auditor} gets the outcome its `x-allowed` declares. An
//! operation without `x-allowed` fails this test, so a new route cannot be missed.
//!
//! "Allowed" means the request got past authentication and authorization (any status but
//! 401/403: ids here are made up, so 404 or 422 are expected); "denied" means 401 without a
//! token and 403 with one. Resource ownership (another user's session) is covered in
//! sessions.rs.

use e2e::{RawBody, Role, env};
use serde_json::{Value, json};
use serde_yaml::Value as Yaml;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const ID: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

fn concrete(path: &str) -> String {
    path.replace("{id}", ID)
        .replace("{name}", "alice@example.com")
        .replace("{email}", "alice@example.com")
        .replace("{slack_user_id}", "U024BE7LH")
        .replace("{ssm_session_id}", "cib-x-0123456789abcdef0")
        .replace("{aws_account_id}", "123456789012")
}

/// A body good enough to get past parsing to the authorization check.
fn body(method: &str, path: &str, on_behalf: bool) -> Option<Value> {
    let mut b = match (method, path) {
        ("POST", "/sessions") => {
            json!({ "account_id": ID, "type": "jit", "role_arn": "arn:aws:iam::123456789012:role/matrix", "duration_seconds": 900, "reason": "matrix test" })
        }
        ("DELETE", "/sessions/{id}") | ("POST", "/sessions/{id}/denials") => json!({ "reason": "matrix test" }),
        ("POST", "/sessions/{id}/review") => json!({ "note": "matrix test" }),
        ("POST", "/sessions/{id}/extensions") => json!({ "duration_seconds": 900, "reason": "matrix test" }),
        ("POST" | "PUT" | "PATCH", _) => json!({}),
        _ => return None,
    };
    if on_behalf && path.starts_with("/sessions") {
        b["on_behalf_of"] = json!("alice@example.com");
    }
    Some(b)
}

#[tokio::test]
async fn every_operation_allows_exactly_its_declared_callers() {
    let env = env();
    let api = env.client();
    let doc: Yaml =
        serde_yaml::from_str(&std::fs::read_to_string(format!("{ROOT}/infra/openapi.yaml")).unwrap()).unwrap();
    let callers = [
        ("admin", Some(env.admin())),
        ("user", Some(env.user("alice@example.com"))),
        ("bot", Some(env.token(Role::Bot, "bot:chatops", None))),
        ("bot-on-behalf", Some(env.token(Role::Bot, "bot:chatops", None))),
        (
            "auditor",
            Some(env.token(Role::Auditor, "audit@example.com", Some("audit@example.com"))),
        ),
        ("none", None),
    ];
    // Callers who may start sessions anywhere, so that a start on an unknown account is past
    // authorization (404); without a grant it would be refused (403) before the lookup.
    let group = api
        .post(
            "/groups",
            &env.admin(),
            json!({ "name": "matrix", "description": "", "accounts": "all", "permissions": { "start_sessions": true, "start_jit_sessions": true, "start_shell_sessions": true } }),
        )
        .await
        .ok(201);
    for member in ["admin@example.com", "alice@example.com"] {
        api.put(
            &format!("/groups/{}/members/{member}", group["id"].as_str().unwrap()),
            &env.admin(),
            json!({}),
        )
        .await
        .ok(201);
    }
    let mut checked = 0;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap();
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            operations += 1;
            let allowed: Vec<&str> = op["x-allowed"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{method} {path} has no x-allowed in infra/openapi.yaml"))
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let method = method.to_uppercase();
            for (who, token) in &callers {
                let on_behalf = *who == "bot-on-behalf";
                let mut url = concrete(path);
                if on_behalf
                    && method == "GET"
                    && ["/sessions", "/requests", "/reviews"]
                        .iter()
                        .any(|p| path.starts_with(p))
                {
                    url.push_str("?on_behalf_of=alice@example.com");
                }
                let reply = api
                    .send(
                        &method,
                        &url,
                        token.as_deref(),
                        body(&method, path, on_behalf).map(RawBody::Json),
                    )
                    .await;
                let status = reply.status;
                let expect_allowed = allowed.contains(who);
                if expect_allowed {
                    assert!(
                        status != 401 && status != 403 && status < 500,
                        "{method} {path} as {who}: expected past authorization, got {status}: {}",
                        reply.text
                    );
                } else if token.is_none() || allowed == ["slack"] {
                    assert_eq!(status, 401, "{method} {path} as {who}: {}", reply.text);
                } else {
                    assert_eq!(status, 403, "{method} {path} as {who}: {}", reply.text);
                }
                if status == 401 || status == 403 {
                    reply.problem(status);
                }
                checked += 1;
            }
        }
    }
    // Every route the server has is in the contract, and every one was checked as every caller.
    assert_eq!(
        operations,
        shared::routes::ROUTES.len(),
        "the contract and the route table differ"
    );
    assert_eq!(checked, operations * callers.len());
    // docs/reliability.md states these figures; they are this test's, so it holds the document to them.
    let stated = format!(
        "exactly {operations} operations (= the server's route table) × {} = {checked} cases",
        callers.len()
    );
    let doc = std::fs::read_to_string(format!("{ROOT}/docs/reliability.md")).unwrap();
    assert!(doc.contains(&stated), "docs/reliability.md should say: {stated}");
}
