//! Revocation observed with real calls: every test here uses the credentials a session handed
//! out (or the IAM user's own key, as the console would) against local AWS, which evaluates
//! the roles' and users' policies with the condition keys revocation relies on
//! (`local/aws/`). What must hold: ending a session denies exactly that session and what was
//! made from it; nothing else.
//!
//! Its own binary: it moves the broker's clock and holds AssumeRole calls.

use std::time::Duration;

use aws_credential_types::Credentials;
use e2e::{Fault, Fixture, TestEnv, env, fixture, session_credentials};
use serde_json::{Value, json};

fn jit(f: &Fixture, seconds: i64) -> Value {
    f.jit(seconds)
}

fn console(f: &Fixture) -> Value {
    json!({ "account_id": f.account, "type": "console", "duration_seconds": 900, "reason": "check the billing console" })
}

async fn end(env: &TestEnv, token: &str, id: &str) -> Value {
    env.client().end_session(token, id).await.ok(200)
}

/// Waits out nothing: local AWS applies policies at once. A denial is asserted by its code.
async fn denied(env: &TestEnv, creds: &Credentials) -> bool {
    env.try_call(creds).await == Err("AccessDenied".into())
}

/// What the console's switch-role does: AssumeRole as the IAM user, named after the user.
async fn switch_role(env: &TestEnv, f: &Fixture, user: &Credentials) -> Result<Credentials, String> {
    assume_as(env, f, user, &f.email, None).await
}

/// AssumeRole into the fixture's role as `user`, with a session name and SourceIdentity.
async fn assume_as(
    env: &TestEnv,
    f: &Fixture,
    user: &Credentials,
    session_name: &str,
    source_identity: Option<&str>,
) -> Result<Credentials, String> {
    env.assume_role_as(user, &f.role, session_name, source_identity).await
}

#[tokio::test]
async fn ending_a_session_denies_exactly_its_credentials() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "exact").await;
    let s1 = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let s2 = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let (c1, c2) = (session_credentials(&s1), session_credentials(&s2));
    assert_eq!(env.try_call(&c1).await, Ok(()));
    assert_eq!(env.try_call(&c2).await, Ok(()));

    end(env, &f.token, s1["session"]["id"].as_str().unwrap()).await;
    assert!(denied(env, &c1).await, "the ended session's credentials are refused");
    assert_eq!(
        env.try_call(&c2).await,
        Ok(()),
        "the same user's other session on the same role lives"
    );
    let s3 = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    assert_eq!(
        env.try_call(&session_credentials(&s3)).await,
        Ok(()),
        "a session started after the end works"
    );
    // Credentials from an ended session cannot start anything either (no chaining).
    end(env, &f.token, s2["session"]["id"].as_str().unwrap()).await;
    assert!(denied(env, &c2).await);
}

/// A JIT session cannot chain into another role: the role it would land on is beyond the
/// broker's revocation. The session policy every JIT AssumeRole carries refuses it.
#[tokio::test]
async fn a_jit_session_cannot_chain_into_another_role() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "chain").await;
    // The downstream role trusts the JIT role fully (a chained session carries its SourceIdentity).
    let trust = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Principal": { "AWS": f.role }, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"] }] });
    f.iam
        .create_role()
        .role_name("Downstream-chain")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    f.iam
        .put_role_policy()
        .role_name(f.role_name())
        .policy_name("may-chain")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"],"Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let s = env.client().post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let sdk = env.sdk(&env.broker).await;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .credentials_provider(session_credentials(&s))
            .build(),
    );
    let err = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{}:role/Downstream-chain", f.aws_account))
        .role_session_name("chained")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
        Some("AccessDenied")
    );
}

/// `cib credential-process` starts a new session five minutes before the old one expires; the
/// old one's expiry must not take the new credentials with it, although the expiry denies the
/// old session's identity (for the consoles made from it).
#[tokio::test]
async fn refreshed_credentials_survive_the_old_sessions_expiry() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "refresh").await;
    let old = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    env.clock.advance(Duration::from_secs(600));
    let new = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    env.faults.clear_calls(f.role_name());
    env.clock.advance(Duration::from_secs(320));
    env.run_expirer().await;
    let old_now = api
        .get(
            &format!("/sessions/{}", old["session"]["id"].as_str().unwrap()),
            &f.token,
        )
        .await
        .ok(200);
    assert_eq!(old_now["status"], "expired");
    assert_eq!(env.try_call(&session_credentials(&new)).await, Ok(()));
    // A natural expiry denies the session's identity too: a console signed in from its
    // credentials outlives them (docs/revocation.md), and the deny is what ends it.
    assert!(
        env.faults.calls(f.role_name()).iter().any(|c| c == "PutRolePolicy"),
        "a deny for the expired session: {:?}",
        env.faults.calls(f.role_name())
    );
    assert!(
        denied(env, &session_credentials(&old)).await,
        "the old identity is denied"
    );
}

/// A console session: the IAM user works during it and may switch into the JIT role (its
/// groups grant JIT); its end denies the user and the switched role session, and leaves the
/// same user's JIT session alone.
#[tokio::test]
async fn a_console_end_cuts_the_user_and_its_switched_role_sessions() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "console-cut").await;
    let user = f.user_key().await;
    assert!(denied(env, &user).await, "no standing access outside a session");
    assert_eq!(
        switch_role(env, &f, &user).await.err().as_deref(),
        Some("AccessDenied"),
        "no switch-role outside a session"
    );
    let j = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let c = api.post("/sessions", &f.token, console(&f)).await.ok(201);
    assert_eq!(
        c["console"]["switch_role_links"].as_array().map(Vec::len),
        Some(1),
        "{c}"
    );
    // One password, one console session.
    let p = api.post("/sessions", &f.token, console(&f)).await.problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/console-session-live");

    assert_eq!(
        env.try_call(&user).await,
        Ok(()),
        "the console user works during the session"
    );
    let switched = switch_role(env, &f, &user)
        .await
        .expect("switch-role during the session");
    assert_eq!(env.try_call(&switched).await, Ok(()));
    // The console's credentials cannot mint a session under the broker's names (which no end
    // would revoke), and the broker starts no JIT session while the console one lives.
    assert_eq!(
        assume_as(env, &f, &user, "cib-01JD0000000000000000000000", Some(&f.email))
            .await
            .err()
            .as_deref(),
        Some("AccessDenied")
    );
    let p = api.post("/sessions", &f.token, jit(&f, 900)).await.problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/console-session-live");

    end(env, &f.token, c["session"]["id"].as_str().unwrap()).await;
    assert!(denied(env, &user).await, "the IAM user is cut off");
    assert!(
        denied(env, &switched).await,
        "the role session it switched into is cut off"
    );
    assert_eq!(
        env.try_call(&session_credentials(&j)).await,
        Ok(()),
        "the same user's JIT session lives"
    );
    // A new console session works again. Its switch-role sessions of the next 30 s are still
    // cut: the cut covers IAM's propagation of the lock and clock skew (docs/revocation.md).
    api.post("/sessions", &f.token, console(&f)).await.ok(201);
    assert_eq!(env.try_call(&user).await, Ok(()), "the console user works again");
    let again = switch_role(env, &f, &user)
        .await
        .expect("switch-role in the new session");
    assert!(denied(env, &again).await, "within the cut's allowance");
}

/// A user whose groups grant console sessions but not JIT cannot switch into a JIT role,
/// even during a console session.
#[tokio::test]
async fn console_only_users_cannot_assume_jit_roles() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "console-only").await;
    let groups = api.get("/groups?limit=100", &admin).await.ok(200);
    let gid = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "sessions-console-only")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.patch(
        &format!("/groups/{gid}"),
        &admin,
        json!({ "permissions": { "start_sessions": true, "start_jit_sessions": false } }),
    )
    .await
    .ok(200);
    let user = f.user_key().await;
    let c = api.post("/sessions", &f.token, console(&f)).await.ok(201);
    assert_eq!(c["console"]["switch_role_links"], json!([]));
    assert_eq!(env.try_call(&user).await, Ok(()), "the console works");
    assert_eq!(switch_role(env, &f, &user).await.err().as_deref(), Some("AccessDenied"));
}

/// An end that lands while a start waits for STS: the start hands nothing out, and the
/// credentials STS issued are refused, because the end revoked the session by identity.
#[tokio::test]
async fn an_end_racing_a_start_leaves_nothing_live() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "race").await;
    let (reached, go) = env.assume_gate.arm();
    let start = {
        let api = env.client();
        let token = f.token.clone();
        let body = jit(&f, 900);
        tokio::spawn(async move { api.post("/sessions", &token, body).await })
    };
    let name = tokio::time::timeout(Duration::from_secs(30), reached)
        .await
        .expect("the start reached STS")
        .unwrap();
    let id = name.strip_prefix("cib-").unwrap().to_string();
    let ended = end(env, &f.token, &id).await;
    assert_eq!(ended["status"], "ended");
    go.send(()).unwrap();
    let reply = start.await.unwrap();
    let p = reply.problem(409);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/ended-while-starting");
    assert!(!reply.text.contains("secret_access_key"));
    let issued = env.assume_gate.issued(&name).expect("STS issued credentials");
    let creds = Credentials::new(
        issued.access_key_id,
        issued.secret_access_key.expose(),
        Some(issued.session_token.expose().to_string()),
        None,
        "raced",
    );
    assert!(
        denied(env, &creds).await,
        "the credentials STS issued after the end are refused"
    );
    let now = env.client().get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(now["status"], "ended");
}

/// Revocations that failed are retried by the expirer in one batch: one policy write for the
/// role, however many sessions, and every one of them is then refused.
#[tokio::test]
async fn the_expirer_writes_each_role_once_per_run() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "batch").await;
    let role = f.role_name();
    let mut creds = Vec::new();
    for _ in 0..5 {
        let s = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
        creds.push(session_credentials(&s));
        env.faults.inject(role, "PutRolePolicy", 0, Fault::Fail);
        api.end_session(&f.token, s["session"]["id"].as_str().unwrap())
            .await
            .problem(503);
    }
    for c in &creds {
        assert_eq!(env.try_call(c).await, Ok(()), "not yet revoked: the writes failed");
    }
    env.faults.clear_calls(role);
    env.clock.advance(Duration::from_secs(120));
    let report = env.run_expirer().await;
    assert_eq!(report.retried, 5, "{report:?}");
    let writes = env
        .faults
        .calls(role)
        .iter()
        .filter(|c| c.as_str() == "PutRolePolicy")
        .count();
    assert_eq!(writes, 1, "one write for the role: {:?}", env.faults.calls(role));
    for c in &creds {
        assert!(denied(env, c).await);
    }
}

/// Past what the role's inline policy holds, revocations continue on managed policies the
/// broker attaches, and a session denied there is refused like any other.
#[tokio::test]
async fn revocations_past_the_inline_limit_spill_onto_managed_policies() {
    use shared::ports::RevocationStore;
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "spill").await;
    // 300 revoked sessions still valid: more than page 0 holds, so the next goes to page 1.
    let mut record = shared::domain::revocation::RoleRevocations::default();
    let earlier: Vec<_> = (0..300)
        .map(|_| shared::domain::revocation::Cut::Session {
            id: shared::domain::SessionId::generate(),
            dead_after: i64::MAX / 2,
        })
        .collect();
    record.apply(&earlier).unwrap();
    record.version = 1;
    let store = shared::adapters::aws::dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&env.sdk(&env.broker).await),
        env.config.table_name.clone(),
    );
    let role = shared::domain::RoleArn::parse(&f.role).unwrap();
    store.put_revocations(&role, &record).await.unwrap();

    let live = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let ended = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let id = ended["session"]["id"].as_str().unwrap();
    end(env, &f.token, id).await;
    let attached = f
        .iam
        .list_attached_role_policies()
        .role_name(f.role_name())
        .send()
        .await
        .unwrap()
        .attached_policies
        .unwrap_or_default();
    assert_eq!(attached.len(), 1, "one managed page: {attached:?}");
    assert!(
        denied(env, &session_credentials(&ended)).await,
        "denied from the managed page"
    );
    assert_eq!(env.try_call(&session_credentials(&live)).await, Ok(()));
}

/// Saving JIT settings reviews each allowed role's trust policy for ways in that bypass the
/// broker, in the answer and in `GET /accounts/{id}/jit`.
#[tokio::test]
async fn jit_settings_report_trust_that_bypasses_the_broker() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "trust").await;
    let mut statements = f.trust_statements(env).await;
    statements.push(json!({ "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{}:root", f.aws_account) }, "Action": "sts:AssumeRole" }));
    statements.push(json!({ "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{}:role/Hub", f.aws_account) }, "Action": "sts:AssumeRole" }));
    f.set_trust(&statements).await;
    let settings =
        json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [f.role] });
    let saved = api
        .put(&format!("/accounts/{}/jit", f.account), &admin, settings)
        .await
        .ok(200);
    let read = api.get(&format!("/accounts/{}/jit", f.account), &admin).await.ok(200);
    for doc in [&saved, &read] {
        let review = &doc["trust_review"][0];
        assert_eq!(review["role_arn"], f.role.as_str());
        let principals: Vec<&str> = review["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["principal"].as_str().unwrap())
            .collect();
        assert_eq!(
            principals,
            [
                format!("arn:aws:iam::{}:root", f.aws_account),
                format!("arn:aws:iam::{}:role/Hub", f.aws_account)
            ],
            "the broker's own conditional statements are not findings: {doc}"
        );
    }
}

/// A console session switches only into the JIT roles a JIT start would give its user at once
/// (issue: the third security review). Alice's groups: one grants console sessions and JIT on
/// OnCall with no approval; another grants JIT on Admin only with two approvals. In her console
/// session she can switch into OnCall, and not into Admin: that needs its own request.
#[tokio::test]
async fn a_console_session_switches_only_into_roles_granted_at_once() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "switch-grants").await;
    api.patch(
        &format!("/groups/{}", f.group),
        &admin,
        json!({ "policy": { "jit_role_arns": [f.role] } }),
    )
    .await
    .ok(200);
    let admin_role = format!("arn:aws:iam::{}:role/Admin-switch-grants", f.aws_account);
    let trust = json!({ "Version": "2012-10-17", "Statement": f.trust_statements(env).await }).to_string();
    f.iam
        .create_role()
        .role_name("Admin-switch-grants")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    f.iam
        .put_role_policy()
        .role_name("Admin-switch-grants")
        .policy_name("work")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    api.put(
        &format!("/accounts/{}/jit", f.account),
        &admin,
        json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [f.role, admin_role] }),
    )
    .await
    .ok(200);
    let approvers = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "approvers-switch-grants", "accounts": [f.account], "permissions": {} }),
        )
        .await
        .ok(201);
    let gated = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "admin-switch-grants", "accounts": [f.account],
                    "permissions": { "start_jit_sessions": true },
                    "policy": { "jit_role_arns": [admin_role],
                                "approval": { "approvals_required": 2, "approver_group_ids": [approvers["id"]] } } }),
        )
        .await
        .ok(201);
    api.put(
        &format!("/groups/{}/members/{}", gated["id"].as_str().unwrap(), f.email),
        &admin,
        json!({}),
    )
    .await
    .ok(201);

    let user = f.user_key().await;
    let c = api.post("/sessions", &f.token, console(&f)).await.ok(201);
    let links: Vec<&str> = c["console"]["switch_role_links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["role_arn"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        links,
        [f.role.as_str()],
        "the switch-role links (the password is not printed)"
    );
    let on_call = switch_role(env, &f, &user).await.expect("OnCall, granted at once");
    assert_eq!(env.try_call(&on_call).await, Ok(()));
    assert_eq!(
        env.assume_role_as(&user, &admin_role, &f.email, None)
            .await
            .err()
            .as_deref(),
        Some("AccessDenied"),
        "Admin needs two approvals: no switch-role past them"
    );
}

/// A JIT role the account allows only after a console session started (issue 28). The session
/// does not switch into it: its user policy keeps it to the roles given at its start
/// (docs/revocation.md). Its end cuts that role all the same ("on each JIT role the session
/// could switch into (those allowed at its start and those allowed now)"): the role's
/// revocations name the console user, and a switch-role session into it issued right after the
/// end (by the next console session, within the cut's allowance) is refused, observed with a
/// real call.
#[tokio::test]
async fn a_console_end_cuts_roles_allowed_after_it_started() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "role-added").await;
    let user = f.user_key().await;
    let c = api.post("/sessions", &f.token, console(&f)).await.ok(201);
    let id = c["session"]["id"].as_str().unwrap().to_string();
    let on_call = switch_role(env, &f, &user)
        .await
        .expect("switch-role into the role given at the start");
    assert_eq!(env.try_call(&on_call).await, Ok(()));

    // During the session: a second role, with the broker's trust, allowed in the settings.
    let added_name = "Added-role-added";
    let added = format!("arn:aws:iam::{}:role/{added_name}", f.aws_account);
    let trust = json!({ "Version": "2012-10-17", "Statement": f.trust_statements(env).await }).to_string();
    e2e::jit_role(&f.iam, added_name, &trust).await;
    api.put(
        &format!("/accounts/{}/jit", f.account),
        &admin,
        json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [f.role, added] }),
    )
    .await
    .ok(200);
    assert_eq!(
        env.assume_role_as(&user, &added, &f.email, None).await.err().as_deref(),
        Some("AccessDenied"),
        "the session switches only into the roles given at its start"
    );

    end(env, &f.token, &id).await;
    assert!(
        denied(env, &on_call).await,
        "the switched session on the first role is cut"
    );
    let written = f
        .iam
        .get_role_policy()
        .role_name(added_name)
        .policy_name("CloudIamBrokerRevocations")
        .send()
        .await
        .expect("the end wrote revocations on the role allowed since the session started");
    let cut = shared::routes::percent_decode(&written.policy_document);
    assert!(
        cut.contains(&format!("*:{}", f.email)),
        "the added role's revocations cut the console user's switch-role sessions: {cut}"
    );

    // The next console session is given both roles; its switch into the added role, within
    // the first end's allowance, is refused by that end's cut.
    let next = api.post("/sessions", &f.token, console(&f)).await.ok(201);
    let links: std::collections::BTreeSet<&str> = next["console"]["switch_role_links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["role_arn"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        links,
        std::collections::BTreeSet::from([f.role.as_str(), added.as_str()]),
        "the switch-role links"
    );
    let switched = env
        .assume_role_as(&user, &added, &f.email, None)
        .await
        .expect("switch-role into the added role in the next session");
    assert!(
        denied(env, &switched).await,
        "the first session's end cut the role allowed after it started"
    );
    end(env, &f.token, next["session"]["id"].as_str().unwrap()).await;
    assert!(denied(env, &switched).await);
}

/// The role's lease serializes writers of its deny pages, and only a lapsed lease is taken
/// over: while another writer holds it, an end waits, answers 503 and stays due, its
/// credentials still working (nothing was written over the holder); once the lease has lapsed
/// (60 s on the broker's clock), the expirer takes it over and the deny lands.
#[tokio::test]
async fn a_held_role_lease_holds_the_deny_back_until_it_lapses_and_is_taken_over() {
    use shared::ports::{Clock, SessionStore};
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "lease").await;
    let started = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let creds = session_credentials(&started);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    assert_eq!(env.try_call(&creds).await, Ok(()));
    // Another revocation (another Lambda) holds the role's lease, under the role's identity.
    let sdk = env.sdk(&env.broker).await;
    let store = shared::adapters::aws::dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        env.config.table_name.clone(),
    );
    let role = shared::domain::RoleArn::parse(&f.role).unwrap();
    let lease = format!("role-policy:{}", role.identity());
    let now = env.clock.now();
    assert!(
        store
            .lease(&lease, "another-writer", now, now + Duration::from_secs(60))
            .await
            .unwrap()
    );

    let reply = api.end_session(&f.token, &id).await;
    assert_eq!(
        reply.status, 503,
        "the end cannot write the role's deny: {}",
        reply.text
    );
    assert_eq!(
        env.try_call(&creds).await,
        Ok(()),
        "nothing was written over the lease's holder"
    );
    let s = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(s["status"], "ending", "{s}");
    assert!(
        s["last_error"].as_str().unwrap_or_default().contains("in progress"),
        "{s}"
    );

    // The lease lapses (and the end's retry falls due); the expirer takes the lease over.
    env.clock.advance(Duration::from_secs(61));
    env.run_expirer().await;
    env.clock.reset();
    assert!(denied(env, &creds).await, "the deny landed once the lease lapsed");
    let s = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(s["status"], "ended", "{s}");
}
