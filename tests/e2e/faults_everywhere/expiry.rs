//! A console session's expiry with a fault at every AWS call it makes (see `common.rs`).
//! Its own binary: it moves the broker's clock and records every AWS call.

mod common;
use common::*;

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
    // An expirer run also does work of its own: its first run's, and the evidence digest of an
    // hour that has passed. Done first, at the time the learning run below sees, so that the
    // calls learnt (and their count) are the expiry's alone, wherever the wall clock stands (a
    // first run counted 104, one across the hour 120).
    env.clock.advance(Duration::from_secs(901));
    env.run_expirer().await;
    env.clock.reset();
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
    // counted: see docs/reliability.md (expiry 80 of the 412 injection points). A call added to
    // or dropped from a console session's expiry changes it: say so there.
    assert_eq!(points, 80, "injection points for expiry (docs/reliability.md)");
}
