//! Ending sessions early with a fault at every AWS call an end makes (see `common.rs`).
//! Its own binary: it moves the broker's clock and records every AWS call.

mod common;
use common::*;

#[tokio::test]
async fn ending_sessions_survives_a_fault_at_every_call() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let mut points = 0;

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
    println!("ends: {points} injection points (calls x 4 faults)");
    // counted: see docs/reliability.md (ends 64 of the 412 injection points). A call
    // added to or dropped from an end changes it: say so there.
    assert_eq!(points, 64, "injection points for ends (docs/reliability.md)");
}
