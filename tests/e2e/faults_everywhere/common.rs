//! A fault at every AWS call the broker makes (DynamoDB, KMS, S3, IAM, STS: injected at the
//! SDK's HTTP layer), for each operation that changes AWS: provisioning, deprovisioning,
//! rotation (`users.rs`), starting sessions (`starts.rs`), ending them (`ends.rs`), and
//! expiring them (`expiry.rs`). Each call fails in turn as "unavailable", as an AWS refusal (403), and with the
//! process dying before and after it. After each: nothing is left half-done that a retry does
//! not finish, no IAM user or key is orphaned, and no credentials are live on a session that
//! reads ended; then a retry converges.
//!
//! This file holds what the four binaries share. Each is a binary of its own (its own local
//! system), so the test command runs them side by side: together they were the suite's longest
//! binary, one moto process bound to one core. Each binary uses part of what is here.
#![allow(dead_code, unused_imports)]
pub use std::time::Duration;

pub use aws_credential_types::Credentials;
pub use e2e::consoles::user_console;
pub use e2e::{Fixture, HttpFault, Reply, TestEnv, access_keys, assert_converged, env, fixture, iam_user_exists};
pub use serde_json::{Value, json};

pub const FAULTS: [HttpFault; 4] = [
    HttpFault::Unavailable,
    HttpFault::Refused,
    HttpFault::CrashBefore,
    HttpFault::CrashAfter,
];

/// The AWS calls `work` makes, in the order they start.
pub async fn calls_of<F: std::future::Future>(env: &TestEnv, work: F) -> (F::Output, Vec<String>) {
    env.calls.start();
    let out = work.await;
    let calls = env.calls.stop().into_iter().map(|c| c.operation).collect();
    (out, calls)
}

/// Sends a request with `fault` injected at call `at`: `None` when the handler died.
pub async fn faulted(
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

pub fn user_body(email: &str) -> Value {
    json!({ "email": email, "console_access": true, "credential": true })
}

pub fn jit(f: &Fixture) -> Value {
    f.jit(900)
}

/// The fixture user's sessions started since the session id `since` (ids sort by time), as
/// the API reads them: each injection point looks at its own sessions only.
pub async fn sessions_of(env: &TestEnv, f: &Fixture, since: &str) -> Vec<Value> {
    env.client().get("/sessions?limit=100", &f.token).await.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["id"].as_str().unwrap() > since)
        .cloned()
        .collect()
}

/// A mark before the sessions an injection point starts.
pub fn mark() -> String {
    shared::domain::SessionId::generate().to_string()
}

/// How many times `settled` lets the expirer retry an end before the test fails.
pub const SETTLE_ROUNDS: usize = 4;

/// The session `id` once it no longer reads `ending`. An end left `ending` (its revocation
/// failed, or the process died during it) is finished by the expirer once its retry is due
/// (a minute per failure) or its claim's lease (120 s) has lapsed: each round reads the session
/// and, while it still reads `ending`, moves the broker's clock past both and runs the expirer.
/// Still `ending` after `SETTLE_ROUNDS` rounds fails the test.
pub async fn settled(env: &TestEnv, f: &Fixture, id: &str, what: &str) -> Value {
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
pub async fn call_as_session(
    env: &TestEnv,
    f: &Fixture,
    user: &Credentials,
    id: &str,
    what: &str,
) -> Result<(), String> {
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
pub async fn assert_no_live_credentials_on_ended_sessions(
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
pub async fn assert_session_access(env: &TestEnv, f: &Fixture, user: &Credentials, s: &Value, what: &str) {
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
pub async fn live_session_count(env: &TestEnv, account: &str) -> i64 {
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
pub async fn converge_sessions(env: &TestEnv, f: &Fixture, user: &Credentials, since: &str, what: &str) {
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

/// The user's "no access outside sessions" deny, as it must read in IAM (README: a console
/// session's end puts the user's deny-all back): written out here, not taken from the product
/// (`shared::domain::iam_policies::session_deny_document`), so that a change to it is a change
/// this test is made to agree with.
pub fn session_deny_outside_sessions() -> Value {
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
