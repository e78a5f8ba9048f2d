//! AWS Organizations through the HTTP API against the local AWS's seeded organization (issue 29,
//! second part): registration through the organization role with an issued ExternalId, member
//! accounts enabled, a group scoped to an OU covering its accounts now and later, and the sync
//! following new, moved and closed accounts, ending the sessions whose grant went with them.
//! Every effect is observed with real calls: the sessions' credentials work, then get
//! AccessDenied.
//!
//! Its own binary. The scenarios share one registered organization and each sync changes what
//! every later one sees, so they run in one test holding `serial()`.

use e2e::bus::session_event;
use e2e::organization::{enable_for_jit, issue_and_trust, listed_account, organization, strings, sync_now, trust_both};
use e2e::{env, session_credentials};
use local_runner::organization as seeded;
use serde_json::{Value, json};

fn problem(slug: &str) -> String {
    format!("tag:cloud-iam-broker,2026:problem/{slug}")
}

/// The `resolved_account_ids` of a group.
fn resolved(group: &Value) -> Vec<String> {
    strings(&group["resolved_account_ids"])
}

#[tokio::test]
async fn an_organization_covers_its_accounts_now_and_later() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let org = &env.organization;
    let (workloads, production, sandbox) = (
        org.unit("Workloads").to_string(),
        org.unit("Production").to_string(),
        org.unit("Sandbox").to_string(),
    );
    let root = org.root_id.clone();

    // An ExternalId typed by hand, not issued by the broker: refused before AWS is asked.
    let p = api
        .post(
            "/organizations",
            &admin,
            org.registration("typed", "cib-typed-by-hand-0123456789abcdef"),
        )
        .await
        .problem(422);
    assert_eq!(p["type"], problem("external-id-not-issued").as_str(), "{p}");

    // (a) Registration: an issued ExternalId, its trust on the organization role and on the
    // members' CloudIamBrokerAccess, then POST /organizations.
    let issued = issue_and_trust(env).await;
    let external_id = issued["external_id"].as_str().unwrap().to_string();
    let created = api
        .post("/organizations", &admin, org.registration("acme", &external_id))
        .await;
    let registered = created.ok(201);
    let id = registered["id"].as_str().expect("an organization id").to_string();
    assert_eq!(id, org.organization_id, "the id is AWS's organization id");
    assert_eq!(
        created.header("location").as_deref(),
        Some(format!("/organizations/{id}").as_str())
    );
    assert_eq!(registered["name"], "acme");
    assert_eq!(registered["management_account_id"], org.management_account_id.as_str());
    assert_eq!(registered["role_arn"], org.reader_role_arn.as_str());
    assert_eq!(registered["member_role_name"], "CloudIamBrokerAccess");
    assert_eq!(registered["root_id"], root.as_str());
    assert_eq!(registered["enable_new_accounts"], false);
    assert!(!created.text.contains(&external_id), "the ExternalId is never returned");

    let got = organization(env, &id).await;
    let units = got["units"].as_array().expect("units");
    assert_eq!(units.len(), 3, "{got}");
    for (ou, name, parent) in [
        (&workloads, "Workloads", &root),
        (&production, "Production", &workloads),
        (&sandbox, "Sandbox", &root),
    ] {
        let unit = units
            .iter()
            .find(|u| u["id"] == ou.as_str())
            .unwrap_or_else(|| panic!("{name} is listed: {got}"));
        assert_eq!(
            (unit["name"].as_str(), unit["parent_id"].as_str()),
            (Some(name), Some(parent.as_str())),
            "{got}"
        );
    }
    // The six members and the management account itself (at the root), each with its path.
    assert_eq!(got["accounts"].as_array().map(Vec::len), Some(7), "{got}");
    let (wl, pr, sb) = (workloads.as_str(), production.as_str(), sandbox.as_str());
    let expected: [(&str, Vec<&str>); 6] = [
        ("prod-1", vec![wl, pr]),
        ("prod-2", vec![wl, pr]),
        ("shared-services", vec![wl]),
        ("sandbox-1", vec![sb]),
        ("sandbox-2", vec![sb]),
        ("audit", vec![]),
    ];
    for (name, path) in &expected {
        let aws_account = org.account(name);
        let listed = listed_account(&got, aws_account).unwrap_or_else(|| panic!("{name} is listed: {got}"));
        assert_eq!(listed["name"], *name, "{listed}");
        assert_eq!(listed["state"], "active", "{listed}");
        assert_eq!(listed["ou_path"], json!(path), "{listed}");
        assert_eq!(
            listed["parent_id"],
            path.last().copied().unwrap_or(root.as_str()),
            "{listed}"
        );
        assert!(listed["account_id"].is_null(), "not enabled yet: {listed}");
    }
    let management = listed_account(&got, &org.management_account_id)
        .unwrap_or_else(|| panic!("the management account is listed: {got}"));
    assert_eq!(
        (management["ou_path"].clone(), management["parent_id"].clone()),
        (json!([]), json!(root))
    );
    let list = api.get("/organizations", &admin).await.ok(200);
    let item = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|o| o["id"] == id.as_str())
        .unwrap_or_else(|| panic!("the organization is listed: {list}"));
    assert!(item.get("units").is_none() && item.get("accounts").is_none(), "{item}");

    // (b) prod-1 enabled, a group scoped to Workloads (Production's parent): a member of the
    // group starts a JIT session there and the credentials work.
    let email = "oncall.org@example.com";
    let user = env.user(email);
    let prod1 = org.account("prod-1").to_string();
    let m1 = enable_for_jit(env, &id, &prod1, "prod1", email).await;
    assert_eq!(
        m1.enabled["credentials"]["role_arn"],
        format!("arn:aws:iam::{prod1}:role/CloudIamBrokerAccess").as_str(),
        "{}",
        m1.enabled
    );
    let account = api.get(&format!("/accounts/{}", m1.account), &admin).await.ok(200);
    assert_eq!(account["organization"]["id"], id.as_str(), "{account}");
    assert_eq!(
        account["organization"]["ou_path"],
        json!([workloads, production]),
        "{account}"
    );
    assert_eq!(account["organization"]["state"], "active", "{account}");
    let got = organization(env, &id).await;
    assert_eq!(
        listed_account(&got, &prod1).map(|a| a["account_id"].clone()),
        Some(json!(m1.account))
    );
    let p = api
        .send(
            "POST",
            &format!("/organizations/{id}/accounts/{prod1}/enable"),
            Some(&admin),
            None,
        )
        .await
        .problem(409);
    assert_eq!(p["type"], problem("already-registered").as_str(), "{p}");

    let group = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "workloads-oncall", "accounts": [workloads], "permissions": { "start_jit_sessions": true } }),
        )
        .await
        .ok(201);
    assert_eq!(group["accounts"], json!([workloads]), "kept as given: {group}");
    let gid = group["id"].as_str().unwrap().to_string();
    api.put(&format!("/groups/{gid}/members/{email}"), &admin, json!({}))
        .await
        .ok(201);
    let g = api.get(&format!("/groups/{gid}"), &admin).await.ok(200);
    assert!(resolved(&g).contains(&m1.account), "{g}");
    let me = api.get("/me", &user).await.ok(200);
    let on_prod1 = me["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == m1.account.as_str())
        .unwrap_or_else(|| panic!("/me covers prod-1: {me}"));
    assert_eq!(on_prod1["permissions"]["start_jit_sessions"], true, "{me}");

    let started1 = api.post("/sessions", &user, m1.jit(900)).await.ok(201);
    let s1 = started1["session"]["id"].as_str().unwrap().to_string();
    let creds1 = session_credentials(&started1);
    assert_eq!(env.try_call(&creds1).await, Ok(()), "the session's credentials work");

    // (c) Now and later: an account created under Production (nested under Workloads) after the
    // registration is discovered by the sync; enabled, its member starts a session there without
    // any edit to the group.
    let prod3 = seeded::create_member_account(&env.aws_endpoint, org, "prod-3", &production)
        .await
        .expect("the account is created under Production");
    // The StackSet's auto-deployment gives it CloudIamBrokerAccess with the ExternalId parameter.
    seeded::deploy_access_role(&env.aws_endpoint, org, &prod3, &issued["trust_policy"].to_string())
        .await
        .expect("CloudIamBrokerAccess trusts the organization's ExternalId");
    let got = organization(env, &id).await;
    assert!(listed_account(&got, &prod3).is_none(), "not before a sync: {got}");
    env.run_org_sync().await;
    let got = organization(env, &id).await;
    let listed = listed_account(&got, &prod3).unwrap_or_else(|| panic!("the sync discovered prod-3: {got}"));
    assert_eq!(listed["name"], "prod-3", "{listed}");
    assert_eq!(listed["state"], "active", "{listed}");
    assert_eq!(listed["ou_path"], json!([workloads, production]), "{listed}");
    assert!(listed["account_id"].is_null(), "{listed}");

    let m3 = enable_for_jit(env, &id, &prod3, "prod3", email).await;
    // The sync now (POST …/sync) re-resolves the OU-scoped group: it covers prod-3 too.
    let report = sync_now(env, &id).await;
    assert_eq!(report["organization_id"], id.as_str(), "{report}");
    assert_eq!(
        (report["accounts"].as_u64(), report["units"].as_u64()),
        (Some(8), Some(3)),
        "{report}"
    );
    assert!(strings(&report["sessions_ended"]).is_empty(), "{report}");
    let g = api.get(&format!("/groups/{gid}"), &admin).await.ok(200);
    assert_eq!(g["accounts"], json!([workloads]), "the group was not edited: {g}");
    assert!(
        resolved(&g).contains(&m1.account) && resolved(&g).contains(&m3.account),
        "{g}"
    );
    let started3 = api.post("/sessions", &user, m3.jit(900)).await.ok(201);
    let s3 = started3["session"]["id"].as_str().unwrap().to_string();
    let creds3 = session_credentials(&started3);
    assert_eq!(env.try_call(&creds3).await, Ok(()));

    // (d) prod-1 moved out of Workloads (to Sandbox) while its session lives: the sync ends
    // exactly that session, its credentials are refused, and no new one starts there.
    seeded::move_account(&env.aws_endpoint, org, &prod1, &sandbox)
        .await
        .expect("prod-1 moves to Sandbox");
    let report = sync_now(env, &id).await;
    let moved = strings(&report["moved"]);
    assert!(moved.contains(&prod1) || moved.contains(&m1.account), "{report}");
    assert_eq!(strings(&report["sessions_ended"]), vec![s1.clone()], "{report}");
    assert!(report["groups_updated"].as_u64() >= Some(1), "{report}");
    let ended = api.get(&format!("/sessions/{s1}"), &admin).await.ok(200);
    assert_eq!(ended["status"], "ended", "{ended}");
    assert_eq!(ended["end_reason"], "out-of-scope", "{ended}");
    // The admin is told by the session's own end event, with the reason.
    let event = session_event(env, &s1, "ended", "Session ended").await;
    assert_eq!(event["end_reason"], "out-of-scope", "{event}");
    assert_eq!(
        env.try_call(&creds1).await,
        Err("AccessDenied".into()),
        "the ended session's credentials are refused"
    );
    assert_eq!(env.try_call(&creds3).await, Ok(()), "the session still granted goes on");
    api.post("/sessions", &user, m1.jit(900)).await.problem(403);
    let g = api.get(&format!("/groups/{gid}"), &admin).await.ok(200);
    assert!(
        !resolved(&g).contains(&m1.account) && resolved(&g).contains(&m3.account),
        "{g}"
    );
    let account = api.get(&format!("/accounts/{}", m1.account), &admin).await.ok(200);
    assert_eq!(account["organization"]["ou_path"], json!([sandbox]), "{account}");

    // (e) prod-3 closed while its session lives: the sync ends it, the listing shows the state,
    // and no new session starts there.
    seeded::close_account(&env.aws_endpoint, org, &prod3)
        .await
        .expect("prod-3 closes");
    let report = sync_now(env, &id).await;
    let closed = strings(&report["closed"]);
    assert!(closed.contains(&prod3) || closed.contains(&m3.account), "{report}");
    assert_eq!(strings(&report["sessions_ended"]), vec![s3.clone()], "{report}");
    // A closed account refuses the broker as it refuses everyone: the end is claimed and
    // stays `ending` (the expirer retries the deny, the revocation alarm tells the admins),
    // while AWS itself refuses the session's credentials.
    let ending = api.get(&format!("/sessions/{s3}"), &admin).await.ok(200);
    assert_eq!(ending["status"], "ending", "{ending}");
    assert_eq!(ending["end_reason"], "account-closed", "{ending}");
    assert!(
        env.try_call(&creds3).await.is_err_and(|e| e.contains("AccessDenied")),
        "a closed account's session credentials are refused"
    );
    let got = organization(env, &id).await;
    let state = listed_account(&got, &prod3).map(|a| a["state"].clone());
    assert!(
        matches!(
            state.as_ref().and_then(Value::as_str),
            Some("closed" | "suspended" | "pending_closure")
        ),
        "{got}"
    );
    let refused = api.post("/sessions", &user, m3.jit(900)).await;
    assert!(matches!(refused.status, 403 | 422), "{refused:?}");
    refused.problem(refused.status);

    // (f) An account not in the organization cannot be enabled through it.
    let stranger = env.take_account();
    api.send(
        "POST",
        &format!("/organizations/{id}/accounts/{}/enable", stranger.aws_account_id),
        Some(&admin),
        None,
    )
    .await
    .problem(404);

    // Registered twice (with a fresh issued ExternalId the role trusts too): 409.
    let again = e2e::registration::issue_external_id(env).await;
    let again_id = again["external_id"].as_str().unwrap();
    let both = trust_both(&issued["trust_policy"], again_id);
    seeded::set_reader_trust(&env.aws_endpoint, org, &both.to_string())
        .await
        .expect("the organization role trusts both ExternalIds");
    let p = api
        .post("/organizations", &admin, org.registration("acme-again", again_id))
        .await
        .problem(409);
    assert_eq!(p["type"], problem("organization-registered").as_str(), "{p}");
    seeded::set_reader_trust(&env.aws_endpoint, org, &issued["trust_policy"].to_string())
        .await
        .expect("the organization role trusts the registered ExternalId alone again");
    // The registered organization still syncs.
    sync_now(env, &id).await;

    // (g) Removed: refused while a group names its OUs; then its registration goes, its enabled
    // accounts stay registered accounts (outside any organization), and nothing is left to read.
    let p = api.delete(&format!("/organizations/{id}"), &admin).await.problem(409);
    assert_eq!(p["type"], problem("organization-in-use").as_str(), "{p}");
    api.delete(&format!("/groups/{gid}"), &admin).await.ok(204);
    api.delete(&format!("/organizations/{id}"), &admin).await.ok(204);
    api.get(&format!("/organizations/{id}"), &admin).await.problem(404);
    let listed = api.get("/organizations", &admin).await.ok(200);
    assert_eq!(listed["items"], json!([]), "{listed}");
    let kept = api.get(&format!("/accounts/{}", m1.account), &admin).await.ok(200);
    assert!(
        kept["organization"].is_null(),
        "an enabled account stays, outside any organization: {kept}"
    );
}

#[tokio::test]
async fn bad_input_is_refused() {
    let env = env();
    let api = env.client();
    let admin = env.admin();

    // Not a role ARN: validation.
    let mut body = env
        .organization
        .registration("bad", "cib-0123456789abcdef0123456789abcdef");
    body["role_arn"] = json!("not-an-arn");
    let p = api.post("/organizations", &admin, body).await.problem(422);
    assert_eq!(p["type"], problem("validation").as_str(), "{p}");

    // A group naming an OU no registered organization has.
    let unknown = "ou-zzzz-zzzzzzzz";
    let p = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "unknown-ou", "accounts": [unknown], "permissions": { "start_jit_sessions": true } }),
        )
        .await
        .problem(422);
    assert_eq!(p["type"], problem("validation").as_str(), "{p}");
    assert!(p["detail"].as_str().unwrap_or_default().contains(unknown), "{p}");

    // No such organization.
    let none = "o-zzzzzzzzzz";
    api.get(&format!("/organizations/{none}"), &admin).await.problem(404);
    api.send(
        "POST",
        &format!(
            "/organizations/{none}/accounts/{}/enable",
            env.organization.account("audit")
        ),
        Some(&admin),
        None,
    )
    .await
    .problem(404);
    api.send("POST", &format!("/organizations/{none}/sync"), Some(&admin), None)
        .await
        .problem(404);

    // Admins only.
    let user = env.user("curious@example.com");
    api.get("/organizations", &user).await.problem(403);
    api.post(
        "/organizations",
        &user,
        env.organization
            .registration("mine", "cib-0123456789abcdef0123456789abcdef"),
    )
    .await
    .problem(403);
}
