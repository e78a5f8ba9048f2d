//! Provisioning, deprovisioning and rotation with a fault at every AWS call they make (see `common.rs`).
//! Its own binary: it moves the broker's clock and records every AWS call.

mod common;
use common::*;

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
    // counted: see docs/reliability.md (users 192 of the 412 injection points). A call added
    // to or dropped from provisioning, rotation or deprovisioning changes it: say so there.
    assert_eq!(points, 192, "injection points for users (docs/reliability.md)");
}
