//! Access groups and memberships through the HTTP API, `GET /me`, and their bad input.

use e2e::{RawBody, Role, env};
use serde_json::{Value, json};

fn group(name: &str, accounts: Value) -> Value {
    json!({ "name": name, "description": "test", "accounts": accounts, "permissions": { "start_sessions": true, "start_jit_sessions": false } })
}

#[tokio::test]
async fn groups_grant_permissions_per_account() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let (a1, _) = env.registered_account("g-one").await;
    let (a2, _) = env.registered_account("g-two").await;
    let email = "frank@example.com";
    let frank = env.user(email);

    // No groups: no permissions anywhere.
    let me = api.get("/me", &frank).await.ok(200);
    assert_eq!((me["groups"].clone(), me["accounts"].clone()), (json!([]), json!([])));
    assert_eq!(me["role"], "user");

    let console = api
        .post("/groups", &admin, group("console-a1", json!([a1])))
        .await
        .ok(201);
    let jit_everywhere = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "jit-all", "accounts": "all", "permissions": { "start_jit_sessions": true } }),
        )
        .await
        .ok(201);
    assert_eq!(jit_everywhere["accounts"], "all");
    let (g1, g2) = (console["id"].as_str().unwrap(), jit_everywhere["id"].as_str().unwrap());
    api.put(&format!("/groups/{g1}/members/{email}"), &admin, json!({}))
        .await
        .ok(201);
    api.put(&format!("/groups/{g2}/members/Frank@Example.com"), &admin, json!({}))
        .await
        .ok(201);

    let me = api.get("/me", &frank).await.ok(200);
    let perms = |id: &str| {
        me["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account_id"] == id)
            .map(|a| a["permissions"].clone())
    };
    assert_eq!(
        perms(&a1),
        Some(
            json!({ "start_sessions": true, "start_jit_sessions": true, "start_shell_sessions": false, "start_identity_center_sessions": false })
        )
    );
    assert_eq!(
        perms(&a2),
        Some(
            json!({ "start_sessions": false, "start_jit_sessions": true, "start_shell_sessions": false, "start_identity_center_sessions": false })
        )
    );

    // Changes apply at once: narrowing a group, removing a member, deleting a group.
    api.patch(
        &format!("/groups/{g1}"),
        &admin,
        json!({ "permissions": { "start_sessions": false } }),
    )
    .await
    .ok(200);
    let renamed = api
        .patch(
            &format!("/groups/{g2}"),
            &admin,
            json!({ "name": "jit-everywhere", "accounts": [a2] }),
        )
        .await
        .ok(200);
    assert_eq!(
        (renamed["name"].as_str(), renamed["accounts"].clone()),
        (Some("jit-everywhere"), json!([a2]))
    );
    let me = api.get("/me", &frank).await.ok(200);
    let perms = |id: &str| {
        me["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account_id"] == id)
            .map(|a| a["permissions"].clone())
    };
    assert_eq!(
        perms(&a1),
        Some(
            json!({ "start_sessions": false, "start_jit_sessions": false, "start_shell_sessions": false, "start_identity_center_sessions": false })
        )
    );
    assert_eq!(
        perms(&a2),
        Some(
            json!({ "start_sessions": false, "start_jit_sessions": true, "start_shell_sessions": false, "start_identity_center_sessions": false })
        )
    );

    api.delete(&format!("/groups/{g1}/members/{email}"), &admin)
        .await
        .ok(204);
    api.delete(&format!("/groups/{g1}/members/{email}"), &admin)
        .await
        .problem(404);
    api.delete(&format!("/groups/{g2}"), &admin).await.ok(204);
    api.get(&format!("/groups/{g2}"), &admin).await.problem(404);
    let me = api.get("/me", &frank).await.ok(200);
    assert_eq!(
        (me["groups"].clone(), me["accounts"].clone()),
        (json!([]), json!([])),
        "removed from one group, the other deleted"
    );

    // The old name is free again after the rename; listing pages through groups.
    api.post("/groups", &admin, group("jit-all", json!([]))).await.ok(201);
    let page = api.get("/groups?limit=1", &admin).await.ok(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
}

#[tokio::test]
async fn bad_group_input_is_refused() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let g = api
        .post("/groups", &admin, group("unique-name", json!("all")))
        .await
        .ok(201);
    let id = g["id"].as_str().unwrap();

    let p = api
        .post("/groups", &admin, group("UNIQUE-name", json!([])))
        .await
        .problem(409);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/group-name-taken");
    api.post("/groups", &admin, group("other", json!(["01ARZ3NDEKTSV4RRFFQ69G5FAV"])))
        .await
        .problem(422);
    for (body, field) in [
        (group("", json!("all")), "name"),
        (group("x", json!("some")), "accounts"),
        (group("x", json!(["not-an-id"])), "accounts[0]"),
        (
            json!({ "name": "x", "accounts": "all", "permissions": { "start_sessions": true, "admin": true } }),
            "permissions.admin",
        ),
        (json!({ "name": "x", "accounts": "all" }), "permissions"),
        (
            json!({ "name": "x", "accounts": "all", "permissions": {}, "members": [] }),
            "members",
        ),
    ] {
        let p = api.post("/groups", &admin, body.clone()).await.problem(422);
        let fields: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body} should name {field}: {p}");
    }
    api.patch(&format!("/groups/{id}"), &admin, json!({}))
        .await
        .problem(422);
    // A JSON array is not an object, though serde would read one as the struct's fields.
    for body in [json!([null, null]), json!(["n", null, "all", {}])] {
        let p = api
            .patch(&format!("/groups/{id}"), &admin, body.clone())
            .await
            .problem(422);
        assert_eq!(p["detail"], "the body must be a JSON object");
        api.post("/groups", &admin, body).await.problem(422);
    }
    // Nested objects too (`permissions: []` was taken as all false).
    let nested = json!({ "name": "nested-array", "accounts": "all", "permissions": [] });
    api.post("/groups", &admin, nested).await.problem(422);
    let nested = json!({ "permissions": [true, true] });
    api.patch(&format!("/groups/{id}"), &admin, nested).await.problem(422);
    // Null means unchanged (the contract allows it): a patch of nulls changes nothing.
    let before = api.get(&format!("/groups/{id}"), &admin).await.ok(200);
    let after = api
        .patch(
            &format!("/groups/{id}"),
            &admin,
            json!({ "name": null, "permissions": null }),
        )
        .await
        .ok(200);
    assert_eq!(
        (&after["name"], &after["permissions"]),
        (&before["name"], &before["permissions"])
    );
    api.send(
        "POST",
        "/groups",
        Some(&admin),
        Some(RawBody::Raw {
            content_type: "application/json",
            bytes: b"[".to_vec(),
        }),
    )
    .await
    .problem(400);
    api.put(&format!("/groups/{id}/members/not-an-email"), &admin, json!({}))
        .await
        .problem(422);
    api.put(
        "/groups/01ARZ3NDEKTSV4RRFFQ69G5FAV/members/a@example.com",
        &admin,
        json!({}),
    )
    .await
    .problem(404);
    api.get("/groups/nope", &admin).await.problem(404);
    api.get("/groups?cursor=bogus", &admin).await.problem(400);

    // Only admins manage groups; bots have no /me.
    let user = env.user("grace@example.com");
    api.post("/groups", &user, group("mine", json!("all")))
        .await
        .problem(403);
    api.put(&format!("/groups/{id}/members/grace@example.com"), &user, json!({}))
        .await
        .problem(403);
    api.get("/groups", &user).await.problem(403);
    let bot = env.token(Role::Bot, "bot:chatops", None);
    api.get("/me", &bot).await.problem(403);
    api.get("/groups", &bot).await.problem(403);
}
