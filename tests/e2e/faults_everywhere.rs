//! A fault at every AWS call the broker makes (DynamoDB, KMS, S3, IAM, STS: injected at the
//! SDK's HTTP layer), for each operation that changes AWS: provisioning, deprovisioning,
//! rotation, starting, ending and expiring sessions. Each call fails in turn as "unavailable",
//! as an AWS refusal (403), and with the process dying before and after it. After each:
//! nothing is left half-done that a retry does not finish, no IAM user or key is orphaned, and
//! no credentials are live on a session that reads ended; then a retry converges.
//!
//! Its own binary: it moves the broker's clock and records every AWS call.

use std::time::Duration;

use aws_credential_types::Credentials;
use e2e::consoles::user_console;
use e2e::{Fixture, HttpFault, Reply, TestEnv, access_keys, assert_converged, env, fixture, iam_user_exists};
use serde_json::{Value, json};

const FAULTS: [HttpFault; 4] = [
    HttpFault::Unavailable,
    HttpFault::Refused,
    HttpFault::CrashBefore,
    HttpFault::CrashAfter,
];

/// The AWS calls `work` makes, in the order they start.
async fn calls_of<F: std::future::Future>(env: &TestEnv, work: F) -> (F::Output, Vec<String>) {
    env.calls.start();
    let out = work.await;
    let calls = env.calls.stop().into_iter().map(|c| c.operation).collect();
    (out, calls)
}

/// Sends a request with `fault` injected at call `at`: `None` when the handler died.
async fn faulted(
    env: &TestEnv,
    at: usize,
    fault: HttpFault,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Option<Reply> {
    env.calls.start_with_fault(at, fault);
    let reply = env.client().try_send(method, path, token, body).await;
    env.calls.stop();
    reply
}

fn user_body(email: &str) -> Value {
    json!({ "email": email, "console_access": true, "credential": true })
}

#[tokio::test]
async fn provisioning_deprovisioning_and_rotation_survive_a_fault_at_every_call() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account("everywhere-users").await;
    let iam = env.target_iam(&target).await;
    let path = format!("/accounts/{account}/users");
    let mut points = 0;

    // Provisioning.
    let (_, calls) = calls_of(env, async {
        api.post(&path, &admin, user_body("p-learn@example.com")).await.ok(201)
    })
    .await;
    for (at, op) in calls.iter().enumerate() {
        for fault in FAULTS {
            points += 1;
            let user = format!("p{at}-{fault:?}@example.com").to_lowercase();
            let what = format!("provision, {fault:?} at {op} (#{at})");
            let reply = faulted(env, at, fault, "POST", &path, &admin, Some(user_body(&user))).await;
            match reply.as_ref().map(|r| r.status) {
                Some(201) => {
                    let record = api.get(&format!("{path}/{user}"), &admin).await.ok(200);
                    assert_converged(&iam, &record, &user, &what).await;
                    continue;
                }
                Some(status) => assert!((400..600).contains(&status), "{what}: {status}"),
                None => {}
            }
            let record = api.get(&format!("{path}/{user}"), &admin).await;
            if record.status == 200 && record.json()["status"] == "provisioned" {
                // Done before the process died (or the answer was lost): converged already.
                assert_converged(&iam, &record.json(), &user, &what).await;
                continue;
            }
            if let Some(r) = reply
                .as_ref()
                .filter(|_| record.status == 200 && record.json()["status"] == "failed")
            {
                // Rolled back: nothing of the user left in IAM, unless the answer says so.
                if !r.text.contains("retry or DELETE") {
                    assert!(!iam_user_exists(&iam, &user).await, "{what}: orphaned IAM user");
                }
            }
            // A retry converges (a crashed attempt is taken over once abandoned).
            env.clock.advance(Duration::from_secs(301));
            let retried = api.post(&path, &admin, user_body(&user)).await;
            let record = if retried.status == 201 {
                retried.json()
            } else {
                panic!(
                    "{what}: the retry did not converge: {} {}",
                    retried.status, retried.text
                );
            };
            assert_converged(&iam, &record, &user, &what).await;
        }
    }

    // Rotation.
    let user = "rotate@example.com";
    api.post(&path, &admin, user_body(user)).await.ok(201);
    let rotate = format!("{path}/{user}/credentials");
    let (_, calls) = calls_of(env, async {
        api.send("POST", &rotate, Some(&admin), None).await.ok(200)
    })
    .await;
    for (at, op) in calls.iter().enumerate() {
        for fault in FAULTS {
            points += 1;
            let what = format!("rotate, {fault:?} at {op} (#{at})");
            let reply = faulted(env, at, fault, "POST", &rotate, &admin, None).await;
            if let Some(r) = &reply {
                assert!(r.status == 200 || (400..600).contains(&r.status), "{what}");
            }
            // The recorded key exists in IAM at every moment (the new one is created first).
            let record = api.get(&format!("{path}/{user}"), &admin).await.ok(200);
            if let Some(k) = record["credential"]["access_key_id"].as_str() {
                assert!(
                    access_keys(&iam, user).await.contains(&k.to_string()),
                    "{what}: recorded key missing"
                );
            }
            env.clock.advance(Duration::from_secs(301));
            let retried = api.send("POST", &rotate, Some(&admin), None).await;
            assert_eq!(retried.status, 200, "{what}: {}", retried.text);
            assert_converged(&iam, &retried.json(), user, &what).await;
        }
    }

    // Deprovisioning.
    let (_, calls) = calls_of(env, async {
        api.post(&path, &admin, user_body("d-learn@example.com")).await.ok(201);
        env.calls.start();
        api.delete(&format!("{path}/d-learn@example.com"), &admin).await.ok(200)
    })
    .await;
    for (at, op) in calls.iter().enumerate() {
        for fault in FAULTS {
            points += 1;
            let user = format!("d{at}-{fault:?}@example.com").to_lowercase();
            let what = format!("deprovision, {fault:?} at {op} (#{at})");
            api.post(&path, &admin, user_body(&user)).await.ok(201);
            faulted(env, at, fault, "DELETE", &format!("{path}/{user}"), &admin, None).await;
            env.clock.advance(Duration::from_secs(301));
            let again = api.delete(&format!("{path}/{user}"), &admin).await;
            assert!(
                again.status == 200 || again.status == 404,
                "{what}: {} {}",
                again.status,
                again.text
            );
            assert!(!iam_user_exists(&iam, &user).await, "{what}: the IAM user is left");
            assert!(access_keys(&iam, &user).await.is_empty(), "{what}: a key is left");
        }
    }
    println!("users: {points} injection points (calls x 4 faults)");
    // counted: see docs/reliability.md (users 192 of the 456 injection points). A call added
    // to or dropped from provisioning, rotation or deprovisioning changes it: say so there.
    assert_eq!(points, 192, "injection points for users (docs/reliability.md)");
}

fn jit(f: &Fixture) -> Value {
    f.jit(900)
}

/// The fixture user's sessions started since the session id `since` (ids sort by time), as
/// the API reads them: each injection point looks at its own sessions only.
async fn sessions_of(env: &TestEnv, f: &Fixture, since: &str) -> Vec<Value> {
    env.client().get("/sessions?limit=100", &f.token).await.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["id"].as_str().unwrap() > since)
        .cloned()
        .collect()
}

/// A mark before the sessions an injection point starts.
fn mark() -> String {
    shared::domain::SessionId::generate().to_string()
}

/// How many times `settled` lets the expirer retry an end before the test fails.
const SETTLE_ROUNDS: usize = 4;

/// The session `id` once it no longer reads `ending`. An end left `ending` (its revocation
/// failed, or the process died during it) is finished by the expirer once its retry is due
/// (a minute per failure) or its claim's lease (120 s) has lapsed: each round reads the session
/// and, while it still reads `ending`, moves the broker's clock past both and runs the expirer.
/// Still `ending` after `SETTLE_ROUNDS` rounds fails the test.
async fn settled(env: &TestEnv, f: &Fixture, id: &str, what: &str) -> Value {
    for _ in 0..SETTLE_ROUNDS {
        let now = env.client().get(&format!("/sessions/{id}"), &f.token).await.ok(200);
        if now["status"] != "ending" {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        env.clock.advance(Duration::from_secs(121));
        env.run_expirer().await;
    }
    let last = env.client().get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_ne!(
        last["status"], "ending",
        "{what}: {id} still reads ending after {SETTLE_ROUNDS} expirer runs: {last}"
    );
    last
}

/// What AWS says to a call with the credentials of session `id`: the credentials STS issued
/// for it, or, where the test never saw them (STS was not reached, or the process died before
/// it read STS's answer), a stand-in with the same identity (`<role id>:cib-<id>`, which is
/// what the role's deny names) minted with the user's own key, as the broker's AssumeRole is.
async fn call_as_session(env: &TestEnv, f: &Fixture, user: &Credentials, id: &str, what: &str) -> Result<(), String> {
    let creds = match env.issued_credentials(id) {
        Some(creds) => creds,
        None => env
            .assume_role_as(user, &f.role, &format!("cib-{id}"), Some(&f.email))
            .await
            .unwrap_or_else(|e| panic!("{what}: minting cib-{id} with the user's key was refused: {e}")),
    };
    env.try_call(&creds).await
}

/// No credentials are live on a session that reads ended or expired (AWS refuses them with
/// AccessDenied: any other error would not show the deny), and every session that reads active
/// has credentials that work. The sessions are checked as they read first; then each one still
/// `ending` is waited out (`settled`, which runs the expirer and may end the others: hence the
/// order) and checked as it ends.
async fn assert_no_live_credentials_on_ended_sessions(
    env: &TestEnv,
    f: &Fixture,
    user: &Credentials,
    since: &str,
    what: &str,
) {
    let (ending, read): (Vec<Value>, Vec<Value>) = sessions_of(env, f, since)
        .await
        .into_iter()
        .partition(|s| s["status"] == "ending");
    for s in &read {
        assert_session_access(env, f, user, s, what).await;
    }
    for s in &ending {
        let now = settled(env, f, s["id"].as_str().unwrap(), what).await;
        assert_session_access(env, f, user, &now, what).await;
    }
}

/// Ended or expired: AWS refuses the session's credentials with AccessDenied. Active: they work.
async fn assert_session_access(env: &TestEnv, f: &Fixture, user: &Credentials, s: &Value, what: &str) {
    let id = s["id"].as_str().unwrap();
    match s["status"].as_str().unwrap() {
        "ended" | "expired" => assert_eq!(
            call_as_session(env, f, user, id, what).await,
            Err("AccessDenied".to_string()),
            "{what}: {id} reads {} and AWS does not refuse its credentials with AccessDenied",
            s["status"]
        ),
        "active" => {
            // Only the credentials STS issued can show that it works; there are none when the
            // start died before STS answered (the expirer withdraws it: `converge_sessions`).
            if let Some(creds) = env.issued_credentials(id) {
                assert_eq!(
                    env.try_call(&creds).await,
                    Ok(()),
                    "{what}: {id} reads active and its credentials do not work"
                );
            }
        }
        other => panic!("{what}: {id} reads {other}: {s}"),
    }
}

/// The account's live-session counter as stored (what account deletion is conditioned on).
async fn live_session_count(env: &TestEnv, account: &str) -> i64 {
    let sdk = env.sdk(&env.broker).await;
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&env.config.table_name)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#{account}")),
        )
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("ACCOUNT".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    item["live_session_count"].as_n().unwrap().parse().unwrap()
}

/// Ends everything still live (early ends, then the expirer for ends in progress), so every
/// session reads ended and its credentials are refused.
async fn converge_sessions(env: &TestEnv, f: &Fixture, user: &Credentials, since: &str, what: &str) {
    // A crash may have left a role's lease held: past its term, the next writer takes it over
    // (instead of waiting it out in real time).
    env.clock.advance(Duration::from_secs(61));
    for s in sessions_of(env, f, since).await {
        if s["status"] == "active" {
            let r = env
                .client()
                .send(
                    "DELETE",
                    &format!("/sessions/{}", s["id"].as_str().unwrap()),
                    Some(&f.token),
                    Some(e2e::RawBody::Json(json!({ "reason": "converge" }))),
                )
                .await;
            assert!(r.status == 200 || r.status == 503, "{what}: {}", r.text);
        }
    }
    for _ in 0..3 {
        if sessions_of(env, f, since)
            .await
            .iter()
            .all(|s| s["status"] != "active" && s["status"] != "ending")
        {
            break;
        }
        env.clock.advance(Duration::from_secs(121));
        env.run_expirer().await;
    }
    for s in sessions_of(env, f, since).await {
        assert!(
            s["status"] == "ended" || s["status"] == "expired",
            "{what}: {} did not converge: {s}",
            s["id"]
        );
    }
    assert_no_live_credentials_on_ended_sessions(env, f, user, since, what).await;
}

#[tokio::test]
async fn starting_and_ending_sessions_survive_a_fault_at_every_call() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let mut points = 0;

    // Starting.
    let f = fixture(env, "everywhere-start").await;
    // The user's own key (a second one, beside the broker's), to mint a stand-in with a
    // session's identity where the test never saw the credentials STS issued for it.
    let user = f.user_key().await;
    let since = mark();
    let (_, calls) = calls_of(env, async { api.post("/sessions", &f.token, jit(&f)).await.ok(201) }).await;
    converge_sessions(env, &f, &user, &since, "learning").await;
    for (at, op) in calls.iter().enumerate() {
        for fault in FAULTS {
            points += 1;
            let what = format!("start, {fault:?} at {op} (#{at})");
            let since = mark();
            let reply = faulted(env, at, fault, "POST", "/sessions", &f.token, Some(jit(&f))).await;
            if let Some(r) = reply.as_ref().filter(|r| r.status != 201) {
                assert!((400..600).contains(&r.status), "{what}: {}", r.status);
                assert!(
                    !r.text.contains("secret_access_key"),
                    "{what}: credentials on a failure"
                );
            }
            assert_no_live_credentials_on_ended_sessions(env, &f, &user, &since, &what).await;
            converge_sessions(env, &f, &user, &since, &what).await;
            // Withdrawn starts, crashed ones and their ends leave the counter exact.
            assert_eq!(live_session_count(env, &f.account).await, 0, "{what}");
            env.clock.reset();
        }
    }

    // Ending early.
    let f = fixture(env, "everywhere-end").await;
    let user = f.user_key().await;
    let started = api.post("/sessions", &f.token, jit(&f)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    let end_body = || Some(json!({ "reason": "done" }));
    let (_, calls) = calls_of(env, async {
        env.client()
            .try_send("DELETE", &format!("/sessions/{id}"), &f.token, end_body())
            .await
    })
    .await;
    for (at, op) in calls.iter().enumerate() {
        for fault in FAULTS {
            points += 1;
            let what = format!("end, {fault:?} at {op} (#{at})");
            let since = mark();
            let s = api.post("/sessions", &f.token, jit(&f)).await.ok(201);
            let id = s["session"]["id"].as_str().unwrap();
            faulted(
                env,
                at,
                fault,
                "DELETE",
                &format!("/sessions/{id}"),
                &f.token,
                end_body(),
            )
            .await;
            assert_no_live_credentials_on_ended_sessions(env, &f, &user, &since, &what).await;
            converge_sessions(env, &f, &user, &since, &what).await;
            assert_eq!(live_session_count(env, &f.account).await, 0, "{what}");
            env.clock.reset();
        }
    }
    println!("sessions: {points} injection points (calls x 4 faults)");
    // counted: see docs/reliability.md (sessions 148 of the 456 injection points). A call added
    // to or dropped from a start or an end changes it: say so there.
    assert_eq!(points, 148, "injection points for sessions (docs/reliability.md)");
}

/// A console session's expiry (it always revokes: the IAM user's own console session would
/// outlive the password) with a fault at each of its calls; the next run finishes it.
#[tokio::test]
async fn expiring_a_console_session_survives_a_fault_at_every_call() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "everywhere-expiry").await;
    let console =
        json!({ "account_id": f.account, "type": "console", "duration_seconds": 900, "reason": "faults everywhere" });
    api.post("/sessions", &f.token, console.clone()).await.ok(201);
    env.clock.advance(Duration::from_secs(901));
    let (report, calls) = calls_of(env, env.run_expirer()).await;
    assert_eq!(report.expired, 1, "{report:?}");
    env.clock.reset();
    // The person at the console, as the IAM user with a key of their own (a second one, beside
    // the broker's), allowed a call (`iam:ListRoles`) that only the session deny refuses.
    let user = f.user_key().await;
    assert_eq!(
        env.try_call(&user).await,
        Err("AccessDenied".to_string()),
        "no standing access outside a session"
    );
    let mut points = 0;
    for (at, op) in calls.iter().enumerate() {
        for fault in FAULTS {
            points += 1;
            let what = format!("expiry, {fault:?} at {op} (#{at})");
            let since = mark();
            let started = api.post("/sessions", &f.token, console.clone()).await.ok(201);
            let password = started["console"]["password"]
                .as_str()
                .expect("a console session's password")
                .to_string();
            assert_eq!(
                env.try_call(&user).await,
                Ok(()),
                "{what}: the console user works during the session"
            );
            env.clock.advance(Duration::from_secs(901));
            env.calls.start_with_fault(at, fault);
            env.run_expirer_may_die().await;
            env.calls.stop();
            // The next runs finish it: expired, the user denied again.
            for _ in 0..3 {
                if sessions_of(env, &f, &since)
                    .await
                    .iter()
                    .all(|s| s["status"] == "expired" || s["status"] == "ended")
                {
                    break;
                }
                env.clock.advance(Duration::from_secs(181));
                env.run_expirer().await;
            }
            let all = sessions_of(env, &f, &since).await;
            assert!(
                all.iter().all(|s| s["status"] == "expired" || s["status"] == "ended"),
                "{what}: {all:?}"
            );
            // The user's deny is back whole: the very document of "no access outside
            // sessions", not the narrowed one of the same name a console session carries.
            let deny = f
                .iam
                .get_user_policy()
                .user_name(&f.email)
                .policy_name("CloudIamBrokerSessionDeny")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{what}: the user's deny is not there: {e:?}"));
            let deny: Value = serde_json::from_str(&shared::routes::percent_decode(&deny.policy_document))
                .unwrap_or_else(|e| panic!("{what}: the user's deny is not JSON ({e}): {}", deny.policy_document));
            assert_eq!(deny, session_deny_outside_sessions(), "{what}: the user's deny is back");
            // And AWS refuses the user, signed with the user's own key: the deny is in force.
            assert_eq!(
                env.try_call(&user).await,
                Err("AccessDenied".to_string()),
                "{what}: the user is refused again"
            );
            // The password the session handed out no longer signs in (a new, unknown one).
            assert!(
                user_console(env, &f.aws_account, &f.email, &password).await.is_err(),
                "{what}: the session's password still signs in"
            );
            env.clock.reset();
        }
    }
    println!("expiry: {points} injection points (calls x 4 faults)");
    // counted: see docs/reliability.md (expiry 116 of the 456 injection points). A call added to
    // or dropped from a console session's expiry changes it: say so there.
    assert_eq!(points, 116, "injection points for expiry (docs/reliability.md)");
}

/// The user's "no access outside sessions" deny, as it must read in IAM (README: a console
/// session's end puts the user's deny-all back): written out here, not taken from the product
/// (`shared::domain::iam_policies::session_deny_document`), so that a change to it is a change
/// this test is made to agree with.
fn session_deny_outside_sessions() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NoAccessOutsideSessions",
                "Effect": "Deny",
                "NotAction": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession", "sts:GetCallerIdentity"],
                "Resource": "*",
            },
            {
                "Sid": "NoSwitchRoleOutsideJit",
                "Effect": "Deny",
                "Action": "sts:AssumeRole",
                "Resource": "*",
                "Condition": { "StringNotLike": { "sts:RoleSessionName": "cib-*" } },
            },
            {
                "Sid": "NoRoleFromTemporaryCredentials",
                "Effect": "Deny",
                "Action": "sts:AssumeRole",
                "Resource": "*",
                "Condition": { "Null": { "aws:TokenIssueTime": "false" } },
            },
        ]
    })
}
