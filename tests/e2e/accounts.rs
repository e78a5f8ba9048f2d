//! Account registration through the HTTP API against local AWS (moto, authenticated mode).

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::registration::{role_registration, trust_issued_external_id};
use e2e::{RawBody, Role, access_key_registration, env};
use serde_json::{Value, json};

#[path = "accounts/external_ids.rs"]
mod external_ids;

fn jit(roles: &[String]) -> Value {
    json!({ "active": true, "description": "on-call", "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": roles })
}

/// The "done when": register → list → get → set JIT → delete, all through the API.
#[tokio::test]
async fn register_list_get_set_jit_delete() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let target = env.take_account();
    let secret = target.admin.secret_access_key.clone();

    let created = api
        .post("/accounts", &admin, access_key_registration("production", &target))
        .await;
    let account = created.ok(201);
    assert!(!created.text.contains(&secret), "the secret is never returned");
    let id = account["id"].as_str().unwrap().to_string();
    assert_eq!(created.headers["location"], format!("/accounts/{id}").as_str());
    assert_eq!(account["aws_account_id"], target.aws_account_id.as_str());
    assert_eq!(
        account["caller_arn"],
        format!("arn:aws:iam::{}:user/admin", target.aws_account_id).as_str()
    );
    assert_eq!(account["default_region"], "eu-west-1");
    assert_eq!(
        account["credentials"],
        json!({ "type": "access_key", "access_key_id": target.admin.access_key_id })
    );

    // Stored sealed with KMS: the table holds ciphertext, not the secret.
    let ddb = aws_sdk_dynamodb::Client::new(&env.sdk(&env.broker).await);
    let item = ddb
        .get_item()
        .table_name(&env.config.table_name)
        .key("PK", AttributeValue::S(format!("ACCOUNT#{id}")))
        .key("SK", AttributeValue::S("ACCOUNT".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("stored");
    let stored = format!("{item:?}");
    assert!(!stored.contains(&secret), "plaintext secret in DynamoDB");
    assert!(item["sealed_secret"].as_s().unwrap().len() > 40);

    let list = api.get("/accounts?limit=100", &admin).await;
    assert!(!list.text.contains(&secret));
    let mut found = false;
    let mut page = list.ok(200);
    loop {
        found |= page["items"].as_array().unwrap().iter().any(|a| a["id"] == id.as_str());
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        page = api
            .get(&format!("/accounts?limit=100&cursor={cursor}"), &admin)
            .await
            .ok(200);
    }
    assert!(found, "the new account is listed");

    assert_eq!(api.get(&format!("/accounts/{id}"), &admin).await.ok(200), account);

    // JIT starts disabled, then takes the settings.
    let defaults = api.get(&format!("/accounts/{id}/jit"), &admin).await.ok(200);
    assert_eq!(defaults["active"], false);
    assert_eq!(defaults["jit_enabled"], false);
    let roles = vec![
        format!("arn:aws:iam::{}:role/Admin", target.aws_account_id),
        format!("arn:aws:iam::{}:role/team/ReadOnly", target.aws_account_id),
    ];
    let mut set = api
        .put(&format!("/accounts/{id}/jit"), &admin, jit(&roles))
        .await
        .ok(200);
    // No users yet, so no user policy needed updating.
    assert_eq!(set["policy_sync"], json!({ "updated": 0, "failed": [] }));
    set.as_object_mut().unwrap().remove("policy_sync");
    // Each allowed role's trust is reviewed; these roles do not exist (yet), which is reported.
    let review: Vec<Value> = roles
        .iter()
        .map(|r| {
            let name = r.rsplit('/').next().unwrap();
            json!({ "role_arn": r, "findings": [], "error": format!("read the role: not found: NoSuchEntity: Role {name} not found") })
        })
        .collect();
    assert_eq!(
        set,
        json!({ "active": true, "description": "on-call", "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": roles, "trust_review": review,
                "role_trust_policy": shared::domain::iam_policies::role_trust_policy(&shared::domain::RoleArn::parse(&roles[0]).unwrap()) })
    );
    assert_eq!(api.get(&format!("/accounts/{id}/jit"), &admin).await.ok(200), set);

    let renamed = api
        .patch(
            &format!("/accounts/{id}"),
            &admin,
            json!({ "name": "prod", "default_region": "eu-central-1" }),
        )
        .await
        .ok(200);
    assert_eq!(renamed["name"], "prod");
    assert_eq!(renamed["default_region"], "eu-central-1");
    assert_eq!(renamed["created_at"], account["created_at"]);
    // Null means unchanged (the contract allows it); naming no field at all is refused.
    let same = api
        .patch(&format!("/accounts/{id}"), &admin, json!({ "name": null }))
        .await
        .ok(200);
    assert_eq!(
        (&same["name"], &same["default_region"]),
        (&renamed["name"], &renamed["default_region"])
    );
    api.patch(&format!("/accounts/{id}"), &admin, json!({}))
        .await
        .problem(422);

    api.delete(&format!("/accounts/{id}"), &admin).await.ok(204);
    api.get(&format!("/accounts/{id}"), &admin).await.problem(404);
    api.get(&format!("/accounts/{id}/jit"), &admin).await.problem(404);
    api.delete(&format!("/accounts/{id}"), &admin).await.problem(404);
    // The registration marker went with it: the same AWS account can be registered again.
    let again = api
        .post("/accounts", &admin, access_key_registration("production", &target))
        .await
        .ok(201);
    api.delete(&format!("/accounts/{}", again["id"].as_str().unwrap()), &admin)
        .await
        .ok(204);
}

#[tokio::test]
async fn registers_through_a_role_with_external_id() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let target = env.take_account();
    // An ExternalId the admin picks is refused before AWS is asked: the broker picks them
    // (AWS's confused-deputy guidance), so no admin can name a role trusting another party's.
    let typed = api
        .post(
            "/accounts",
            &admin,
            role_registration("via-role", &target, "local-external-id"),
        )
        .await
        .problem(422);
    assert_eq!(
        typed["type"], "tag:cloud-iam-broker,2026:problem/external-id-not-issued",
        "{typed}"
    );

    // Issued: 128 random bits, shown once with the trust policy the role needs, which the
    // role takes as returned.
    let external_id = trust_issued_external_id(env, &target).await;
    assert!(
        external_id.starts_with("cib-") && external_id.len() == 36,
        "{external_id}"
    );
    let created = api
        .post(
            "/accounts",
            &admin,
            role_registration("via-role", &target, &external_id),
        )
        .await;
    let account = created.ok(201);
    assert!(!created.text.contains(&external_id), "the ExternalId is never returned");
    assert!(
        !api.get(&format!("/accounts/{}", account["id"].as_str().unwrap()), &admin)
            .await
            .text
            .contains(&external_id)
    );
    assert_eq!(account["aws_account_id"], target.aws_account_id.as_str());
    assert_eq!(
        account["caller_arn"],
        format!(
            "arn:aws:sts::{}:assumed-role/CloudIamBrokerAccess/cloud-iam-broker-verify",
            target.aws_account_id
        )
        .as_str()
    );
    assert_eq!(account["credentials"]["type"], "assume_role");

    // One ExternalId registers one account: used up, it registers nothing again (here the
    // same account after its deletion).
    api.delete(&format!("/accounts/{}", account["id"].as_str().unwrap()), &admin)
        .await
        .ok(204);
    let again = api
        .post(
            "/accounts",
            &admin,
            role_registration("via-role", &target, &external_id),
        )
        .await
        .problem(422);
    assert_eq!(
        again["type"], "tag:cloud-iam-broker,2026:problem/external-id-not-issued",
        "{again}"
    );
    assert!(!again.to_string().contains(&external_id), "{again}");
}

#[tokio::test]
async fn rejected_credentials_store_nothing() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let target = env.take_account();

    let wrong_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET";
    let mut body = access_key_registration("bad", &target);
    body["credentials"]["secret_access_key"] = json!(wrong_secret);
    let reply = api.post("/accounts", &admin, body).await;
    let problem = reply.problem(422);
    assert_eq!(problem["type"], "tag:cloud-iam-broker,2026:problem/invalid-credentials");
    assert!(
        problem["detail"].as_str().unwrap().contains("SignatureDoesNotMatch"),
        "{problem}"
    );
    assert!(!reply.text.contains(wrong_secret));

    let unknown = json!({ "name": "bad", "default_region": "us-east-1", "credentials": { "type": "access_key", "access_key_id": "AKIAUNKNOWNKEY000000", "secret_access_key": wrong_secret } });
    let problem = api.post("/accounts", &admin, unknown).await.problem(422);
    assert!(
        problem["detail"].as_str().unwrap().contains("InvalidClientTokenId"),
        "{problem}"
    );

    // Nothing stored: the AWS account is still free to register.
    let ok = api
        .post("/accounts", &admin, access_key_registration("good", &target))
        .await
        .ok(201);
    api.delete(&format!("/accounts/{}", ok["id"].as_str().unwrap()), &admin)
        .await
        .ok(204);
}

#[tokio::test]
async fn one_registration_per_aws_account() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let target = env.take_account();
    api.post("/accounts", &admin, access_key_registration("first", &target))
        .await
        .ok(201);
    let problem = api
        .post("/accounts", &admin, access_key_registration("second", &target))
        .await
        .problem(409);
    assert_eq!(problem["type"], "tag:cloud-iam-broker,2026:problem/already-registered");
}

#[tokio::test]
async fn new_credentials_are_checked_before_they_replace_the_old() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let target = env.take_account();
    let other = env.take_account();
    let account = api
        .post("/accounts", &admin, access_key_registration("rotating", &target))
        .await
        .ok(201);
    let path = format!("/accounts/{}", account["id"].as_str().unwrap());

    let mut wrong = access_key_registration("x", &target)["credentials"].clone();
    wrong["secret_access_key"] = json!("wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET");
    api.patch(&path, &admin, json!({ "credentials": wrong, "name": "renamed" }))
        .await
        .problem(422);

    let foreign = access_key_registration("x", &other)["credentials"].clone();
    let problem = api
        .patch(&path, &admin, json!({ "credentials": foreign }))
        .await
        .problem(422);
    assert_eq!(problem["type"], "tag:cloud-iam-broker,2026:problem/account-mismatch");

    // Neither failed change touched the record.
    assert_eq!(api.get(&path, &admin).await.ok(200), account);

    // A valid new key of the same account (the role) is accepted.
    let external_id = trust_issued_external_id(env, &target).await;
    let via_role =
        json!({ "type": "assume_role", "role_arn": target.broker_access_role_arn, "external_id": external_id });
    let updated = api
        .patch(&path, &admin, json!({ "credentials": via_role }))
        .await
        .ok(200);
    assert_eq!(updated["credentials"]["type"], "assume_role");
    assert!(updated["credentials"].get("access_key_id").is_none());
    assert_eq!(api.get(&path, &admin).await.ok(200), updated);
}

#[tokio::test]
async fn pages_through_accounts() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let mut mine = Vec::new();
    for i in 0..3 {
        let a = api
            .post(
                "/accounts",
                &admin,
                access_key_registration(&format!("page-{i}"), &env.take_account()),
            )
            .await
            .ok(201);
        mine.push(a["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut path = "/accounts?limit=1".to_string();
    loop {
        let page = api.get(&path, &admin).await.ok(200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 1);
        seen.extend(items.iter().map(|a| a["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/accounts?limit=1&cursor={c}"),
            None => break,
        }
    }
    for id in &mine {
        assert_eq!(seen.iter().filter(|s| *s == id).count(), 1, "{id} listed exactly once");
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "oldest first");
}

/// Every bad input gets a problem+json 4xx and changes nothing.
#[tokio::test]
async fn bad_input_is_refused_clearly() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let target = env.take_account();
    let good = access_key_registration("bad-input", &target);
    let secret = target.admin.secret_access_key.clone();

    let raw = |bytes: &[u8], ct: &'static str| {
        Some(RawBody::Raw {
            content_type: ct,
            bytes: bytes.to_vec(),
        })
    };
    api.send(
        "POST",
        "/accounts",
        Some(&admin),
        raw(b"{\"name\": ", "application/json"),
    )
    .await
    .problem(400);
    api.send("POST", "/accounts", Some(&admin), None).await.problem(400);
    api.send(
        "POST",
        "/accounts",
        Some(&admin),
        raw(good.to_string().as_bytes(), "text/plain"),
    )
    .await
    .problem(415);
    let huge =
        json!({ "name": "x".repeat(70 * 1024), "default_region": "us-east-1", "credentials": good["credentials"] });
    api.post("/accounts", &admin, huge).await.problem(413);

    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "default_region": "us-east-1", "credentials": good["credentials"] }),
            "name",
        ),
        (
            json!({ "name": "a", "default_region": "us-east-1", "credentials": good["credentials"], "aws_account_id": "999999999999" }),
            "aws_account_id",
        ),
        (
            json!({ "name": 7, "default_region": "us-east-1", "credentials": good["credentials"] }),
            "name",
        ),
        (
            json!({ "name": "a", "default_region": "mars-north-1x", "credentials": good["credentials"] }),
            "default_region",
        ),
        (
            json!({ "name": "", "default_region": "us-east-1", "credentials": good["credentials"] }),
            "name",
        ),
        (
            json!({ "name": "a", "default_region": "us-east-1", "credentials": { "type": "password", "secret_access_key": secret } }),
            "credentials.type",
        ),
        (
            json!({ "name": "a", "default_region": "us-east-1", "credentials": { "type": "assume_role", "role_arn": "arn:aws:iam::123:user/x", "external_id": "abc" } }),
            "credentials.role_arn",
        ),
        (
            json!({ "name": "a", "default_region": "us-east-1", "credentials": { "type": "access_key", "access_key_id": "nope", "secret_access_key": 12345678901234567890u64 } }),
            "credentials.secret_access_key",
        ),
    ];
    for (body, field) in cases {
        let reply = api.post("/accounts", &admin, body.clone()).await;
        let problem = reply.problem(422);
        assert!(
            !reply.text.contains(&secret) && !reply.text.contains("12345678901234567890"),
            "echoed a secret: {}",
            reply.text
        );
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{body} should name {field}: {problem}"
        );
    }

    // Authentication and authorization.
    api.send("GET", "/accounts", None, None).await.problem(401);
    api.get("/accounts", "not-a-token").await.problem(401);
    let user = env.token(Role::User, "alice@example.com", Some("alice@example.com"));
    let problem = api.post("/accounts", &user, good.clone()).await.problem(403);
    assert!(problem["detail"].as_str().unwrap().contains("admin"));
    api.get("/accounts", &env.token(Role::Bot, "bot:chatops", None))
        .await
        .problem(403);

    // Unknown and malformed ids, bad pagination, unknown routes and methods.
    api.get("/accounts/01ARZ3NDEKTSV4RRFFQ69G5FAV", &admin)
        .await
        .problem(404);
    api.get("/accounts/not-an-id", &admin).await.problem(404);
    api.put("/accounts/01ARZ3NDEKTSV4RRFFQ69G5FAV/jit", &admin, jit(&[]))
        .await
        .problem(404);
    api.patch("/accounts/01ARZ3NDEKTSV4RRFFQ69G5FAV", &admin, json!({ "name": "x" }))
        .await
        .problem(404);
    api.get("/accounts?limit=0", &admin).await.problem(400);
    api.get("/accounts?limit=abc", &admin).await.problem(400);
    api.get("/accounts?cursor=garbage", &admin).await.problem(400);
    api.get("/nowhere", &admin).await.problem(404);
    api.send("POST", "/accounts/01ARZ3NDEKTSV4RRFFQ69G5FAV", Some(&admin), None)
        .await
        .problem(405);

    // JIT settings of a real account: each bad field named, nothing stored.
    let account = api.post("/accounts", &admin, good).await.ok(201);
    let jit_path = format!("/accounts/{}/jit", account["id"].as_str().unwrap());
    let own = format!("arn:aws:iam::{}:role/Admin", target.aws_account_id);
    for (body, field) in [
        (
            json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 899, "allowed_role_arns": [] }),
            "max_duration_seconds",
        ),
        (
            json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 43201, "allowed_role_arns": [] }),
            "max_duration_seconds",
        ),
        (
            json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 900, "allowed_role_arns": ["arn:aws:iam::999999999999:role/Admin"] }),
            "allowed_role_arns[0]",
        ),
        (
            json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 900, "allowed_role_arns": [own, "arn:aws:iam::x:role/y"] }),
            "allowed_role_arns[1]",
        ),
        (
            json!({ "active": "yes", "jit_enabled": true, "max_duration_seconds": 900, "allowed_role_arns": [] }),
            "active",
        ),
        (
            json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 900, "allowed_role_arns": [], "owner": "me" }),
            "owner",
        ),
        (
            json!({ "active": true, "max_duration_seconds": 900, "allowed_role_arns": [] }),
            "jit_enabled",
        ),
    ] {
        let problem = api.put(&jit_path, &admin, body.clone()).await.problem(422);
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body} should name {field:?}: {problem}");
    }
    let unchanged = api.get(&jit_path, &admin).await.ok(200);
    assert_eq!(unchanged["active"], false, "no bad request stored settings");
    api.patch(
        &format!("/accounts/{}", account["id"].as_str().unwrap()),
        &admin,
        json!({}),
    )
    .await
    .problem(422);
}

/// A counter that drifted below zero (a bug, a manual fix) must not make the account unreadable:
/// every session's revocation reads the account.
#[tokio::test]
async fn a_drifted_counter_does_not_make_the_account_unreadable() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let target = env.take_account();
    let account = api
        .post("/accounts", &admin, access_key_registration("drift", &target))
        .await
        .ok(201);
    let id = account["id"].as_str().unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&env.sdk(&env.broker).await);
    ddb.update_item()
        .table_name(&env.config.table_name)
        .key("PK", AttributeValue::S(format!("ACCOUNT#{id}")))
        .key("SK", AttributeValue::S("ACCOUNT".into()))
        .update_expression("SET live_session_count = :minus")
        .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
        .send()
        .await
        .unwrap();
    api.get(&format!("/accounts/{id}"), &admin).await.ok(200);
    api.delete(&format!("/accounts/{id}"), &admin).await.ok(204);
}

/// The broker's own AWS account is never registered (third security review: a broker admin who
/// is not an AWS admin could otherwise provision themselves an administrator there and delete
/// the broker's logs and digests). The broker's own key is what the test registers with.
#[tokio::test]
async fn the_brokers_own_account_is_refused() {
    let env = env();
    let api = env.client();
    let body = json!({
        "name": "the broker itself",
        "default_region": "eu-west-1",
        "credentials": {
            "type": "access_key",
            "access_key_id": env.broker.access_key_id,
            "secret_access_key": env.broker.secret_access_key,
        }
    });
    let reply = api.post("/accounts", &env.admin(), body).await;
    assert!(!reply.text.contains(&env.broker.secret_access_key));
    let p = reply.problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/own-account", "{p}");
    let listed = api.get("/accounts?limit=100", &env.admin()).await.ok(200);
    assert!(
        !listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["aws_account_id"] == local_runner::local_aws::BROKER_ACCOUNT),
        "nothing stored"
    );
}

/// A role registration names the role customers create for the broker (`TargetRoleName`,
/// `CloudIamBrokerAccess` by default), the only one the template lets the broker assume: any
/// other is refused before AWS is asked (third security review: the broker as a confused
/// deputy could otherwise be pointed at any role trusting it).
#[tokio::test]
async fn only_the_role_customers_create_for_the_broker_is_registered() {
    let env = env();
    let api = env.client();
    let target = env.take_account();
    let iam = env.target_iam(&target).await;
    // A role that trusts the broker as well as the seeded one does, under another name.
    let trust = e2e::role_trust(&iam, local_runner::local_aws::BROKER_ACCESS_ROLE)
        .await
        .to_string();
    iam.create_role()
        .role_name("AdminForAnyone")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    let other = format!("arn:aws:iam::{}:role/AdminForAnyone", target.aws_account_id);
    let body = json!({ "name": "other role", "default_region": "eu-west-1",
        "credentials": { "type": "assume_role", "role_arn": other, "external_id": "local-external-id" } });
    let p = api.post("/accounts", &env.admin(), body).await.problem(422);
    assert_eq!(
        p["type"], "tag:cloud-iam-broker,2026:problem/invalid-credentials",
        "{p}"
    );
    assert!(p["detail"].as_str().unwrap().contains("CloudIamBrokerAccess"), "{p}");
    // The role customers create for the broker is registered.
    let external_id = trust_issued_external_id(env, &target).await;
    api.post(
        "/accounts",
        &env.admin(),
        role_registration("broker role", &target, &external_id),
    )
    .await
    .ok(201);
}
