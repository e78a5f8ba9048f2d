//! Starting sessions with a fault at every AWS call a start makes (see `common.rs`).
//! Its own binary: it moves the broker's clock and records every AWS call.

mod common;
use common::*;

#[tokio::test]
async fn starting_sessions_survives_a_fault_at_every_call() {
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

    println!("starts: {points} injection points (calls x 4 faults)");
    // counted: see docs/reliability.md (starts 76 of the 412 injection points). A call
    // added to or dropped from a start changes it: say so there.
    assert_eq!(points, 76, "injection points for starts (docs/reliability.md)");
}
