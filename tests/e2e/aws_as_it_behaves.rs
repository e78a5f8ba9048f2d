//! The broker on AWS as AWS behaves, where the local AWS is now as strict (issue "Holds on AWS
//! as AWS behaves"): one role shared by many users under one fixed trust (Sids unique, the
//! trust quota, re-provisioning), consoles that users make from JIT credentials and that
//! outlive them, credentials exported from consoles, IAM's propagation delay, ListUsers
//! without tags, and whom the trust issued with an ExternalId lets in (`roles.rs`). Every
//! effect is observed with real calls signed with the handed-out credentials (or the console's
//! exported ones).
//!
//! Its own binary, each test holding `serial()`: one turns the local AWS's propagation delay
//! on for a while, which would slow every other test's IAM changes.

use std::time::Duration;

use aws_credential_types::Credentials;
use e2e::consoles::{expire_credentials, export_credentials, federated_console, set_iam_propagation, user_console};
use e2e::{TestEnv, env, session_credentials};
use serde_json::{Value, json};

#[path = "aws_as_it_behaves/roles.rs"]
mod roles;

/// An account with JIT on one role that carries the broker's trust, applied once as an admin
/// would: the document `GET /accounts/{id}/jit` shows. Returns (account id, AWS account id,
/// role ARN, IAM client of the account's admin, group id).
struct Shared {
    account: String,
    aws_account: String,
    role: String,
    iam: aws_sdk_iam::Client,
    group: String,
    trust: Value,
}

async fn shared_role(env: &TestEnv, tag: &str, apply_trust: bool) -> Shared {
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account(tag).await;
    let iam = env.target_iam(&target).await;
    let role_name = format!("Shared-{tag}");
    let role = format!("arn:aws:iam::{}:role/{role_name}", target.aws_account_id);
    let settings =
        json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [role] });
    let jit = api
        .put(&format!("/accounts/{account}/jit"), &admin, settings)
        .await
        .ok(200);
    let trust = jit["role_trust_policy"].clone();
    assert!(trust.is_object(), "the trust to apply is shown: {jit}");
    let initial = if apply_trust {
        trust.clone()
    } else {
        json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Deny", "Principal": { "AWS": "*" }, "Action": "sts:AssumeRole" }] })
    };
    e2e::jit_role(&iam, &role_name, &initial.to_string()).await;
    // Saved again once the role exists, so the trust review reads it.
    api.put(&format!("/accounts/{account}/jit"), &admin, settings_again(&role))
        .await
        .ok(200);
    let group = api
        .post("/groups", &admin, json!({ "name": format!("shared-{tag}"), "accounts": [account], "permissions": { "start_sessions": true, "start_jit_sessions": true } }))
        .await
        .ok(201);
    Shared {
        account,
        aws_account: target.aws_account_id,
        role,
        iam,
        group: group["id"].as_str().unwrap().to_string(),
        trust,
    }
}

fn settings_again(role: &str) -> Value {
    json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [role] })
}

impl Shared {
    /// Provisions `email` (console access or not, with a credential) and adds them to the group.
    async fn member(&self, env: &TestEnv, email: &str, console: bool) {
        let api = env.client();
        let admin = env.admin();
        api.post(
            &format!("/accounts/{}/users", self.account),
            &admin,
            json!({ "email": email, "console_access": console, "credential": true }),
        )
        .await
        .ok(201);
        api.put(&format!("/groups/{}/members/{email}", self.group), &admin, json!({}))
            .await
            .ok(201);
    }

    fn jit(&self, seconds: i64) -> Value {
        json!({ "account_id": self.account, "type": "jit", "role_arn": self.role, "duration_seconds": seconds, "reason": "incident INC-7" })
    }

    fn role_name(&self) -> &str {
        self.role.rsplit('/').next().unwrap()
    }

    /// The role's trust policy as IAM serves it.
    async fn trust_now(&self) -> Value {
        e2e::role_trust(&self.iam, self.role_name()).await
    }
}

async fn denied(env: &TestEnv, creds: &Credentials) -> bool {
    env.try_call(creds).await == Err("AccessDenied".into())
}

/// Fifty users on one JIT role (ten of them console users, two in console sessions switched
/// into the role) start at once; ending ten JIT sessions refuses exactly those ten, and the
/// role's trust is, unchanged, the one document the admin applied.
#[tokio::test]
async fn fifty_users_share_one_role_and_ending_ten_refuses_exactly_those() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shared_role(env, "fifty", true).await;
    let emails: Vec<String> = (0..50).map(|i| format!("u{i:02}.fifty@example.com")).collect();
    futures::future::join_all(emails.iter().enumerate().map(|(i, e)| s.member(env, e, i < 10))).await;
    let applied = s.trust_now().await;

    // 48 JIT starts and 2 console sessions, all at once.
    let (console_users, jit_users) = emails.split_at(2);
    let starts = futures::future::join_all(jit_users.iter().map(|e| {
        let api = api.clone();
        let token = env.user(e);
        let body = s.jit(900);
        async move { api.post("/sessions", &token, body).await.ok(201) }
    }));
    let consoles = futures::future::join_all(console_users.iter().map(|e| {
        let api = api.clone();
        let token = env.user(e);
        let body = json!({ "account_id": s.account, "type": "console", "duration_seconds": 900, "reason": "billing" });
        async move { api.post("/sessions", &token, body).await.ok(201) }
    }));
    let (started, consoled) = futures::join!(starts, consoles);
    let creds: Vec<Credentials> = started.iter().map(session_credentials).collect();
    for (i, c) in creds.iter().enumerate() {
        assert_eq!(env.try_call(c).await, Ok(()), "session {i} works");
    }
    // Each console user signs in with the handed-out password and switches into the role.
    let mut switched = Vec::new();
    for (e, c) in console_users.iter().zip(&consoled) {
        let password = c["console"]["password"].as_str().expect("a password");
        let console = user_console(env, &s.aws_account, e, password)
            .await
            .expect("console sign-in");
        let exported = export_credentials(env, &console).await.unwrap();
        let role = env
            .assume_role_as(&exported, &s.role, e, None)
            .await
            .expect("the console's switch-role");
        assert_eq!(env.try_call(&role).await, Ok(()));
        switched.push(role);
    }

    // End ten JIT sessions at once.
    let ended: Vec<usize> = (0..48).step_by(5).take(10).collect();
    futures::future::join_all(ended.iter().map(|&i| {
        let api = api.clone();
        let token = env.user(&jit_users[i]);
        let id = started[i]["session"]["id"].as_str().unwrap().to_string();
        async move { api.end_session(&token, &id).await.ok(200) }
    }))
    .await;
    for (i, c) in creds.iter().enumerate() {
        if ended.contains(&i) {
            assert!(denied(env, c).await, "ended session {i} is refused");
        } else {
            assert_eq!(env.try_call(c).await, Ok(()), "live session {i} keeps working");
        }
    }
    for r in &switched {
        assert_eq!(
            env.try_call(r).await,
            Ok(()),
            "console switch-role sessions keep working"
        );
    }
    assert_eq!(s.trust_now().await, applied, "the trust is the one the admin applied");
    assert_eq!(applied, s.trust, "which is the broker's role trust");
    // The trust review recognises it: nothing lets anyone in around the broker.
    let jit = api
        .get(&format!("/accounts/{}/jit", s.account), &env.admin())
        .await
        .ok(200);
    assert_eq!(jit["trust_review"][0]["role_arn"], s.role.as_str(), "{jit}");
    assert_eq!(jit["trust_review"][0]["findings"], json!([]), "{jit}");
    assert!(jit["trust_review"][0].get("error").is_none(), "{jit}");
}

/// A user deprovisioned and provisioned again with the same e-mail starts at once: the trust
/// names no user, so IAM's rewrite of a deleted user's ARN to its id breaks nothing.
#[tokio::test]
async fn a_user_provisioned_again_starts_without_any_trust_edit() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let s = shared_role(env, "again", true).await;
    let email = "again@example.com";
    s.member(env, email, true).await;
    let token = env.user(email);
    let first = api.post("/sessions", &token, s.jit(900)).await.ok(201);
    env.client()
        .end_session(&token, first["session"]["id"].as_str().unwrap())
        .await
        .ok(200);
    api.delete(&format!("/accounts/{}/users/{email}", s.account), &admin)
        .await
        .ok(200);
    api.post(
        &format!("/accounts/{}/users", s.account),
        &admin,
        json!({ "email": email, "console_access": true, "credential": true }),
    )
    .await
    .ok(201);
    let again = api.post("/sessions", &token, s.jit(900)).await.ok(201);
    assert_eq!(env.try_call(&session_credentials(&again)).await, Ok(()));
    assert_eq!(s.trust_now().await, s.trust, "no trust edit");
}

/// A console the user made from JIT credentials (`getSigninToken`, `SessionDuration=43200`)
/// outlives them, and so do credentials exported from it; an early end and a natural expiry
/// both refuse it. Console credentials exported during a console session cannot assume a JIT
/// role after that session's end.
#[tokio::test]
async fn consoles_made_from_a_session_end_with_it() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shared_role(env, "self-made", true).await;
    let email = "self-made@example.com";
    s.member(env, email, true).await;
    let token = env.user(email);

    // An early end.
    let early = api.post("/sessions", &token, s.jit(900)).await.ok(201);
    let console = federated_console(env, &session_credentials(&early), 43_200)
        .await
        .expect("a 12-hour console from the JIT credentials");
    let exported = export_credentials(env, &console).await.unwrap();
    assert_eq!(
        env.try_call(&exported).await,
        Ok(()),
        "the console works during the session"
    );
    api.end_session(&token, early["session"]["id"].as_str().unwrap())
        .await
        .ok(200);
    assert!(denied(env, &exported).await, "the console is refused after the end");
    let later = export_credentials(env, &console)
        .await
        .expect("the console itself lives on");
    assert!(
        denied(env, &later).await,
        "so are credentials exported from it afterwards"
    );

    // A natural expiry: the credentials die, the console outlives them, the expiry ends it.
    let natural = api.post("/sessions", &token, s.jit(900)).await.ok(201);
    let creds = session_credentials(&natural);
    let console = federated_console(env, &creds, 43_200).await.unwrap();
    expire_credentials(env, &creds).await;
    assert_eq!(
        env.try_call(&creds).await,
        Err("ExpiredToken".into()),
        "the credentials are dead"
    );
    let exported = export_credentials(env, &console).await.unwrap();
    assert_eq!(env.try_call(&exported).await, Ok(()), "the console outlives them");
    // Well past the credentials' expiry, as the expirer may run minutes late.
    env.clock.advance(Duration::from_secs(900 + 120));
    env.run_expirer().await;
    let now = api
        .get(
            &format!("/sessions/{}", natural["session"]["id"].as_str().unwrap()),
            &token,
        )
        .await
        .ok(200);
    assert_eq!(now["status"], "expired");
    assert!(denied(env, &exported).await, "the console is refused after the expiry");
    env.clock.reset();

    // A console session's exported credentials, after its end, mint no JIT session.
    let c = api
        .post(
            "/sessions",
            &token,
            json!({ "account_id": s.account, "type": "console", "duration_seconds": 900, "reason": "billing" }),
        )
        .await
        .ok(201);
    let console = user_console(env, &s.aws_account, email, c["console"]["password"].as_str().unwrap())
        .await
        .unwrap();
    let exported = export_credentials(env, &console).await.unwrap();
    api.end_session(&token, c["session"]["id"].as_str().unwrap())
        .await
        .ok(200);
    let minted = env
        .assume_role_as(&exported, &s.role, "cib-01JD0000000000000000000001", Some(email))
        .await;
    assert_eq!(
        minted.err().as_deref(),
        Some("AccessDenied"),
        "no session the broker never recorded"
    );
}

/// With IAM's propagation delay on, a start right after provisioning, after a rotation and
/// after the trust was applied all succeed: the broker waits for IAM instead of refusing.
#[tokio::test]
async fn iams_propagation_delay_is_absorbed() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let s = shared_role(env, "propagation", false).await;
    set_iam_propagation(env, 3_000).await;
    let result = async {
        // The trust applied, then a user provisioned, then a start at once.
        s.iam
            .update_assume_role_policy()
            .role_name(s.role_name())
            .policy_document(s.trust.to_string())
            .send()
            .await
            .unwrap();
        let email = "propagation@example.com";
        s.member(env, email, false).await;
        let token = env.user(email);
        let first = api.post("/sessions", &token, s.jit(900)).await.ok(201);
        // A rotation, then a start at once.
        api.post(
            &format!("/accounts/{}/users/{email}/credentials", s.account),
            &admin,
            json!({}),
        )
        .await
        .ok(200);
        let second = api.post("/sessions", &token, s.jit(900)).await.ok(201);
        (first, second)
    }
    .await;
    set_iam_propagation(env, 0).await;
    let (first, second) = result;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(env.try_call(&session_credentials(&first)).await, Ok(()));
    assert_eq!(env.try_call(&session_credentials(&second)).await, Ok(()));
}

/// ListUsers returns no tags on AWS: the import reads each user's tags, so the broker's own
/// users stay its own and only the others are imported.
#[tokio::test]
async fn import_leaves_the_brokers_users_alone() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let s = shared_role(env, "import", true).await;
    s.member(env, "managed.import@example.com", false).await;
    s.iam.create_user().user_name("someone-else").send().await.unwrap();
    let listed = s.iam.list_users().send().await.unwrap();
    assert!(
        listed
            .users
            .iter()
            .all(|u| u.tags.as_deref().unwrap_or_default().is_empty()),
        "ListUsers carries no tags, as on AWS"
    );
    let report = api
        .post(&format!("/accounts/{}/user-imports", s.account), &admin, json!({}))
        .await
        .ok(200);
    let imported: Vec<&str> = report["imported"]
        .as_array()
        .expect("imported users")
        .iter()
        .map(|u| u["user_name"].as_str().unwrap())
        .collect();
    assert!(imported.contains(&"someone-else"), "{report}");
    assert!(!imported.contains(&"managed.import@example.com"), "{report}");
    let user = api
        .get(
            &format!("/accounts/{}/users/managed.import@example.com", s.account),
            &admin,
        )
        .await
        .ok(200);
    assert_eq!(user["status"], "provisioned");
}

/// Two spellings of one role (case, path) are one role to IAM, so they share one revocation
/// record: otherwise each would render the role's deny pages from its own record, and the
/// second write would drop the first's denies. Records kept under the ARN as typed (before this
/// change) are read once and carried over. Against the local DynamoDB the broker uses.
#[tokio::test]
async fn revocation_records_are_kept_per_role_not_per_spelling() {
    use shared::domain::revocation::{Cut, RoleRevocations};
    use shared::domain::{RoleArn, SessionId};
    use shared::ports::RevocationStore;

    let env = env();
    let _serial = env.serial().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&env.sdk(&env.broker).await);
    let store = shared::adapters::aws::dynamodb::DynamoStore::new(dynamo.clone(), env.config.table_name.clone());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let typed = RoleArn::parse("arn:aws:iam::219999999991:role/Ops").unwrap();
    let other = RoleArn::parse("arn:aws:iam::219999999991:role/team/OPS").unwrap();
    assert_eq!(typed.identity(), other.identity());

    let first = SessionId::generate();
    let mut record = RoleRevocations::default();
    record
        .apply(&[Cut::Session {
            id: first.clone(),
            dead_after: now + 3600,
        }])
        .unwrap();
    record.version = 1;
    store.put_revocations(&typed, &record).await.unwrap();

    // The other spelling reads the same record, so its next write keeps the first cut.
    let mut seen = store
        .get_revocations(&other)
        .await
        .unwrap()
        .expect("one record per role");
    assert!(seen.sessions.contains_key(&first), "{seen:?}");
    let second = SessionId::generate();
    seen.apply(&[Cut::Session {
        id: second.clone(),
        dead_after: now + 3600,
    }])
    .unwrap();
    seen.version += 1;
    store.put_revocations(&other, &seen).await.unwrap();
    let both = store.get_revocations(&typed).await.unwrap().unwrap();
    assert!(
        both.sessions.contains_key(&first) && both.sessions.contains_key(&second),
        "{both:?}"
    );

    // A record an older broker kept under the ARN as typed is carried over at the next write.
    let legacy_role = RoleArn::parse("arn:aws:iam::219999999991:role/Legacy").unwrap();
    let old = SessionId::generate();
    let item = |pk: String| {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        [
            ("PK", A::S(pk)),
            ("SK", A::S("REVOCATIONS".into())),
            ("entity", A::S("revocations".into())),
            ("role_arn", A::S(legacy_role.to_string())),
            (
                "sessions",
                A::M([(old.to_string(), A::N((now + 3600).to_string()))].into()),
            ),
            ("pages", A::M([(old.to_string(), A::N("0".into()))].into())),
            ("console", A::M(Default::default())),
            ("managed_pages", A::N("1".into())),
            ("version", A::N("7".into())),
            ("ttl", A::N((now + 90_000).to_string())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect::<std::collections::HashMap<_, _>>()
    };
    dynamo
        .put_item()
        .table_name(&env.config.table_name)
        .set_item(Some(item(format!("REVOCATIONS#{legacy_role}"))))
        .send()
        .await
        .unwrap();
    let mut carried = store
        .get_revocations(&legacy_role)
        .await
        .unwrap()
        .expect("the legacy record");
    assert!(carried.sessions.contains_key(&old), "{carried:?}");
    let newer = SessionId::generate();
    carried
        .apply(&[Cut::Session {
            id: newer.clone(),
            dead_after: now + 3600,
        }])
        .unwrap();
    carried.version += 1;
    store.put_revocations(&legacy_role, &carried).await.unwrap();
    let kept = store.get_revocations(&legacy_role).await.unwrap().unwrap();
    assert!(
        kept.sessions.contains_key(&old) && kept.sessions.contains_key(&newer),
        "{kept:?}"
    );
    assert_eq!(kept.version, 1, "kept under the role's identity from then on");
}

/// Two users of one role with the trust applied, each in a JIT session on it: the role, and each
/// user's token with their session's answer.
async fn two_on_one_role(env: &TestEnv, tag: &str) -> (Shared, [(String, Value); 2]) {
    let api = env.client();
    let s = shared_role(env, tag, true).await;
    let mut sessions = Vec::new();
    for who in ["a", "b"] {
        let email = format!("{tag}.{who}@example.com");
        s.member(env, &email, false).await;
        let token = env.user(&email);
        let started = api.post("/sessions", &token, s.jit(900)).await.ok(201);
        sessions.push((token, started));
    }
    let [first, second]: [(String, Value); 2] = sessions.try_into().expect("two sessions");
    (s, [first, second])
}

/// With IAM's propagation delay on, an end answers only once IAM serves its deny: the ended
/// session's credentials are refused the moment the end answers (a real call), while the other
/// user's session on the same role goes on. An end that trusted its write would answer while IAM
/// still evaluates the old document, and the first call would pass.
#[tokio::test]
async fn an_end_answers_once_iam_serves_its_deny() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let (_, [(a, first), (_, second)]) = two_on_one_role(env, "readback").await;
    let (first_creds, second_creds) = (session_credentials(&first), session_credentials(&second));
    assert_eq!(env.try_call(&first_creds).await, Ok(()));
    set_iam_propagation(env, 3_000).await;
    // Nothing in here panics: the delay is set back before any assert.
    let seen = async {
        let ended = api.end_session(&a, first["session"]["id"].as_str().unwrap()).await;
        (
            ended,
            env.try_call(&first_creds).await,
            env.try_call(&second_creds).await,
        )
    }
    .await;
    set_iam_propagation(env, 0).await;
    let (ended, first_now, second_now) = seen;
    let ended = ended.ok(200);
    assert_eq!(ended["status"], "ended", "{ended}");
    assert_eq!(
        first_now,
        Err("AccessDenied".into()),
        "refused the moment the end answers"
    );
    assert_eq!(second_now, Ok(()), "the other user's session on the role goes on");
}

/// A role deleted while its sessions run needs no deny (its sessions died with it): an early end
/// and the expirer both finish (`ended`, `expired`), without a retry and without making the role
/// again, and the credentials are refused.
#[tokio::test]
async fn ends_after_the_role_was_deleted_are_done() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let (s, [(a, first), (b, second)]) = two_on_one_role(env, "deleted").await;
    let role = s.role_name();
    let inline = s.iam.list_role_policies().role_name(role).send().await.unwrap();
    for policy in inline.policy_names() {
        s.iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await
            .unwrap();
    }
    let attached = s
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    for policy in attached.attached_policies() {
        s.iam
            .detach_role_policy()
            .role_name(role)
            .policy_arn(policy.policy_arn().unwrap())
            .send()
            .await
            .unwrap();
    }
    s.iam.delete_role().role_name(role).send().await.unwrap();

    let ended = api
        .end_session(&a, first["session"]["id"].as_str().unwrap())
        .await
        .ok(200);
    assert_eq!(ended["status"], "ended", "{ended}");
    env.clock.advance(Duration::from_secs(900 + 120));
    env.run_expirer().await;
    let expired = api
        .get(&format!("/sessions/{}", second["session"]["id"].as_str().unwrap()), &b)
        .await
        .ok(200);
    env.clock.reset();
    assert_eq!(expired["status"], "expired", "{expired}");
    assert!(
        s.iam.get_role().role_name(role).send().await.is_err(),
        "the role is not made again"
    );
    for creds in [session_credentials(&first), session_credentials(&second)] {
        assert_eq!(env.try_call(&creds).await, Err("AccessDenied".into()));
    }
}
