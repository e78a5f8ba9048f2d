//! Identity Center sessions (issue 30) through the HTTP API against the local AWS's IAM
//! Identity Center: an organization's Identity Center set up, groups granting permission sets
//! on an OU, sessions started for identity-store users, and their ends. Every effect is seen
//! with real calls: credentials fetched from the access portal work, then get AccessDenied, and
//! a new fetch is refused, and so is a console opened from them before the end; the same user's
//! other grant, another user of the same permission set, and a second live grant of the same
//! access keep working. Requests are decided as JIT's are, from Slack's buttons too.
//!
//! Its own binary: its scenarios share one registered organization and run in one test holding
//! `serial()`.

use std::time::Duration;

use e2e::consoles::{export_credentials, federated_console};
use e2e::env;
use e2e::identity_center::{aws_cli_caller, role_credentials, sign_in};
use e2e::organization::issue_and_trust;
use e2e::slack::{approval_message, click_answered, command, link_member, requested};
use local_runner::identity_center as seeded;
use serde_json::{Value, json};

/// What the ReadOnly permission set allows: the call `try_call` makes, and a read.
const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":["iam:ListRoles","iam:GetRole"],"Resource":"*"}]}"#;
const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

fn problem(slug: &str) -> String {
    format!("tag:cloud-iam-broker,2026:problem/{slug}")
}

fn start(account: &str, permission_set: &str) -> Value {
    json!({
        "account_id": account,
        "type": "identity_center",
        "permission_set_arn": permission_set,
        "duration_seconds": 3600,
        "reason": "incident INC-30",
    })
}

/// `POST …/enable` for a member, then its account made active (no JIT role needed).
async fn enable(org_id: &str, aws_account_id: &str) -> String {
    e2e::identity_center::enable_member(env(), org_id, aws_account_id).await
}

/// What the scenarios share: the organization registered, prod-1 and prod-2 enabled, three
/// permission sets, and the identity-store users.
struct Setup {
    org_id: String,
    prod1: String,
    prod2: String,
    account1: String,
    account2: String,
    read: String,
    power: String,
    billing: String,
    bob_id: String,
}

async fn setup() -> &'static Setup {
    static SETUP: tokio::sync::OnceCell<Setup> = tokio::sync::OnceCell::const_new();
    SETUP
        .get_or_init(|| async {
            let env = env();
            let api = env.client();
            let admin = env.admin();
            let org = &env.organization;
            let endpoint = &env.aws_endpoint;
            // The organization, registered as issue 29 does.
            let issued = issue_and_trust(env).await;
            let external_id = issued["external_id"].as_str().unwrap();
            api.post("/organizations", &admin, org.registration("acme", external_id))
                .await
                .ok(201);
            let org_id = org.organization_id.clone();
            let (prod1, prod2) = (org.account("prod-1").to_string(), org.account("prod-2").to_string());
            let account1 = enable(&org_id, &prod1).await;
            let account2 = enable(&org_id, &prod2).await;
            // Permission sets and identity-store users, as the organization's administrator
            // makes them.
            let read = seeded::create_permission_set(endpoint, org, "ReadOnly", READ_ONLY).await.unwrap();
            let power = seeded::create_permission_set(endpoint, org, "PowerUser", ALLOW_ALL).await.unwrap();
            let billing = seeded::create_permission_set(endpoint, org, "Billing", ALLOW_ALL).await.unwrap();
            let mut bob_id = String::new();
            for name in ["ana", "bob", "dana", "erin"] {
                let id = seeded::create_user(endpoint, org, name, &format!("{name}@example.com")).await.unwrap();
                if name == "bob" {
                    bob_id = id;
                }
            }
            // Before the organization's Identity Center is set up, a start says so.
            let probe = api
                .post(
                    "/groups",
                    &admin,
                    json!({ "name": "probe", "accounts": [account1], "permissions": { "start_identity_center_sessions": true },
                            "policy": { "permission_set_arns": [read] } }),
                )
                .await
                .ok(201);
            let probe = probe["id"].as_str().unwrap();
            api.put(&format!("/groups/{probe}/members/ana@example.com"), &admin, json!({}))
                .await
                .ok(201);
            let p = api
                .post("/sessions", &env.user("ana@example.com"), start(&account1, &read))
                .await
                .problem(422);
            assert_eq!(p["type"], problem("identity-center-not-set-up").as_str(), "{p}");
            api.delete(&format!("/groups/{probe}"), &admin).await.ok(204);
            Setup {
                org_id,
                prod1,
                prod2,
                account1,
                account2,
                read,
                power,
                billing,
                bob_id,
            }
        })
        .await
}

/// The organization's Identity Center set up through the API (idempotent): its settings.
async fn set_up_identity_center(org_id: &str) -> Value {
    let set = env()
        .client()
        .put(
            &format!("/organizations/{org_id}/identity-center"),
            &env().admin(),
            json!({ "region": seeded::region() }),
        )
        .await
        .ok(200);
    set["identity_center"].clone()
}

#[tokio::test]
async fn identity_center_grants_end_where_they_say() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let org = &env.organization;
    let endpoint = &env.aws_endpoint;
    let s = setup().await;
    let (org_id, prod1, prod2, account1, account2) = (&s.org_id, &s.prod1, &s.prod2, &s.account1, &s.account2);
    let (read, power, billing, bob_id) = (&s.read, &s.power, &s.billing, &s.bob_id);
    let (ana, bob) = (env.user("ana@example.com"), env.user("bob@example.com"));

    // A group granting two permission sets on the Production OU.
    let group = api
        .post(
            "/groups",
            &admin,
            json!({
                "name": "production-identity-center",
                "accounts": [org.unit("Production")],
                "permissions": { "start_identity_center_sessions": true },
                "policy": { "permission_set_arns": [read, power] },
            }),
        )
        .await
        .ok(201);
    assert_eq!(group["policy"]["permission_set_arns"], json!([read, power]), "{group}");
    let gid = group["id"].as_str().unwrap();
    for email in ["ana@example.com", "bob@example.com"] {
        api.put(&format!("/groups/{gid}/members/{email}"), &admin, json!({}))
            .await
            .ok(201);
    }

    let ic = set_up_identity_center(org_id).await;
    let set = json!({ "identity_center": ic });
    let instance = seeded::instance(endpoint, org).await.unwrap();
    assert_eq!(ic["instance_arn"], instance.instance_arn.as_str(), "{set}");
    assert_eq!(ic["identity_store_id"], instance.identity_store_id.as_str(), "{set}");
    assert_eq!(ic["admin_account_id"], org.management_account_id.as_str(), "{set}");
    assert_eq!(ic["user_attribute"], "emails.value", "{set}");
    let start_url = ic["start_url"].as_str().unwrap().to_string();
    assert_eq!(
        start_url,
        format!("https://{}.awsapps.com/start", instance.identity_store_id)
    );
    // A bad setting is refused, and a member that is not in the organization.
    let p = api
        .put(
            &format!("/organizations/{org_id}/identity-center"),
            &admin,
            json!({ "region": "us-east-1", "user_attribute": "phone" }),
        )
        .await
        .problem(422);
    assert_eq!(p["type"], problem("validation").as_str(), "{p}");
    api.put(
        &format!("/organizations/{org_id}/identity-center"),
        &admin,
        json!({ "region": "us-east-1", "admin_account_id": "999999999999" }),
    )
    .await
    .problem(404);

    // Refusals: a permission set no grant names (403), one of no instance of the organization,
    // a user the identity store does not have, an account outside the group's OU.
    let p = api.post("/sessions", &ana, start(account1, billing)).await.problem(403);
    assert!(p["detail"].as_str().unwrap().contains(billing.as_str()), "{p}");
    // Named by a grant, but of another instance, or of this one and not there: 422.
    let instance_id = instance.instance_arn.rsplit('/').next().unwrap();
    let foreign = "arn:aws:sso:::permissionSet/ssoins-ffffffffffffffff/ps-ffffffffffffffff";
    let missing = format!("arn:aws:sso:::permissionSet/{instance_id}/ps-0000000000000000");
    let odd = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "odd-sets", "accounts": [account1], "permissions": { "start_identity_center_sessions": true },
                    "policy": { "permission_set_arns": [foreign, missing] } }),
        )
        .await
        .ok(201);
    let odd = odd["id"].as_str().unwrap();
    api.put(&format!("/groups/{odd}/members/ana@example.com"), &admin, json!({}))
        .await
        .ok(201);
    for set in [foreign, missing.as_str()] {
        let p = api.post("/sessions", &ana, start(account1, set)).await.problem(422);
        assert_eq!(p["type"], problem("permission-set-not-allowed").as_str(), "{set}: {p}");
    }
    api.delete(&format!("/groups/{odd}"), &admin).await.ok(204);
    api.put(&format!("/groups/{gid}/members/carol@example.com"), &admin, json!({}))
        .await
        .ok(201);
    let p = api
        .post("/sessions", &env.user("carol@example.com"), start(account1, read))
        .await
        .problem(422);
    assert_eq!(p["type"], problem("identity-center-user-not-found").as_str(), "{p}");
    let p = api
        .post(
            "/sessions",
            &ana,
            json!({ "account_id": account1, "type": "identity_center", "duration_seconds": 3600, "reason": "no set named" }),
        )
        .await
        .problem(422);
    assert_eq!(p["type"], problem("validation").as_str(), "{p}");

    // /me offers what a start would accept: both permission sets on each Production account.
    let me = api.get("/me", &ana).await.ok(200);
    let offered = |account: &str| -> Vec<String> {
        me["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account_id"] == account)
            .map(|a| {
                a["permission_sets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["permission_set_arn"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut both = vec![read.to_string(), power.to_string()];
    both.sort();
    assert_eq!(offered(account1), both, "{me}");
    assert_eq!(offered(account2), both, "{me}");

    // (a) ana starts ReadOnly on prod-1: the assignment is made and provisioned before the
    // answer, which says how to use it and holds no credential.
    let started = api.post("/sessions", &ana, start(account1, read)).await.ok(201);
    let first = started["session"]["id"].as_str().unwrap().to_string();
    assert_eq!(started["session"]["type"], "identity_center", "{started}");
    assert!(started["session"]["iam_user"].is_null(), "{started}");
    assert_eq!(
        started["session"]["identity_center"]["permission_set_name"], "ReadOnly",
        "{started}"
    );
    assert!(started["session"]["identity_center"]["outside"].is_null(), "{started}");
    let using = &started["identity_center"];
    assert_eq!(
        using["portal_url"],
        format!("{start_url}/#/console?account_id={prod1}&role_name=ReadOnly").as_str(),
        "{started}"
    );
    let profile = using["cli_profile"].as_str().unwrap();
    for line in [
        format!("sso_start_url = {start_url}"),
        format!("sso_account_id = {prod1}"),
        "sso_role_name = ReadOnly".to_string(),
    ] {
        assert!(profile.contains(&line), "{profile}");
    }
    assert!(started.get("credentials").is_none(), "no credential: {started}");
    assert!(
        seeded::assignments(endpoint, org, prod1, read)
            .await
            .unwrap()
            .iter()
            .any(|(kind, _)| kind == "USER"),
        "the assignment is made"
    );

    // With the portal: ana signs in as the AWS CLI does and fetches the credentials.
    let ana_portal = sign_in(env, &start_url, &instance.identity_store_id, "ana").await;
    let ana_read = role_credentials(env, &ana_portal, prod1, "ReadOnly")
        .await
        .expect("ana's ReadOnly");
    env.try_call(&ana_read).await.expect("ana acts with ReadOnly");
    // A console opened from them (the portal's console link signs in the same way), for the
    // 12 hours the federation endpoint allows: it may outlive the credentials.
    let read_console = federated_console(env, &ana_read, 43_200)
        .await
        .expect("a console from the portal's credentials");
    // And with the AWS CLI's SSO profile the answer gave, pointed at the local portal.
    let profile = using["cli_profile"].as_str().unwrap().to_string();
    let arn = aws_cli_caller(env, &profile, &start_url, &ana_portal)
        .await
        .expect("the AWS CLI signs in");
    assert!(
        arn.starts_with(&format!("arn:aws:sts::{prod1}:assumed-role/AWSReservedSSO_ReadOnly_"))
            && arn.ends_with("/ana"),
        "{arn}"
    );
    // Not in an account she was not granted it in.
    let (status, body) = role_credentials(env, &ana_portal, prod2, "ReadOnly").await.unwrap_err();
    assert_eq!(status, 403, "{body}");

    // (b) A second kind of access for the same user, asked from Slack: PowerUser on prod-1. The
    // answer says how to use it (the portal link, the AWS CLI profile) and holds no credential.
    link_member(env, "U0ICANA", "ana@example.com").await;
    let said = command(env, "U0ICANA", &format!("{account1} {power} 1h INC-30 from Slack")).await;
    assert!(
        said.starts_with("Started Identity Center session `")
            && said.contains("*PowerUser*")
            && said.contains(&format!("account_id={prod1}&role_name=PowerUser"))
            && said.contains("sso_role_name = PowerUser")
            && !said.contains("ASIA")
            && !said.to_lowercase().contains("secret"),
        "{said}"
    );
    let power_session = said.split('`').nth(1).unwrap().to_string();
    let listed = command(env, "U0ICANA", "list").await;
    assert!(
        listed.contains(&format!("`{power_session}` Identity Center PowerUser on {prod1}")),
        "{listed}"
    );
    let power_started = json!({ "session": api.get(&format!("/sessions/{power_session}"), &ana).await.ok(200) });
    let ana_power = role_credentials(env, &ana_portal, prod1, "PowerUser")
        .await
        .expect("ana's PowerUser");
    env.try_call(&ana_power).await.expect("ana acts with PowerUser");
    let power_console = federated_console(env, &ana_power, 43_200)
        .await
        .expect("a console from PowerUser's credentials");

    // (c) A second grant of the same access, and bob on the same permission set and account.
    // Both at once: Identity Center refuses a second request on the same permission set and
    // account while one is in progress, and the broker asks again.
    let (second, bobs) = futures::join!(
        api.post("/sessions", &ana, start(account1, read)),
        api.post("/sessions", &bob, start(account1, read))
    );
    let second = second.ok(201)["session"]["id"].as_str().unwrap().to_string();
    bobs.ok(201);
    let bob_portal = sign_in(env, &start_url, &instance.identity_store_id, "bob").await;
    let bob_read = role_credentials(env, &bob_portal, prod1, "ReadOnly")
        .await
        .expect("bob's ReadOnly");

    // (d) The first grant ends early: the second still grants the same access, so it is kept.
    let ended = api.end_session(&ana, &first).await.ok(200);
    assert_eq!(ended["status"], "ended", "{ended}");
    env.try_call(&ana_read)
        .await
        .expect("the second grant keeps ana's ReadOnly");
    role_credentials(env, &ana_portal, prod1, "ReadOnly")
        .await
        .expect("and a new fetch works");

    // (e) The second ends: what the portal handed out before is refused, and so is a new fetch;
    // ana's PowerUser and bob's ReadOnly (the same role) keep working.
    let ended = api.end_session(&ana, &second).await.ok(200);
    assert_eq!(ended["status"], "ended", "{ended}");
    assert_eq!(env.try_call(&ana_read).await, Err("AccessDenied".to_string()));
    let (status, body) = role_credentials(env, &ana_portal, prod1, "ReadOnly").await.unwrap_err();
    assert_eq!(status, 403, "no new fetch: {body}");
    let exported = export_credentials(env, &read_console)
        .await
        .expect("the console itself lives on");
    assert_eq!(
        env.try_call(&exported).await,
        Err("AccessDenied".to_string()),
        "the console opened before the end is refused"
    );
    // Its log, as any session's: verified, from the request to the end.
    let log = api.get(&format!("/sessions/{second}/log"), &ana).await.ok(200);
    let types: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(log["verified"], true, "{log}");
    for t in ["requested", "started", "ended"] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    env.try_call(&ana_power).await.expect("ana's other grant lives");
    let exported = export_credentials(env, &power_console).await.unwrap();
    env.try_call(&exported)
        .await
        .expect("and so does the console opened from it");
    env.try_call(&bob_read)
        .await
        .expect("another user of the permission set lives");
    let refused = aws_cli_caller(env, &profile, &start_url, &ana_portal)
        .await
        .unwrap_err();
    assert!(
        refused.contains("ForbiddenException") || refused.contains("No access"),
        "{refused}"
    );
    let inline: Value = serde_json::from_str(&seeded::inline_policy(endpoint, org, read).await.unwrap()).unwrap();
    let statements = inline["Statement"].as_array().unwrap();
    assert_eq!(
        statements[0]["Sid"], "Read",
        "the customer's statement is kept: {inline}"
    );
    assert_eq!(statements.len(), 2, "one deny, for ana in prod-1: {inline}");
    let deny = &statements[1]["Condition"];
    assert_eq!(deny["StringEquals"]["aws:PrincipalAccount"], prod1.as_str(), "{inline}");
    assert_eq!(
        deny["StringEquals"]["identitystore:userId"], started["session"]["identity_center"]["identity_store_user_id"],
        "{inline}"
    );
    assert!(deny["DateLessThan"]["aws:TokenIssueTime"].is_string(), "{inline}");

    // (f) Access bob already had outside the broker (an assignment an administrator made on
    // prod-2): the start says so, and its end leaves it.
    seeded::assign(endpoint, org, prod2, read, bob_id).await.unwrap();
    let outside = api.post("/sessions", &bob, start(account2, read)).await.ok(201);
    let note = outside["identity_center"]["outside"].as_str().unwrap_or_default();
    assert!(note.contains("did not make"), "{outside}");
    let outside_id = outside["session"]["id"].as_str().unwrap();
    let bob_prod2 = role_credentials(env, &bob_portal, prod2, "ReadOnly")
        .await
        .expect("bob's own access");
    api.end_session(&bob, outside_id).await.ok(200);
    env.try_call(&bob_prod2)
        .await
        .expect("access made outside the broker is left alone");

    // (g) Expiry: ana's PowerUser session runs out; the expirer ends it as an early end does.
    // bob holds PowerUser on prod-1 outside the broker, so its role stays and a deny is needed.
    seeded::assign(endpoint, org, prod1, power, bob_id).await.unwrap();
    env.clock.advance(Duration::from_secs(3700));
    env.drain_expirer().await;
    let got = api.get(&format!("/sessions/{power_session}"), &ana).await.ok(200);
    assert_eq!(got["status"], "expired", "{got}");
    env.clock.reset();
    assert_eq!(env.try_call(&ana_power).await, Err("AccessDenied".to_string()));
    let exported = export_credentials(env, &power_console).await.unwrap();
    assert_eq!(
        env.try_call(&exported).await,
        Err("AccessDenied".to_string()),
        "the console opened before the expiry is refused"
    );
    let (status, body) = role_credentials(env, &ana_portal, prod1, "PowerUser")
        .await
        .unwrap_err();
    assert_eq!(status, 403, "no new fetch after expiry: {body}");
    let power_inline: Value =
        serde_json::from_str(&seeded::inline_policy(endpoint, org, power).await.unwrap()).unwrap();
    let power_denies: Vec<&Value> = power_inline["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["Sid"].as_str().unwrap_or_default().starts_with("CibEnd"))
        .collect();
    assert_eq!(power_denies.len(), 1, "ana's, written by the expirer: {power_inline}");
    assert_eq!(
        power_denies[0]["Condition"]["StringEquals"]["identitystore:userId"],
        power_started["session"]["identity_center"]["identity_store_user_id"]
    );
    let bob_power = role_credentials(env, &bob_portal, prod1, "PowerUser")
        .await
        .expect("bob's own PowerUser");
    env.try_call(&bob_power)
        .await
        .expect("bob's access is not ana's deny's");
    // bob's grant on prod-1 ran out with it; his access made outside the broker did not.
    assert_eq!(env.try_call(&bob_read).await, Err("AccessDenied".to_string()));
    env.try_call(&bob_prod2)
        .await
        .expect("access made outside the broker outlives the expirer too");

    // (h) Once nothing a deny covers can still be live (the permission set's hour, 15 minutes,
    // and the 12 h 15 min a console made from the credentials may outlive them), the sync drops
    // it; the customer's own statement stays.
    let denies = |doc: &str| -> usize {
        serde_json::from_str::<Value>(doc).unwrap()["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|st| st["Sid"].as_str().unwrap_or_default().starts_with("CibEnd"))
            .count()
    };
    // ana's in prod-1; bob's expiry removed the set's last assignment there, and Identity Center
    // the role with it, so it needed none.
    assert_eq!(denies(&seeded::inline_policy(endpoint, org, read).await.unwrap()), 1);
    // PowerUser is taken off the group, which no group then names: its deny (ana's, by the
    // expirer) still goes once nothing it covers can be live.
    api.patch(
        &format!("/groups/{gid}"),
        &admin,
        json!({ "policy": { "permission_set_arns": [read] } }),
    )
    .await
    .ok(200);
    assert_eq!(denies(&seeded::inline_policy(endpoint, org, power).await.unwrap()), 1);
    env.clock.advance(Duration::from_secs(13 * 3600));
    env.run_org_sync().await;
    assert_eq!(
        denies(&seeded::inline_policy(endpoint, org, read).await.unwrap()),
        1,
        "not yet"
    );
    env.clock.advance(Duration::from_secs(3600));
    env.run_org_sync().await;
    let left: Value = serde_json::from_str(&seeded::inline_policy(endpoint, org, read).await.unwrap()).unwrap();
    // PowerUser's deny was written by the expirer 14 hours on (drain_expirer's clock), so it
    // is still needed now, and goes 14 hours later.
    let power_kept = seeded::inline_policy(endpoint, org, power).await.unwrap();
    env.clock.advance(Duration::from_secs(14 * 3600));
    env.run_org_sync().await;
    let power_left = seeded::inline_policy(endpoint, org, power).await.unwrap();
    env.clock.reset();
    assert_eq!(left["Statement"].as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left["Statement"][0]["Sid"], "Read", "{left}");
    assert_eq!(denies(&power_kept), 1, "not yet: {power_kept}");
    assert!(
        power_left.is_empty() || denies(&power_left) == 0,
        "gone, from a set no group names: {power_left}"
    );
}

/// `POST /sessions/{id}/approvals` as `token`.
async fn approve(token: &str, id: &str) -> e2e::Reply {
    env()
        .client()
        .post(
            &format!("/sessions/{id}/approvals"),
            token,
            json!({ "reason": "looks right" }),
        )
        .await
}

#[tokio::test]
async fn approvals_break_glass_and_extensions_as_for_jit() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let org = &env.organization;
    let endpoint = &env.aws_endpoint;
    let s = setup().await;
    let ic = set_up_identity_center(&s.org_id).await;
    let start_url = ic["start_url"].as_str().unwrap().to_string();
    let store = ic["identity_store_id"].as_str().unwrap().to_string();
    let (dana, erin) = (env.user("dana@example.com"), env.user("erin@example.com"));

    let approvers = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "ic-approvers", "accounts": [], "permissions": {} }),
        )
        .await
        .ok(201);
    let approvers = approvers["id"].as_str().unwrap();
    api.put(
        &format!("/groups/{approvers}/members/erin@example.com"),
        &admin,
        json!({}),
    )
    .await
    .ok(201);
    let group = api
        .post(
            "/groups",
            &admin,
            json!({
                "name": "prod-2-power-with-approval",
                "accounts": [s.account2],
                "permissions": { "start_identity_center_sessions": true },
                "policy": {
                    "permission_set_arns": [s.power],
                    "approval": { "approvals_required": 1, "approver_group_ids": [approvers] },
                    "break_glass": { "max_duration_seconds": 1800 },
                },
            }),
        )
        .await
        .ok(201);
    let gid = group["id"].as_str().unwrap();
    api.put(&format!("/groups/{gid}/members/dana@example.com"), &admin, json!({}))
        .await
        .ok(201);
    let dana_portal = sign_in(env, &start_url, &store, "dana").await;

    let mut asking = start(&s.account2, &s.power);
    asking["duration_seconds"] = json!(1800);
    let nothing_assigned = |why: &'static str| {
        let dana_portal = &dana_portal;
        async move {
            let (status, body) = role_credentials(env, dana_portal, &s.prod2, "PowerUser")
                .await
                .unwrap_err();
            assert_eq!(status, 403, "{why}: {body}");
        }
    };

    // Requests denied, cancelled and lapsed assign nothing, as JIT's start nothing.
    let denied = api.post("/sessions", &dana, asking.clone()).await.ok(202);
    let denied = denied["session"]["id"].as_str().unwrap();
    let refused = api
        .post(
            &format!("/sessions/{denied}/denials"),
            &erin,
            json!({ "reason": "not during the freeze" }),
        )
        .await
        .ok(200);
    assert_eq!(refused["status"], "denied", "{refused}");
    nothing_assigned("denied").await;
    let cancelled = api.post("/sessions", &dana, asking.clone()).await.ok(202);
    let cancelled = cancelled["session"]["id"].as_str().unwrap();
    let withdrawn = api
        .post(&format!("/sessions/{cancelled}/cancel"), &dana, json!({}))
        .await
        .ok(200);
    assert_eq!(withdrawn["status"], "cancelled", "{withdrawn}");
    nothing_assigned("cancelled").await;
    let lapsing = api.post("/sessions", &dana, asking.clone()).await.ok(202);
    let lapsing = lapsing["session"]["id"].as_str().unwrap();
    env.clock.advance(Duration::from_secs(3600 + 60));
    env.run_expirer().await;
    env.clock.reset();
    let lapsed = api.get(&format!("/sessions/{lapsing}"), &dana).await.ok(200);
    assert_eq!(lapsed["status"], "lapsed", "{lapsed}");
    nothing_assigned("lapsed").await;
    for id in [denied, cancelled, lapsing] {
        approve(&erin, id).await.problem(409);
    }
    nothing_assigned("a late approval").await;

    // From Slack: dana asks with `/jit` and the permission set's ARN; the approval message names
    // the permission set, and erin's click on its button approves; the access is then dana's,
    // and its end takes it back.
    link_member(env, "U0ICERIN", "erin@example.com").await;
    link_member(env, "U0ICDANA", "dana@example.com").await;
    let from_slack = requested(
        env,
        "U0ICDANA",
        &format!("{} {} 30m INC-30 from Slack", s.account2, s.power),
    )
    .await;
    let message = approval_message(env, &from_slack).await;
    let shown = message.body["text"].as_str().unwrap();
    assert!(
        shown.contains("Identity Center session with the permission set `PowerUser`"),
        "{shown}"
    );
    let answer = click_answered(env, "U0ICERIN", "approve", &from_slack).await;
    assert!(answer.starts_with("You approved"), "{answer}");
    let got = api.get(&format!("/sessions/{from_slack}"), &dana).await.ok(200);
    assert_eq!(got["status"], "active", "{got}");
    assert_eq!(got["request"]["approvals"][0]["via"], "slack:U0ICERIN", "{got}");
    let slack_creds = role_credentials(env, &dana_portal, &s.prod2, "PowerUser")
        .await
        .expect("approved from Slack");
    env.try_call(&slack_creds).await.expect("dana acts");
    api.end_session(&dana, &from_slack).await.ok(200);
    assert_eq!(env.try_call(&slack_creds).await, Err("AccessDenied".to_string()));
    nothing_assigned("the session approved from Slack ended").await;
    // Credentials issued within CLOCK_SKEW of that end's deny are refused: the next grant's
    // come later.
    tokio::time::sleep(Duration::from_secs(6)).await;

    // A request waits for approval: nothing is assigned meanwhile.
    let pending = api.post("/sessions", &dana, asking).await.ok(202);
    let id = pending["session"]["id"].as_str().unwrap().to_string();
    assert_eq!(pending["session"]["status"], "pending", "{pending}");
    assert!(pending.get("identity_center").is_none(), "{pending}");
    let (status, body) = role_credentials(env, &dana_portal, &s.prod2, "PowerUser")
        .await
        .unwrap_err();
    assert_eq!(status, 403, "nothing assigned before the approval: {body}");
    approve(&dana, &id).await.problem(403);

    // The approval grants it; the requester's next read says how to use it, once.
    let approved = approve(&erin, &id).await.ok(200);
    assert_eq!(approved["status"], "active", "{approved}");
    assert_eq!(
        approved["identity_center"]["permission_set_name"], "PowerUser",
        "{approved}"
    );
    let got = api.get(&format!("/sessions/{id}"), &dana).await.ok(200);
    assert_eq!(
        got["granted"]["identity_center"]["portal_url"],
        format!("{start_url}/#/console?account_id={}&role_name=PowerUser", s.prod2).as_str(),
        "{got}"
    );
    let again = api.get(&format!("/sessions/{id}"), &dana).await.ok(200);
    assert!(again.get("granted").is_none(), "handed over once: {again}");
    let creds = role_credentials(env, &dana_portal, &s.prod2, "PowerUser")
        .await
        .expect("assigned once approved");
    env.try_call(&creds).await.expect("dana acts with PowerUser");
    // Her calls are the session's activity: the portal names her role sessions after her.
    let activity = api.get(&format!("/sessions/{id}/activity"), &dana).await.ok(200);
    assert_eq!(activity["lookup"]["value"], "dana", "{activity}");
    assert!(
        activity["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_name"] == "ListRoles"),
        "{activity}"
    );

    // An extension needs the approval too; approved, the session lasts longer and the access
    // is the same (nothing is issued again).
    let before = approved["expires_at"].as_str().unwrap().to_string();
    let asked = api
        .post(
            &format!("/sessions/{id}/extensions"),
            &dana,
            json!({ "duration_seconds": 900, "reason": "the change runs long" }),
        )
        .await
        .ok(202);
    assert_eq!(
        asked["session"]["pending_extension"]["duration_seconds"], 900,
        "{asked}"
    );
    let extended = approve(&erin, &id).await.ok(200);
    assert_eq!(extended["extensions"].as_array().map(Vec::len), Some(1), "{extended}");
    assert!(extended["expires_at"].as_str().unwrap() > before.as_str(), "{extended}");
    env.try_call(&creds).await.expect("the extended access is the same");
    // Past the end it had before, the expirer leaves it: the extension moved the end.
    env.clock.advance(Duration::from_secs(1800 + 60));
    env.run_expirer().await;
    let still = api.get(&format!("/sessions/{id}"), &dana).await.ok(200);
    env.clock.reset();
    assert_eq!(still["status"], "active", "{still}");
    env.try_call(&creds).await.expect("past its first end");

    // On the bus, its events name the permission set and the user in the identity store.
    let events = env.events_of(&id).await;
    let started = events
        .iter()
        .map(|e| &e["detail"])
        .find(|e| e["type"] == "started")
        .unwrap_or_else(|| panic!("a started event: {events:?}"));
    assert_eq!(started["kind"], "identity_center", "{started}");
    assert_eq!(started["permission_set_name"], "PowerUser", "{started}");
    assert_eq!(started["permission_set_arn"], s.power.as_str(), "{started}");
    assert!(
        started["iam_user"].is_null() && started["identity_store_user_id"].is_string(),
        "{started}"
    );

    // Its end refuses what the portal handed out, and a new fetch.
    api.end_session(&dana, &id).await.ok(200);
    assert_eq!(env.try_call(&creds).await, Err("AccessDenied".to_string()));
    role_credentials(env, &dana_portal, &s.prod2, "PowerUser")
        .await
        .unwrap_err();

    // Break-glass: no longer than the grant's break-glass maximum (1800 s); then at once,
    // flagged, reviewed by the approvers, and ended as any other.
    let break_glass = |seconds: u32| {
        json!({ "account_id": s.account2, "type": "identity_center", "permission_set_arn": s.power,
                "duration_seconds": seconds, "reason": "outage OUT-7", "break_glass": true })
    };
    let too_long = api.post("/sessions", &dana, break_glass(3600)).await.problem(422);
    assert_eq!(too_long["type"], problem("invalid-duration").as_str(), "{too_long}");
    nothing_assigned("break-glass refused").await;
    let glass = api.post("/sessions", &dana, break_glass(1800)).await.ok(201);
    let gid2 = glass["session"]["id"].as_str().unwrap().to_string();
    assert_eq!(glass["session"]["break_glass"], true, "{glass}");
    assert!(glass["identity_center"]["portal_url"].is_string(), "{glass}");
    // Its assignment is made before the answer: the portal hands out at once (CLOCK_SKEW after
    // the previous end's deny, which refuses credentials issued in those seconds).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let glass_creds = role_credentials(env, &dana_portal, &s.prod2, "PowerUser")
        .await
        .expect("break-glass assigns at once");
    env.try_call(&glass_creds).await.expect("dana acts at once");
    let unreviewed = api.get("/reviews", &erin).await.ok(200);
    assert!(
        unreviewed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == gid2.as_str()),
        "{unreviewed}"
    );
    api.post(
        &format!("/sessions/{gid2}/review"),
        &erin,
        json!({ "note": "justified" }),
    )
    .await
    .ok(200);
    api.end_session(&dana, &gid2).await.ok(200);
    assert_eq!(env.try_call(&glass_creds).await, Err("AccessDenied".to_string()));
    // The assignments are gone: nothing the broker made is left behind.
    let left = seeded::assignments(endpoint, org, &s.prod2, &s.power).await.unwrap();
    assert!(left.is_empty(), "{left:?}");

    // Access given outside the broker while a request waits: the approval grants what it finds
    // then (`outside`), and the end leaves the administrator's assignment alone.
    let mut asking = start(&s.account2, &s.power);
    asking["duration_seconds"] = json!(1800);
    let waiting = api.post("/sessions", &dana, asking).await.ok(202);
    let wid = waiting["session"]["id"].as_str().unwrap().to_string();
    assert!(waiting["session"]["identity_center"]["outside"].is_null(), "{waiting}");
    let dana_id = waiting["session"]["identity_center"]["identity_store_user_id"]
        .as_str()
        .unwrap()
        .to_string();
    seeded::assign(endpoint, org, &s.prod2, &s.power, &dana_id)
        .await
        .unwrap();
    let approved = approve(&erin, &wid).await.ok(200);
    assert!(approved["identity_center"]["outside"].is_string(), "{approved}");
    api.end_session(&dana, &wid).await.ok(200);
    let kept = seeded::assignments(endpoint, org, &s.prod2, &s.power).await.unwrap();
    assert_eq!(
        kept,
        vec![("USER".to_string(), dana_id)],
        "the administrator's assignment stays"
    );
}
