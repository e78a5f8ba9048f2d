//! IAM users through the HTTP API against local AWS: provision, rotate, import, groups and
//! `/me`, deprovision (in IAM's order), and the bad-input cases.

use aws_sdk_iam::Client as Iam;
use e2e::{RawBody, Role, env};
use serde_json::{Value, json};

async fn keys(iam: &Iam, user: &str) -> Vec<String> {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata
        .into_iter()
        .filter_map(|k| k.access_key_id)
        .collect()
}

async fn exists(iam: &Iam, user: &str) -> bool {
    iam.get_user().user_name(user).send().await.is_ok()
}

fn provision_body(email: &str, group: &str, policy: &str) -> Value {
    json!({
        "email": email,
        "console_access": true,
        "credential": true,
        "policy_arns": [policy],
        "groups": [group],
    })
}

/// A customer-managed policy in the account (local AWS loads no AWS-managed ones in tests).
async fn managed_policy(iam: &Iam, name: &str) -> String {
    let doc =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
    iam.create_policy()
        .policy_name(name)
        .policy_document(doc)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap()
}

/// The issue's "done when": provision with console + credential → list → rotate → import →
/// group with permissions → membership → /me → deprovision.
#[tokio::test]
async fn full_identity_lifecycle() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account("identity").await;
    let iam = env.target_iam(&target).await;
    iam.create_group().group_name("developers").send().await.unwrap();
    let policy = managed_policy(&iam, "ListBuckets").await;
    let role = format!("arn:aws:iam::{}:role/OnCall", target.aws_account_id);
    let jit = json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [role] });
    api.put(&format!("/accounts/{account}/jit"), &admin, jit).await.ok(200);

    // Provision: the e-mail becomes the IAM user name.
    let email = "alice@example.com";
    let created = api
        .post(
            &format!("/accounts/{account}/users"),
            &admin,
            provision_body(email, "developers", &policy),
        )
        .await;
    let user = created.ok(201);
    assert_eq!(user["user_name"], email);
    assert_eq!(user["status"], "provisioned");
    assert_eq!(user["console_access"], true);
    let key1 = user["credential"]["access_key_id"].as_str().unwrap().to_string();
    assert!(
        !created.text.contains("secret") && !created.text.contains("password"),
        "{}",
        created.text
    );

    // What IAM now holds: user (tagged), login profile, exactly the recorded key, policy, group, JIT policy.
    let tags = iam.list_user_tags().user_name(email).send().await.unwrap().tags;
    assert!(
        tags.iter()
            .any(|t| t.key == "cloud-iam-broker:managed-by" && t.value == "cloud-iam-broker")
    );
    assert!(iam.get_login_profile().user_name(email).send().await.is_ok());
    assert_eq!(keys(&iam, email).await, vec![key1.clone()]);
    let attached = iam
        .list_attached_user_policies()
        .user_name(email)
        .send()
        .await
        .unwrap()
        .attached_policies
        .unwrap_or_default();
    assert_eq!(
        attached
            .iter()
            .filter_map(|p| p.policy_arn.as_deref())
            .collect::<Vec<_>>(),
        [policy.as_str()]
    );
    let groups = iam.list_groups_for_user().user_name(email).send().await.unwrap().groups;
    assert_eq!(
        groups.iter().map(|g| g.group_name.as_str()).collect::<Vec<_>>(),
        ["developers"]
    );
    let doc = iam
        .get_user_policy()
        .user_name(email)
        .policy_name("CloudIamBrokerJit")
        .send()
        .await
        .unwrap()
        .policy_document;
    // Exactly the account's JIT roles, nothing wider.
    let doc: Value = serde_json::from_str(&shared::routes::percent_decode(&doc)).unwrap();
    assert_eq!(
        doc["Statement"],
        json!([{ "Sid": "CloudIamBrokerJit", "Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"], "Resource": [role] }])
    );

    // List and get (with the trust statement each JIT role needs, and a switch-role link).
    let list = api.get(&format!("/accounts/{account}/users"), &admin).await.ok(200);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user_name"] == email)
    );
    let one = api
        .get(&format!("/accounts/{account}/users/{email}"), &admin)
        .await
        .ok(200);
    let guide = &one["jit_roles"][0];
    assert_eq!(guide["role_arn"], role.as_str());
    let statements = guide["trust_policy_statements"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "JIT and console switch-role: {statements:?}");
    // The role trust, the same for every user: it names the account, not the user.
    for s in statements {
        assert_eq!(
            s["Principal"]["AWS"],
            format!("arn:aws:iam::{}:root", target.aws_account_id)
        );
    }
    assert_eq!(
        statements[0]["Condition"]["StringEquals"]["aws:PrincipalTag/cloud-iam-broker:managed-by"],
        "cloud-iam-broker"
    );
    assert!(guide["switch_role_url"].as_str().unwrap().starts_with(&format!(
        "https://signin.aws.amazon.com/switchrole?account={}&roleName=OnCall",
        target.aws_account_id
    )));

    // Rotate: a new key replaces the old one in IAM, created before the old one goes.
    env.faults.clear_calls(email);
    let rotated = api
        .send(
            "POST",
            &format!("/accounts/{account}/users/{email}/credentials"),
            Some(&admin),
            None,
        )
        .await
        .ok(200);
    let key2 = rotated["credential"]["access_key_id"].as_str().unwrap().to_string();
    assert_ne!(key1, key2);
    assert_eq!(keys(&iam, email).await, vec![key2]);
    let calls: Vec<String> = env
        .faults
        .calls(email)
        .into_iter()
        .filter(|c| c.contains("AccessKey") && c != "ListAccessKeys")
        .collect();
    assert_eq!(
        calls,
        ["CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"],
        "new key first"
    );

    // Import: unmanaged IAM users are recorded as imported; managed ones are not.
    iam.create_user().user_name("legacy-ops").send().await.unwrap();
    let report = api
        .send("POST", &format!("/accounts/{account}/user-imports"), Some(&admin), None)
        .await
        .ok(200);
    let imported: Vec<&str> = report["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_name"].as_str().unwrap())
        .collect();
    assert!(
        imported.contains(&"legacy-ops") && imported.contains(&"admin"),
        "{report}"
    );
    assert!(!imported.contains(&email));
    let again = api
        .send("POST", &format!("/accounts/{account}/user-imports"), Some(&admin), None)
        .await
        .ok(200);
    assert_eq!(again["imported"], json!([]));
    let legacy = api
        .get(&format!("/accounts/{account}/users/legacy-ops"), &admin)
        .await
        .ok(200);
    assert_eq!(legacy["status"], "imported");
    assert_eq!(legacy["email"], Value::Null);
    // Imported users are never changed by the broker.
    api.delete(&format!("/accounts/{account}/users/legacy-ops"), &admin)
        .await
        .problem(409);
    api.send(
        "POST",
        &format!("/accounts/{account}/users/legacy-ops/credentials"),
        Some(&admin),
        None,
    )
    .await
    .problem(409);

    // A group granting both kinds of session on this account, with alice in it.
    let group = api
        .post("/groups", &admin, json!({ "name": "identity-oncall", "accounts": [account], "permissions": { "start_sessions": true, "start_jit_sessions": true } }))
        .await
        .ok(201);
    let gid = group["id"].as_str().unwrap();
    api.put(&format!("/groups/{gid}/members/{email}"), &admin, json!({}))
        .await
        .ok(201);
    api.put(&format!("/groups/{gid}/members/{email}"), &admin, json!({}))
        .await
        .ok(200);
    let members = api.get(&format!("/groups/{gid}/members"), &admin).await.ok(200);
    assert_eq!(members["items"][0]["email"], email);

    let me = api.get("/me", &env.user(email)).await.ok(200);
    assert_eq!(me["email"], email);
    assert_eq!(me["groups"][0]["id"], gid);
    let here = me["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == account.as_str())
        .unwrap();
    assert_eq!(
        here["permissions"],
        json!({ "start_sessions": true, "start_jit_sessions": true, "start_shell_sessions": false, "start_identity_center_sessions": false })
    );
    assert_eq!(
        here["iam_user"],
        json!({ "user_name": email, "status": "provisioned", "has_credential": true })
    );

    // The account cannot go while it has a provisioned user.
    let p = api.delete(&format!("/accounts/{account}"), &admin).await.problem(409);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/account-in-use");

    // Deprovision, in the order IAM requires.
    env.faults.clear_calls(email);
    let gone = api
        .delete(&format!("/accounts/{account}/users/{email}"), &admin)
        .await
        .ok(200);
    assert_eq!(gone["status"], "unprovisioned");
    assert_eq!(gone["credential"], Value::Null);
    let mut mutations: Vec<String> = env
        .faults
        .calls(email)
        .into_iter()
        .filter(|c| c.starts_with("Delete") || c.starts_with("Detach") || c.starts_with("Remove"))
        .collect();
    // One call per key, policy and group: the order of kinds is what IAM requires.
    mutations.dedup();
    assert_eq!(
        mutations,
        [
            "DeleteAccessKey",
            "DeleteLoginProfile",
            "DetachUserPolicy",
            "DeleteUserPolicy",
            "RemoveUserFromGroup",
            "DeleteUser"
        ]
    );
    assert!(!exists(&iam, email).await);
    // Repeating is harmless; the record stays as history.
    api.delete(&format!("/accounts/{account}/users/{email}"), &admin)
        .await
        .ok(200);
    let me = api.get("/me", &env.user(email)).await.ok(200);
    let here = me["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == account.as_str())
        .unwrap();
    assert_eq!(here["iam_user"], Value::Null);

    // Now the account can be deleted (imported records go with it).
    api.delete(&format!("/accounts/{account}"), &admin).await.ok(204);
    api.delete(&format!("/groups/{gid}"), &admin).await.ok(204);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_result() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account("idempotent").await;
    let path = format!("/accounts/{account}/users");
    let body = json!({ "email": "bob@example.com", "credential": true });
    let send = |body: Value| {
        let api = env.client();
        let admin = admin.clone();
        let path = path.clone();
        async move {
            let http = reqwest::Client::new();
            let resp = http
                .post(format!("{}{path}", env.base_url))
                .bearer_auth(admin)
                .header("Idempotency-Key", "provision-bob-1")
                .json(&body)
                .send()
                .await
                .unwrap();
            drop(api);
            let replayed = resp.headers().get("idempotent-replayed").is_some();
            (resp.status().as_u16(), replayed, resp.json::<Value>().await.unwrap())
        }
    };
    let (s1, r1, first) = send(body.clone()).await;
    let (s2, r2, second) = send(body.clone()).await;
    assert_eq!((s1, r1, s2, r2), (201, false, 201, true));
    assert_eq!(first, second);
    assert_eq!(
        keys(&env.target_iam(&target).await, "bob@example.com").await.len(),
        1,
        "one user, one key"
    );
    let (s3, _, p) = send(json!({ "email": "bob@example.com", "credential": false })).await;
    assert_eq!(s3, 422, "{p}");
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/idempotency-key-reused");
    // Without the key, a repeat is a conflict.
    api.post(&path, &admin, body).await.problem(409);
}

#[tokio::test]
async fn bad_user_input_is_refused() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account("bad-users").await;
    let path = format!("/accounts/{account}/users");

    api.post(
        "/accounts/01ARZ3NDEKTSV4RRFFQ69G5FAV/users",
        &admin,
        json!({ "email": "a@example.com" }),
    )
    .await
    .problem(404);
    api.get(&format!("{path}/nobody"), &admin).await.problem(404);
    api.delete(&format!("{path}/nobody"), &admin).await.problem(404);
    api.send("POST", &format!("{path}/nobody/credentials"), Some(&admin), None)
        .await
        .problem(404);

    let too_many: Vec<String> = (0..11).map(|i| format!("arn:aws:iam::aws:policy/P{i}")).collect();
    for (body, field) in [
        (json!({ "console_access": true }), "email"),
        (json!({ "email": "not-an-email" }), "email"),
        (
            json!({ "email": "a@example.com", "user_name": "has space" }),
            "user_name",
        ),
        (
            json!({ "email": "a@example.com", "user_name": "x".repeat(65) }),
            "user_name",
        ),
        (
            json!({ "email": "a@example.com", "policy_arns": too_many }),
            "policy_arns",
        ),
        (
            json!({ "email": "a@example.com", "policy_arns": ["arn:aws:iam::aws:role/Nope"] }),
            "policy_arns[0]",
        ),
        (
            json!({ "email": "a@example.com", "groups": ["bad group"] }),
            "groups[0]",
        ),
        (json!({ "email": "a@example.com", "status": "provisioned" }), "status"),
    ] {
        let p = api.post(&path, &admin, body.clone()).await.problem(422);
        let fields: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body} should name {field}: {p}");
    }
    api.send(
        "POST",
        &path,
        Some(&admin),
        Some(RawBody::Raw {
            content_type: "application/json",
            bytes: b"{".to_vec(),
        }),
    )
    .await
    .problem(400);

    // Users may not manage users, not even their own.
    let carol = env.token(Role::User, "carol@example.com", Some("carol@example.com"));
    api.post(&path, &carol, json!({ "email": "carol@example.com" }))
        .await
        .problem(403);
    api.get(&path, &carol).await.problem(403);

    // A duplicate is refused; so is a name already used in IAM by someone else.
    api.post(&path, &admin, json!({ "email": "dave@example.com" }))
        .await
        .ok(201);
    let p = api
        .post(&path, &admin, json!({ "email": "dave@example.com" }))
        .await
        .problem(409);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/user-exists");
    let iam = env.target_iam(&target).await;
    iam.create_user().user_name("stranger").send().await.unwrap();
    let p = api
        .post(
            &path,
            &admin,
            json!({ "email": "x@example.com", "user_name": "stranger" }),
        )
        .await
        .problem(409);
    assert!(p["detail"].as_str().unwrap().contains("did not create"), "{p}");
    assert!(exists(&iam, "stranger").await, "someone else's user is never touched");

    // AWS refusing a step (a group that does not exist): 422, and everything rolled back.
    let p = api
        .post(
            &path,
            &admin,
            json!({ "email": "erin@example.com", "credential": true, "groups": ["no-such-group"] }),
        )
        .await
        .problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/aws-refused");
    assert!(p["detail"].as_str().unwrap().contains("no-such-group"), "{p}");
    assert!(!exists(&iam, "erin@example.com").await, "rolled back");
    let failed = api.get(&format!("{path}/erin@example.com"), &admin).await.ok(200);
    assert_eq!(failed["status"], "failed");
    assert!(failed["failure"].as_str().unwrap().contains("rolled back"));
    // Fixing the cause and retrying converges.
    iam.create_group().group_name("no-such-group").send().await.unwrap();
    let ok = api
        .post(
            &path,
            &admin,
            json!({ "email": "erin@example.com", "credential": true, "groups": ["no-such-group"] }),
        )
        .await
        .ok(201);
    assert_eq!(ok["status"], "provisioned");
    assert_eq!(keys(&iam, "erin@example.com").await.len(), 1);
}

/// A provisioned user's inline policy follows the account's JIT settings: new roles are
/// allowed, disabling JIT removes the policy.
#[tokio::test]
async fn jit_policy_follows_the_settings() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account("jit-sync").await;
    let iam = env.target_iam(&target).await;
    let user = "heidi@example.com";
    api.post(
        &format!("/accounts/{account}/users"),
        &admin,
        json!({ "email": user, "credential": true }),
    )
    .await
    .ok(201);
    let policy = |iam: Iam| async move {
        iam.get_user_policy()
            .user_name(user)
            .policy_name("CloudIamBrokerJit")
            .send()
            .await
            .ok()
            .map(|p| p.policy_document)
    };
    assert_eq!(policy(iam.clone()).await, None, "JIT not configured: no policy");

    let role = format!("arn:aws:iam::{}:role/Ops", target.aws_account_id);
    let settings =
        json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 1800, "allowed_role_arns": [role] });
    let set = api
        .put(&format!("/accounts/{account}/jit"), &admin, settings)
        .await
        .ok(200);
    assert_eq!(set["policy_sync"], json!({ "updated": 1, "failed": [] }));
    let resources = |doc: Option<String>| -> Value {
        let doc: Value = serde_json::from_str(&shared::routes::percent_decode(&doc.expect("a JIT policy"))).unwrap();
        doc["Statement"][0]["Resource"].clone()
    };
    assert_eq!(resources(policy(iam.clone()).await), json!([role]));

    // A second role is added, then the first removed: the policy follows exactly.
    let second = format!("arn:aws:iam::{}:role/Audit", target.aws_account_id);
    let both = json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 1800, "allowed_role_arns": [role, second] });
    api.put(&format!("/accounts/{account}/jit"), &admin, both).await.ok(200);
    assert_eq!(resources(policy(iam.clone()).await), json!([role, second]));
    let only_second =
        json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 1800, "allowed_role_arns": [second] });
    api.put(&format!("/accounts/{account}/jit"), &admin, only_second)
        .await
        .ok(200);
    assert_eq!(
        resources(policy(iam.clone()).await),
        json!([second]),
        "the removed role is gone"
    );

    let off =
        json!({ "active": true, "jit_enabled": false, "max_duration_seconds": 1800, "allowed_role_arns": [role] });
    api.put(&format!("/accounts/{account}/jit"), &admin, off).await.ok(200);
    assert_eq!(policy(iam.clone()).await, None, "JIT disabled: policy removed");
    let guide = api
        .get(&format!("/accounts/{account}/users/{user}"), &admin)
        .await
        .ok(200);
    assert_eq!(
        guide["jit_roles"].as_array().unwrap().len(),
        1,
        "the guide still lists configured roles"
    );
}
