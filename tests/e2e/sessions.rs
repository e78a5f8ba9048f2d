//! Sessions through the HTTP API against local AWS: JIT and console sessions, their end (early
//! and by the expirer) with access actually revoked, the S3 log chain, refusals, failing S3,
//! concurrency and bots.
//!
//! Its own binary: it moves the broker's clock to expire sessions.

use std::time::Duration;

use e2e::bus::{assert_as_logged, assert_fields, fixture_fields, session_event};
use e2e::{Fault, Fixture, Role, TestEnv, env, fixture};
use serde_json::{Value, json};

fn jit(f: &Fixture, seconds: i64) -> Value {
    json!({ "account_id": f.account, "type": "jit", "role_arn": f.role, "duration_seconds": seconds, "reason": "incident INC-42" })
}

fn console(f: &Fixture, seconds: i64) -> Value {
    json!({ "account_id": f.account, "type": "console", "duration_seconds": seconds, "reason": "check the billing console" })
}

async fn role_revocations(f: &Fixture) -> Option<String> {
    let name = f.role.rsplit('/').next().unwrap();
    let out = f
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name("CloudIamBrokerRevocations")
        .send()
        .await
        .ok()?;
    Some(shared::routes::percent_decode(&out.policy_document))
}

/// The user carries the full "no access outside sessions" deny (during a console session it is
/// narrowed to what the session may not do).
async fn user_has_deny(f: &Fixture) -> bool {
    let Ok(out) = f
        .iam
        .get_user_policy()
        .user_name(&f.email)
        .policy_name("CloudIamBrokerSessionDeny")
        .send()
        .await
    else {
        return false;
    };
    let doc: Value = serde_json::from_str(&shared::routes::percent_decode(&out.policy_document)).unwrap();
    let full: Value = serde_json::from_str(&shared::domain::iam_policies::session_deny_document()).unwrap();
    doc == full
}

async fn log_of(env: &TestEnv, token: &str, id: &str) -> Value {
    env.client().get(&format!("/sessions/{id}/log"), token).await.ok(200)
}

fn event_types(log: &Value) -> Vec<String> {
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// The issue's JIT path: start → the credentials work → console URL requested correctly → end
/// early → the deny is on the role; the log chain verifies.
#[tokio::test]
async fn jit_session_start_use_end() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "jit").await;

    let reply = api.post("/sessions", &f.token, jit(&f, 900)).await;
    let started = reply.ok(201);
    let session = &started["session"];
    let id = session["id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            session["status"].as_str(),
            session["type"].as_str(),
            session["duration_seconds"].as_u64()
        ),
        (Some("active"), Some("jit"), Some(900))
    );
    assert_eq!(session["user"], f.email.as_str());
    let creds = &started["credentials"];
    let secret = creds["secret_access_key"].as_str().unwrap().to_string();
    let token = creds["session_token"].as_str().unwrap().to_string();

    // The credentials work, and they are the assumed role's, tied to this session.
    let keys = local_runner::local_aws::Keys {
        access_key_id: creds["access_key_id"].as_str().unwrap().into(),
        secret_access_key: secret.clone(),
    };
    let sdk = env.sdk(&keys).await;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .credentials_provider(aws_credential_types::Credentials::new(
                &keys.access_key_id,
                &secret,
                Some(token.clone()),
                None,
                "test",
            ))
            .build(),
    );
    let who = sts.get_caller_identity().send().await.unwrap();
    let role_name = f.role.rsplit('/').next().unwrap();
    assert_eq!(
        who.arn.unwrap(),
        format!("arn:aws:sts::{}:assumed-role/{role_name}/cib-{id}", f.aws_account)
    );

    // The federation endpoint got exactly the expected getSigninToken.
    let requests: Vec<_> = env
        .federation
        .requests()
        .into_iter()
        .filter(|r| r.params.get("Session").is_some_and(|s| s.contains(&keys.access_key_id)))
        .collect();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].action, "getSigninToken");
    assert_eq!(requests[0].params["SessionDuration"], "900");
    let sent: Value = serde_json::from_str(&requests[0].params["Session"]).unwrap();
    assert_eq!(
        (sent["sessionKey"].as_str(), sent["sessionToken"].as_str()),
        (Some(secret.as_str()), Some(token.as_str()))
    );
    let url = started["console_url"].as_str().unwrap();
    assert!(url.contains("/federation?Action=login&Issuer=cloud-iam-broker&Destination=https%3A%2F%2Feu-west-1.console.aws.amazon.com"), "{url}");
    // The token the local AWS issued (console_sessions.py): opaque, so only its presence.
    let signin_token = url.split("&SigninToken=").nth(1).unwrap_or_default();
    assert!(signin_token.len() >= 32, "{url}");

    // The user cannot be deprovisioned while the session lives: its credentials would outlive it.
    let p = api
        .delete(&format!("/accounts/{}/users/{}", f.account, f.email), &env.admin())
        .await
        .problem(409);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/user-has-live-sessions");

    // Secrets appear in the start response only.
    let listed = api.get("/sessions", &f.token).await;
    assert!(
        listed.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str())
    );
    let one = api.get(&format!("/sessions/{id}"), &f.token).await;
    for text in [&listed.text, &one.text] {
        assert!(!text.contains(&secret) && !text.contains(&token));
    }

    // End early: the deny is on the role, for this user's tokens issued before the end.
    let ended = api
        .send(
            "DELETE",
            &format!("/sessions/{id}"),
            Some(&f.token),
            Some(e2e::RawBody::Json(json!({ "reason": "done" }))),
        )
        .await
        .ok(200);
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["ended_by"], f.email.as_str());
    let deny = role_revocations(&f).await.expect("revocation policy on the role");
    let deny: Value = serde_json::from_str(&deny).unwrap();
    // Ended: now the user can go.
    api.delete(&format!("/accounts/{}/users/{}", f.account, f.email), &env.admin())
        .await
        .ok(200);
    let statement = &deny["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    let pattern = shared::domain::revocation::session_pattern(&shared::domain::SessionId::parse(&id).unwrap());
    assert_eq!(statement["Condition"]["StringLike"]["aws:userid"], json!([pattern]));
    // And AWS refuses the ended session's credentials.
    assert_eq!(
        env.try_call(&e2e::session_credentials(&started)).await,
        Err("AccessDenied".into())
    );

    // The log: requested, started, ended; the chain verifies; no secret in it.
    let log = log_of(env, &f.token, &id).await;
    assert_eq!(log["verified"], true, "{log}");
    assert_eq!(event_types(&log), ["requested", "started", "ended"]);
    assert!(
        log["key"]
            .as_str()
            .unwrap()
            .starts_with(&format!("sessions/{}/", f.account))
    );
    let raw = log.to_string();
    assert!(!raw.contains(&secret) && !raw.contains(&token));
    assert_eq!(log["events"][2]["end_reason"], "done");
}

/// The issue's console path: start → expire by the expirer (with a test clock) → deny on the
/// user, password rotated; the log chain verifies.
#[tokio::test]
async fn console_session_expires_by_the_expirer() {
    let env = env();
    let _serial = env.serial().await;
    env.drain_expirer().await;
    let api = env.client();
    let f = fixture(env, "console").await;
    assert!(user_has_deny(&f).await, "no standing access before a session");

    let started = api.post("/sessions", &f.token, console(&f, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    let c = &started["console"];
    assert_eq!(
        c["signin_url"],
        format!("https://{}.signin.aws.amazon.com/console", f.aws_account).as_str()
    );
    assert_eq!(c["user_name"], f.email.as_str());
    let password = c["password"].as_str().unwrap().to_string();
    assert!(password.len() >= 24);
    assert_eq!(c["switch_role_links"][0]["role_arn"], f.role.as_str());
    assert!(!user_has_deny(&f).await, "the deny is narrowed for the session");
    assert!(f.iam.get_login_profile().user_name(&f.email).send().await.is_ok());

    // Not due yet: the expirer leaves it alone.
    env.run_expirer().await;
    assert_eq!(
        api.get(&format!("/sessions/{id}"), &f.token).await.ok(200)["status"],
        "active"
    );

    env.faults.clear_calls(&f.email);
    env.clock.advance(Duration::from_secs(901));
    let report = env.run_expirer().await;
    assert_eq!(report.expired, 1, "{report:?}");
    let after = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(
        (after["status"].as_str(), after["ended_by"].as_str()),
        (Some("expired"), Some("expirer"))
    );
    assert!(user_has_deny(&f).await, "deny-all is back on the user");
    let calls = env.faults.calls(&f.email);
    let deny_at = calls.iter().position(|c| c == "PutUserPolicy").expect("deny put");
    assert!(
        calls[deny_at..].iter().any(|c| c == "SetLoginProfile"),
        "password rotated after the deny: {calls:?}"
    );

    let log = log_of(env, &f.token, &id).await;
    assert_eq!(log["verified"], true);
    assert_eq!(event_types(&log), ["requested", "started", "expired"]);
    assert!(!log.to_string().contains(&password));

    // On the bus (docs/events.md): `expired`, saying access was revoked, as the log holds it,
    // and the `revoked` event that goes with every end, naming the outcome.
    let expired = session_event(env, &id, "expired", "Session expired").await;
    assert_fields(&expired, &fixture_fields(&f));
    assert_fields(
        &expired,
        &json!({ "kind": "console", "role_arn": null, "duration_seconds": 900,
                 "request_reason": "check the billing console", "break_glass": false, "revoked": true }),
    );
    assert!(!expired.to_string().contains(&password), "{expired}");
    assert_as_logged(env, &f.token, &expired).await;
    let revoked = session_event(env, &id, "revoked", "Session access revoked").await;
    assert_fields(&revoked, &fixture_fields(&f));
    assert_fields(&revoked, &json!({ "kind": "console", "outcome": "expired" }));
    assert_ne!(revoked["event_id"], expired["event_id"], "each event its own id");
}

#[tokio::test]
async fn refusals_are_clear_and_logged() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "refuse").await;
    let refused = |body: Value, status: u16, slug: &'static str| {
        let api = env.client();
        let token = f.token.clone();
        async move {
            let p = api.post("/sessions", &token, body).await.problem(status);
            assert_eq!(
                p["type"],
                format!("tag:cloud-iam-broker,2026:problem/{slug}").as_str(),
                "{p}"
            );
            p
        }
    };
    // What each refusal that reaches the checks must leave in the caller's refusal log: the
    // request, and the answer's `detail` as its why. (A body the API cannot read, `validation`,
    // never reaches them, and is not logged.)
    let mut logged: Vec<(Value, Value)> = Vec::new();
    let mut other_role = jit(&f, 900);
    other_role["role_arn"] = json!(format!("arn:aws:iam::{}:role/NotAllowed", f.aws_account));
    for (body, slug) in [
        (jit(&f, 899), "invalid-duration"),
        (jit(&f, 3601), "invalid-duration"),
        (other_role, "role-not-allowed"),
    ] {
        let p = refused(body.clone(), 422, slug).await;
        logged.push((body, p));
    }
    let mut no_role = jit(&f, 900);
    no_role.as_object_mut().unwrap().remove("role_arn");
    refused(no_role, 422, "validation").await;
    let mut no_reason = jit(&f, 900);
    no_reason["reason"] = json!("");
    refused(no_reason, 422, "validation").await;

    // The role's own MaxSessionDuration (3600 here) caps a longer account maximum.
    let capped = format!("arn:aws:iam::{}:role/Capped", f.aws_account);
    let trust = f
        .iam
        .get_role()
        .role_name(f.role.rsplit('/').next().unwrap())
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .assume_role_policy_document
        .unwrap();
    f.iam
        .create_role()
        .role_name("Capped")
        .assume_role_policy_document(shared::routes::percent_decode(&trust))
        .send()
        .await
        .unwrap();
    let settings = json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 7200, "allowed_role_arns": [f.role, capped] });
    api.put(&format!("/accounts/{}/jit", f.account), &admin, settings)
        .await
        .ok(200);
    let mut long = jit(&f, 5000);
    long["role_arn"] = json!(capped);
    let p = refused(long.clone(), 422, "invalid-duration").await;
    assert!(p["detail"].as_str().unwrap().contains("3600"), "{p}");
    logged.push((long, p));

    // JIT disabled; then the whole account inactive.
    let settings =
        json!({ "active": true, "jit_enabled": false, "max_duration_seconds": 3600, "allowed_role_arns": [f.role] });
    api.put(&format!("/accounts/{}/jit", f.account), &admin, settings)
        .await
        .ok(200);
    let p = refused(jit(&f, 900), 422, "jit-disabled").await;
    logged.push((jit(&f, 900), p));
    let settings =
        json!({ "active": false, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [f.role] });
    api.put(&format!("/accounts/{}/jit", f.account), &admin, settings)
        .await
        .ok(200);
    let p = refused(console(&f, 900), 422, "account-inactive").await;
    logged.push((console(&f, 900), p));
    let settings =
        json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [f.role] });
    api.put(&format!("/accounts/{}/jit", f.account), &admin, settings)
        .await
        .ok(200);

    // No permission: a user in no group; then someone with no IAM user here.
    let stranger = env.user("stranger@example.com");
    let p = api.post("/sessions", &stranger, jit(&f, 900)).await.problem(403);
    assert!(p["detail"].as_str().unwrap().contains("no access group"), "{p}");
    let mut stranger_logged = vec![(jit(&f, 900), p)];
    let groups = api.get("/groups?limit=100", &admin).await.ok(200);
    let gid = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "sessions-refuse")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.put(
        &format!("/groups/{gid}/members/stranger@example.com"),
        &admin,
        json!({}),
    )
    .await
    .ok(201);
    let p = api.post("/sessions", &stranger, jit(&f, 900)).await.problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/user-not-eligible");
    stranger_logged.push((jit(&f, 900), p));

    // Imported users can never start sessions; nor can a user with no credential.
    f.iam
        .create_user()
        .user_name("imported@example.com")
        .send()
        .await
        .unwrap();
    api.send(
        "POST",
        &format!("/accounts/{}/user-imports", f.account),
        Some(&admin),
        None,
    )
    .await
    .ok(200);
    api.put(
        &format!("/groups/{gid}/members/imported@example.com"),
        &admin,
        json!({}),
    )
    .await
    .ok(201);
    let p = api
        .post("/sessions", &env.user("imported@example.com"), jit(&f, 900))
        .await
        .problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/user-not-eligible");
    let imported_logged = vec![(jit(&f, 900), p)];
    api.post(
        &format!("/accounts/{}/users", f.account),
        &admin,
        json!({ "email": "nokey@example.com" }),
    )
    .await
    .ok(201);
    api.put(&format!("/groups/{gid}/members/nokey@example.com"), &admin, json!({}))
        .await
        .ok(201);
    let p = api
        .post("/sessions", &env.user("nokey@example.com"), jit(&f, 900))
        .await
        .problem(422);
    assert!(p["detail"].as_str().unwrap().contains("no credential"), "{p}");
    let nokey_logged = vec![(jit(&f, 900), p)];

    // Another user's session: 403 to read or end.
    let mine = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let id = mine["session"]["id"].as_str().unwrap();
    api.get(&format!("/sessions/{id}"), &stranger).await.problem(403);
    api.send(
        "DELETE",
        &format!("/sessions/{id}"),
        Some(&stranger),
        Some(e2e::RawBody::Json(json!({ "reason": "not mine" }))),
    )
    .await
    .problem(403);
    let others = api.get("/sessions", &stranger).await.ok(200);
    assert!(!others["items"].as_array().unwrap().iter().any(|s| s["id"] == id));
    // Admins see and may end everyone's.
    let all = api
        .get(&format!("/sessions?account_id={}&status=active", f.account), &admin)
        .await
        .ok(200);
    assert!(all["items"].as_array().unwrap().iter().any(|s| s["id"] == id));
    api.send(
        "DELETE",
        &format!("/sessions/{id}"),
        Some(&admin),
        Some(e2e::RawBody::Json(json!({ "reason": "admin ends it" }))),
    )
    .await
    .ok(200);
    api.get("/sessions?status=bogus", &admin).await.problem(400);

    // Every refusal above that reached the checks was logged, in the caller's refusal log of
    // the day in S3 (`refusals/<day>/<caller>/<n>.jsonl`, shared/src/services/sessions/
    // refusals.rs), one record each, in order: who asked, for whom, what, and why. Admins can
    // list none of them as sessions (nothing was granted).
    assert_refusals_logged(env, &f.email, &f.account, &logged).await;
    assert_refusals_logged(env, "stranger@example.com", &f.account, &stranger_logged).await;
    assert_refusals_logged(env, "imported@example.com", &f.account, &imported_logged).await;
    assert_refusals_logged(env, "nokey@example.com", &f.account, &nokey_logged).await;
    let sessions = api
        .get(&format!("/sessions?account_id={}", f.account), &admin)
        .await
        .ok(200);
    assert_eq!(
        sessions["items"].as_array().unwrap().len(),
        1,
        "only the one granted session exists"
    );
}

/// The refusal log's records of the caller whose token subject is `subject` (tests' tokens
/// use the e-mail as subject) for the broker's current day, oldest first: one object per
/// counted refusal, under `refusals/<day>/<first 32 hex of SHA-256(issuer scope)>/<n>.jsonl`.
async fn refusal_events(env: &TestEnv, subject: &str) -> Vec<Value> {
    use shared::ports::Clock as _;
    let scope = format!(
        "{}:{}{subject}",
        local_runner::system::ISSUER.len(),
        local_runner::system::ISSUER
    );
    let caller = shared::domain::log_chain::sha256_hex(scope.as_bytes())[..32].to_string();
    // The day as the broker's clock reads it, which names the object.
    let now = env.clock.now();
    let prefix = format!(
        "refusals/{:04}-{:02}-{:02}/{caller}/",
        now.year(),
        now.month() as u8,
        now.day()
    );
    let sdk = env.sdk(&env.broker).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let bucket = &env.config.session_log_bucket;
    // Listed whole and filtered here: local S3 miscomputes the signature of a slashed prefix.
    let mut keys = Vec::new();
    let mut continuation: Option<String> = None;
    loop {
        let listed = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(continuation.clone())
            .send()
            .await
            .expect("the log bucket lists");
        keys.extend(
            listed
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .filter(|k| k.starts_with(&prefix))
                .map(str::to_string),
        );
        match listed.next_continuation_token() {
            Some(next) => continuation = Some(next.to_string()),
            None => break,
        }
    }
    keys.sort();
    let mut events = Vec::new();
    for key in keys {
        let out = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .expect("a refusal record reads");
        let body = out.body.collect().await.expect("its body").into_bytes();
        for line in String::from_utf8(body.to_vec()).expect("UTF-8").lines() {
            events.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("{key}: not JSON ({e}): {line}")));
        }
    }
    events
}

/// `subject`'s refusal log holds exactly `expected` (each a request body and the problem it
/// was answered with), in order, each record naming the caller, the account, what was asked
/// and, as its why, the answer's detail.
async fn assert_refusals_logged(env: &TestEnv, subject: &str, account: &str, expected: &[(Value, Value)]) {
    let events = refusal_events(env, subject).await;
    assert_eq!(
        events.len(),
        expected.len(),
        "{subject}: one record per refusal: {events:#?}"
    );
    for (n, (event, (body, problem))) in events.iter().zip(expected).enumerate() {
        let got = json!({
            "type": event["type"],
            "n": event["n"],
            "requested_by": event["requested_by"],
            "user": event["user"],
            "account_id": event["account_id"],
            "kind": event["kind"],
            "role_arn": event["role_arn"],
            "duration_seconds": event["duration_seconds"],
            "reason": event["reason"],
            "why": event["why"],
        });
        let want = json!({
            "type": "refused",
            "n": n + 1,
            "requested_by": subject,
            "user": subject,
            "account_id": account,
            "kind": body["type"],
            "role_arn": body["role_arn"],
            "duration_seconds": body["duration_seconds"],
            "reason": body["reason"],
            "why": problem["detail"],
        });
        assert_eq!(got, want, "{subject}'s refusal #{}: {event}", n + 1);
    }
}

#[tokio::test]
async fn no_log_no_session() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "failclosed").await;

    // S3 unavailable at the first write: nothing happens at all.
    env.faults.inject(&f.account, "PutSessionLog", 0, Fault::Fail);
    let reply = api.post("/sessions", &f.token, jit(&f, 900)).await;
    reply.problem(503);
    assert!(!reply.text.contains("secret_access_key"));
    assert_eq!(api.get("/sessions", &f.token).await.ok(200)["items"], json!([]));

    // S3 failing when the start is logged: the access just granted is withdrawn.
    env.faults.inject(&f.account, "PutSessionLog", 1, Fault::Fail);
    let reply = api.post("/sessions", &f.token, jit(&f, 900)).await;
    let p = reply.problem(503);
    assert!(p["detail"].as_str().unwrap().contains("no access was granted"), "{p}");
    assert!(!reply.text.contains("secret_access_key") && !reply.text.contains("session_token"));
    let listed = api.get("/sessions", &f.token).await.ok(200);
    let session = &listed["items"][0];
    assert_eq!(session["status"], "ended", "{listed}");
    assert!(session["end_reason"].as_str().unwrap().contains("could not be logged"));
    // The role denies the withdrawn session's tokens: the credentials STS issued (never
    // handed out) are refused by AWS.
    let id = session["id"].as_str().unwrap();
    let issued = env
        .issued_credentials(id)
        .expect("STS issued credentials before the start's log write failed");
    assert_eq!(
        env.try_call(&issued).await,
        Err("AccessDenied".to_string()),
        "the role denies the withdrawn session's tokens"
    );
    assert!(
        role_revocations(&f)
            .await
            .is_some_and(|doc| doc.contains(&id[id.len() - 16..])),
        "the role's revocations name the withdrawn session"
    );
}

#[tokio::test]
async fn concurrent_starts_and_ends_make_one_session_and_one_end() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "race").await;

    // 20 starts with one Idempotency-Key: one session.
    let http = reqwest::Client::new();
    let starts = (0..20).map(|_| {
        let http = http.clone();
        let url = format!("{}/sessions", env.base_url);
        let (token, body) = (f.token.clone(), jit(&f, 900));
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "race-start-1")
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    });
    let results = futures_join_all(starts).await;
    let ids: std::collections::BTreeSet<String> = results
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b["session"]["id"].as_str().unwrap().to_string())
        .collect();
    assert!(results.iter().all(|(s, _)| *s == 201 || *s == 409), "{results:?}");
    assert_eq!(ids.len(), 1, "one session: {ids:?}");
    assert_eq!(
        api.get("/sessions", &f.token).await.ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let id = ids.into_iter().next().unwrap();

    // 20 ends racing the expirer: one end event.
    env.clock.advance(Duration::from_secs(901));
    let ends = (0..20).map(|_| {
        let http = http.clone();
        let url = format!("{}/sessions/{id}", env.base_url);
        let token = f.token.clone();
        async move {
            http.delete(url)
                .bearer_auth(token)
                .json(&json!({ "reason": "race" }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let (statuses, _) = tokio::join!(futures_join_all(ends), env.run_expirer());
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let log = log_of(env, &f.token, &id).await;
    assert_eq!(log["verified"], true);
    let types = event_types(&log);
    assert_eq!(
        types.iter().filter(|t| *t == "ended" || *t == "expired").count(),
        1,
        "{types:?}"
    );
    let final_state = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert!(final_state["status"] == "ended" || final_state["status"] == "expired");
}

#[tokio::test]
async fn bots_act_on_behalf_of_users_with_both_recorded() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "bot").await;
    let bot = env.token(Role::Bot, "bot:chatops", None);

    let mut body = jit(&f, 900);
    api.post("/sessions", &bot, body.clone()).await.problem(403);
    body["on_behalf_of"] = json!(f.email);
    let started = api.post("/sessions", &bot, body.clone()).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap();
    assert_eq!(
        (
            started["session"]["user"].as_str(),
            started["session"]["requested_by"].as_str()
        ),
        (Some(f.email.as_str()), Some("bot:chatops"))
    );
    // A bot's answer carries what it may relay (the one-time console link), never credentials.
    assert!(started.get("credentials").is_none(), "{started}");
    assert!(started["console_url"].as_str().is_some_and(|u| !u.is_empty()));
    for secret in ["secret_access_key", "session_token", "access_key_id", "password"] {
        assert!(!started.to_string().contains(secret), "{secret} in a bot's answer");
    }
    // Bots never start console (password) sessions.
    let console = json!({ "account_id": f.account, "type": "console", "duration_seconds": 900, "reason": "look", "on_behalf_of": f.email });
    let p = api.post("/sessions", &bot, console.clone()).await.problem(403);
    assert!(p["detail"].as_str().unwrap().contains("console"), "{p}");
    // Only bots the deployment lists, and only for the users it lists them for.
    let unlisted = env.token(Role::Bot, "bot:unlisted", None);
    let p = api.post("/sessions", &unlisted, body.clone()).await.problem(403);
    assert!(p["detail"].as_str().unwrap().contains("allow-listed"), "{p}");
    let mut elsewhere = body.clone();
    elsewhere["on_behalf_of"] = json!("someone@other.org");
    let p = api.post("/sessions", &bot, elsewhere).await.problem(403);
    assert!(p["detail"].as_str().unwrap().contains("not allowed to act for"), "{p}");
    // Only where the user could act: someone without a group is refused.
    body["on_behalf_of"] = json!("nobody@example.com");
    api.post("/sessions", &bot, body).await.problem(403);
    // Users cannot act for others.
    let mut as_user = jit(&f, 900);
    as_user["on_behalf_of"] = json!("someone@example.com");
    api.post("/sessions", &f.token, as_user).await.problem(403);
    // Reads and ends on behalf, too.
    api.get(&format!("/sessions/{id}?on_behalf_of={}", f.email), &bot)
        .await
        .ok(200);
    api.get(&format!("/sessions/{id}?on_behalf_of=other@example.com"), &bot)
        .await
        .problem(403);
    let ended = api
        .send(
            "DELETE",
            &format!("/sessions/{id}"),
            Some(&bot),
            Some(e2e::RawBody::Json(
                json!({ "reason": "chat-ops end", "on_behalf_of": f.email }),
            )),
        )
        .await
        .ok(200);
    assert_eq!(ended["ended_by"], format!("bot:chatops for {}", f.email).as_str());
    let log = log_of(env, &f.token, id).await;
    // A broken chain returns no events, and `all` holds on none: check what is there first.
    assert_eq!(log["verified"], true, "{log}");
    assert_eq!(event_types(&log), ["requested", "started", "ended"]);
    assert!(
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["requested_by"] == "bot:chatops" && e["user"] == f.email.as_str())
    );
}

#[tokio::test]
async fn a_failed_revocation_is_retried_by_the_expirer() {
    let env = env();
    let _serial = env.serial().await;
    env.drain_expirer().await;
    let api = env.client();
    let f = fixture(env, "retry").await;
    let started = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap();
    let role_name = f.role.rsplit('/').next().unwrap().to_string();
    env.faults.inject(&role_name, "PutRolePolicy", 0, Fault::Fail);
    api.send(
        "DELETE",
        &format!("/sessions/{id}"),
        Some(&f.token),
        Some(e2e::RawBody::Json(json!({ "reason": "done" }))),
    )
    .await
    .problem(503);
    let pending = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(
        (pending["status"].as_str(), pending["revocation_failures"].as_u64()),
        (Some("ending"), Some(1))
    );
    assert!(role_revocations(&f).await.is_none());
    // On the bus (docs/events.md): `revocation_failed`, with the attempt and the error.
    let failed = session_event(env, id, "revocation_failed", "Session revocation failed").await;
    assert_fields(&failed, &fixture_fields(&f));
    assert_fields(
        &failed,
        &json!({ "kind": "jit", "role_arn": f.role, "duration_seconds": 900,
                 "request_reason": "incident INC-42", "attempt": 1 }),
    );
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("injected fault in PutRolePolicy")),
        "the error says what failed: {failed}"
    );
    assert_as_logged(env, &f.token, &failed).await;

    env.clock.advance(Duration::from_secs(180));
    let report = env.run_expirer().await;
    assert_eq!(report.retried, 1, "{report:?}");
    let done = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(done["status"], "ended");
    assert!(role_revocations(&f).await.is_some());
    let log = log_of(env, &f.token, id).await;
    assert_eq!(log["verified"], true);
    assert_eq!(
        event_types(&log),
        ["requested", "started", "revocation_failed", "ended"]
    );
}

async fn futures_join_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    // Poll all concurrently.
    let results = futures::future::join_all(handles).await;
    out.extend(results);
    out
}

/// AWS failing while access is being granted: nothing is handed out, and what was already
/// changed (a new password) is taken back: the user is denied again with an unknown password.
#[tokio::test]
async fn a_grant_failing_halfway_hands_out_nothing_and_is_rolled_back() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "halfway").await;
    // The password is set, then narrowing the deny fails.
    env.faults.clear_calls(&f.email);
    env.faults.inject(&f.email, "PutUserPolicy", 0, Fault::Fail);
    let reply = api.post("/sessions", &f.token, console(&f, 900)).await;
    reply.problem(503);
    assert!(!reply.text.contains("password"), "{}", reply.text);
    let listed = api.get("/sessions", &f.token).await.ok(200);
    let session = &listed["items"][0];
    assert_eq!(session["status"], "ended", "{listed}");
    assert!(
        session["end_reason"]
            .as_str()
            .unwrap()
            .starts_with("start failed at narrow the session deny policy")
    );
    // The withdrawal took the password back: the deny put back and a second, unknown password
    // set after the failed narrowing.
    assert_eq!(
        env.faults.calls(&f.email),
        ["SetLoginProfile", "PutUserPolicy", "PutUserPolicy", "SetLoginProfile"]
    );
    assert!(user_has_deny(&f).await);
    let log = log_of(env, &f.token, session["id"].as_str().unwrap()).await;
    assert_eq!(log["verified"], true);
    assert_eq!(event_types(&log), ["requested", "ended"]);
}

/// Two users' sessions on one role ended at the same moment: both denies survive (the record
/// in DynamoDB is versioned; a lease serializes the role policy's writes) and both sessions'
/// credentials are refused.
#[tokio::test]
async fn concurrent_ends_on_one_role_keep_every_deny() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "tworole").await;
    // A second user, in the same group, trusted by the same role.
    let other = "tworole-2@example.com";
    api.post(
        &format!("/accounts/{}/users", f.account),
        &admin,
        json!({ "email": other, "credential": true }),
    )
    .await
    .ok(201);
    let groups = api.get("/groups?limit=100", &admin).await.ok(200);
    let gid = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "sessions-tworole")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.put(&format!("/groups/{gid}/members/{other}"), &admin, json!({}))
        .await
        .ok(201);
    let arns: Vec<String> = [f.email.as_str(), other]
        .iter()
        .map(|u| format!("arn:aws:iam::{}:user/{u}", f.aws_account))
        .collect();
    let trust = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Principal": { "AWS": arns }, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"] }] });
    let role_name = f.role.rsplit('/').next().unwrap();
    f.iam
        .update_assume_role_policy()
        .role_name(role_name)
        .policy_document(trust.to_string())
        .send()
        .await
        .unwrap();

    let mut ids = Vec::new();
    let mut creds = Vec::new();
    for token in [f.token.clone(), env.user(other)] {
        let s = api.post("/sessions", &token, jit(&f, 900)).await.ok(201);
        ids.push((token, s["session"]["id"].as_str().unwrap().to_string()));
        creds.push(e2e::session_credentials(&s));
    }
    let end = |token: String, id: String| {
        let api = env.client();
        async move {
            api.send(
                "DELETE",
                &format!("/sessions/{id}"),
                Some(&token),
                Some(e2e::RawBody::Json(json!({ "reason": "race" }))),
            )
            .await
            .status
        }
    };
    let (a, b) = tokio::join!(
        end(ids[0].0.clone(), ids[0].1.clone()),
        end(ids[1].0.clone(), ids[1].1.clone())
    );
    assert_eq!((a, b), (200, 200));
    let doc: Value = serde_json::from_str(&role_revocations(&f).await.unwrap()).unwrap();
    let denied = doc["Statement"][0]["Condition"]["StringLike"]["aws:userid"].clone();
    for (_, id) in &ids {
        let pattern = shared::domain::revocation::session_pattern(&shared::domain::SessionId::parse(id).unwrap());
        assert!(
            denied.as_array().unwrap().contains(&json!(pattern)),
            "both denies kept: {denied}"
        );
    }
    for creds in &creds {
        assert_eq!(env.try_call(creds).await, Err("AccessDenied".into()));
    }
}

/// The process dies while ending a session, just after the role's deny was written in IAM but
/// before the end was recorded: the session stays claimed ("ending"), and the expirer's next
/// run finishes it once. One end event, a verified log, the deny in place.
#[tokio::test]
async fn a_crash_while_ending_is_finished_by_the_expirer() {
    let env = env();
    let _serial = env.serial().await;
    env.drain_expirer().await;
    let api = env.client();
    let f = fixture(env, "crash-end").await;
    let started = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    let role_name = f.role.rsplit('/').next().unwrap().to_string();
    env.faults.inject(&role_name, "PutRolePolicy", 0, Fault::CrashAfter);
    assert!(
        api.try_send(
            "DELETE",
            &format!("/sessions/{id}"),
            &f.token,
            Some(json!({ "reason": "done" }))
        )
        .await
        .is_none(),
        "the request died"
    );
    assert!(
        role_revocations(&f).await.is_some(),
        "the deny reached IAM before the crash"
    );
    let claimed = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(claimed["status"], "ending", "{claimed}");

    env.clock.advance(Duration::from_secs(600));
    let report = env.run_expirer().await;
    assert_eq!(report.retried, 1, "{report:?}");
    let done = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(done["status"], "ended", "{done}");
    assert!(role_revocations(&f).await.is_some());
    let log = log_of(env, &f.token, &id).await;
    assert_eq!(log["verified"], true);
    let events = event_types(&log);
    assert_eq!(events.iter().filter(|e| *e == "ended").count(), 1, "{events:?}");
    assert_eq!(events.first().map(String::as_str), Some("requested"));

    // A second run finds nothing left to do for it.
    let again = env.run_expirer().await;
    assert_eq!(again.failed, 0, "{again:?}");
    assert_eq!(event_types(&log_of(env, &f.token, &id).await), events);
}

/// The process dies while granting a console session, after the new password was set and
/// before the deny was lifted: nothing was handed out, the user is still denied, and the
/// session (recorded before the grant) is ended by the expirer when its time is up.
#[tokio::test]
async fn a_crash_while_starting_hands_out_nothing_and_is_ended_at_expiry() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "crash-start").await;
    env.faults.clear_calls(&f.email);
    env.faults.inject(&f.email, "PutUserPolicy", 0, Fault::Crash);
    assert!(
        api.try_send("POST", "/sessions", &f.token, Some(console(&f, 900)))
            .await
            .is_none(),
        "the request died"
    );
    assert_eq!(
        env.faults.calls(&f.email),
        ["SetLoginProfile", "PutUserPolicy"],
        "died before narrowing the deny"
    );
    assert!(user_has_deny(&f).await, "the session deny was never lifted");
    let listed = api.get("/sessions", &f.token).await.ok(200);
    let id = listed["items"][0]["id"].as_str().unwrap().to_string();

    env.clock.advance(Duration::from_secs(960));
    let report = env.run_expirer().await;
    assert_eq!(report.failed, 0, "{report:?}");
    let done = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(done["status"], "expired", "{done}");
    // The expiry took the password back: the deny put again and a new password set.
    let calls = env.faults.calls(&f.email);
    assert_eq!(&calls[2..], ["PutUserPolicy", "SetLoginProfile"], "{calls:?}");
    assert!(user_has_deny(&f).await);
    let log = log_of(env, &f.token, &id).await;
    assert_eq!(log["verified"], true);
    let events = event_types(&log);
    assert_eq!(events.first().map(String::as_str), Some("requested"));
    assert!(!events.iter().any(|e| e == "started"), "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("expired"), "{events:?}");
}

/// One expirer run with due sessions in several accounts (worked on concurrently): every one
/// is ended, each in its own account; credentials that expired with their session need no deny.
#[tokio::test]
async fn one_run_expires_sessions_across_accounts() {
    let env = env();
    let _serial = env.serial().await;
    env.drain_expirer().await;
    let api = env.client();
    let fixtures = [
        fixture(env, "across-a").await,
        fixture(env, "across-b").await,
        fixture(env, "across-c").await,
    ];
    let mut ids = Vec::new();
    for f in &fixtures {
        let started = api.post("/sessions", &f.token, jit(f, 900)).await.ok(201);
        ids.push(started["session"]["id"].as_str().unwrap().to_string());
    }
    env.clock.advance(Duration::from_secs(960));
    let report = env.run_expirer().await;
    assert_eq!(report.expired, 3, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    for (f, id) in fixtures.iter().zip(&ids) {
        let s = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
        assert_eq!(s["status"], "expired", "{s}");
        // A console made from the credentials could outlive them: the expiry denies the session.
        let denies = role_revocations(f).await.unwrap_or_default();
        assert!(
            denies.contains(&id[id.len() - 16..]),
            "{} denies the expired session: {denies}",
            f.role
        );
        let log = log_of(env, &f.token, id).await;
        assert_eq!(log["verified"], true);
        assert_eq!(event_types(&log), ["requested", "started", "expired"]);
    }
}

/// The role's maximum session duration is kept with the JIT settings (read when they are
/// saved), so a start reads no role; a role shortened since is caught by STS refusing the
/// duration, which withdraws the start, reads the role again and keeps its new maximum.
#[tokio::test]
async fn the_roles_maximum_is_kept_and_read_again_when_sts_refuses() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "rolemax").await;
    // Saved after the role exists: the review reads its maximum (7200).
    let settings =
        json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 7200, "allowed_role_arns": [f.role] });
    let saved = api
        .put(&format!("/accounts/{}/jit", f.account), &admin, settings)
        .await
        .ok(200);
    assert_eq!(
        saved["trust_review"][0]["max_session_duration_seconds"], 7200,
        "{saved}"
    );

    env.calls.start();
    let s = api.post("/sessions", &f.token, jit(&f, 5400)).await.ok(201);
    let calls: Vec<String> = env.calls.stop().into_iter().map(|c| c.operation).collect();
    assert!(
        !calls.iter().any(|c| c == "iam:GetRole"),
        "no role read at the start: {calls:?}"
    );
    api.end_session(&f.token, s["session"]["id"].as_str().unwrap())
        .await
        .ok(200);

    // Shortened behind the broker's back: STS refuses, the start is withdrawn and refused.
    f.iam
        .update_role()
        .role_name(f.role_name())
        .max_session_duration(3600)
        .send()
        .await
        .unwrap();
    let reply = api.post("/sessions", &f.token, jit(&f, 5400)).await;
    let p = reply.problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/invalid-duration", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("3600"), "{p}");
    assert!(!reply.text.contains("secret_access_key"));
    let listed = api.get("/sessions", &f.token).await.ok(200);
    let withdrawn = &listed["items"][0];
    assert_eq!(withdrawn["status"], "ended", "{listed}");
    assert!(
        withdrawn["end_reason"]
            .as_str()
            .unwrap()
            .contains("refused the duration"),
        "{withdrawn}"
    );
    let kept = api.get(&format!("/accounts/{}/jit", f.account), &admin).await.ok(200);
    assert_eq!(kept["trust_review"][0]["max_session_duration_seconds"], 3600, "{kept}");

    // Now refused before STS (a refusal reads the role again, so that a maximum raised since
    // is seen; the refusal is logged, as every refusal is); within it, granted.
    env.calls.start();
    refused_start(env, &f, 5400).await;
    let calls: Vec<String> = env.calls.stop().into_iter().map(|c| c.operation).collect();
    assert!(
        !calls.iter().any(|c| c == "sts:AssumeRole"),
        "refused before STS: {calls:?}"
    );
    api.post("/sessions", &f.token, jit(&f, 3600)).await.ok(201);

    // Raised again: granted without saving the settings, and kept.
    f.iam
        .update_role()
        .role_name(f.role_name())
        .max_session_duration(7200)
        .send()
        .await
        .unwrap();
    api.post("/sessions", &f.token, jit(&f, 5400)).await.ok(201);
    let kept = api.get(&format!("/accounts/{}/jit", f.account), &admin).await.ok(200);
    assert_eq!(kept["trust_review"][0]["max_session_duration_seconds"], 7200, "{kept}");

    // Deleted behind the broker's back: STS refuses, and the answer is the refusal the checks
    // would have given (`role-not-allowed`), not AWS's AccessDenied.
    let inline = f
        .iam
        .list_role_policies()
        .role_name(f.role_name())
        .send()
        .await
        .unwrap();
    for name in inline.policy_names() {
        f.iam
            .delete_role_policy()
            .role_name(f.role_name())
            .policy_name(name)
            .send()
            .await
            .unwrap();
    }
    f.iam.delete_role().role_name(f.role_name()).send().await.unwrap();
    let p = api.post("/sessions", &f.token, jit(&f, 900)).await.problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/role-not-allowed", "{p}");
}

async fn refused_start(env: &TestEnv, f: &Fixture, seconds: i64) {
    let p = env
        .client()
        .post("/sessions", &f.token, jit(f, seconds))
        .await
        .problem(422);
    assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/invalid-duration", "{p}");
}

/// A start that dies midway (here as it calls STS, after its record and its `requested` line
/// were written) is not left live until its end: it is due again within minutes, and the
/// expirer withdraws it then.
#[tokio::test]
async fn a_start_that_dies_midway_is_withdrawn_within_minutes() {
    let env = env();
    let _serial = env.serial().await;
    // Earlier tests' sessions ended first, so that the run below counts only this one.
    env.drain_expirer().await;
    let api = env.client();
    let f = fixture(env, "abandoned").await;
    env.calls
        .fail_every("sts:AssumeRole", shared::adapters::recording::HttpFault::CrashBefore);
    let died = api.try_send("POST", "/sessions", &f.token, Some(jit(&f, 3600))).await;
    env.calls.stop();
    assert!(died.is_none_or(|r| r.status >= 500), "the start died");
    let listed = api.get("/sessions", &f.token).await.ok(200);
    let session = listed["items"][0].clone();
    assert_eq!(session["status"], "active", "left as it died: {listed}");
    let id = session["id"].as_str().unwrap().to_string();

    // Not yet: a start may still be running.
    env.run_expirer().await;
    let now = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(now["status"], "active");
    // Six minutes on (its end is an hour away): withdrawn, and logged.
    env.clock.advance(Duration::from_secs(360));
    let report = env.run_expirer().await;
    env.clock.reset();
    assert_eq!(report.expired, 1, "this test's one session, withdrawn: {report:?}");
    let now = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(now["status"], "ended", "{now}");
    assert!(
        now["end_reason"].as_str().unwrap().contains("did not complete"),
        "{now}"
    );
    let log = api.get(&format!("/sessions/{id}/log"), &f.token).await.ok(200);
    assert_eq!(log["verified"], true, "{log}");
}
