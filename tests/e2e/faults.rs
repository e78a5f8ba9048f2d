//! AWS failures and crashes at each step of provisioning, deprovisioning and rotation: no
//! orphaned IAM user or key, a consistent record, and a retry that converges.
//!
//! Its own test binary, because it moves the broker's clock (to let crashed operations be
//! taken over) and that clock is shared by the binary's tests.

use std::time::Duration;

use e2e::{Fault, access_keys, assert_converged, env, iam_user_exists};
use serde_json::{Value, json};

fn body(email: &str) -> Value {
    json!({ "email": email, "console_access": true, "credential": true, "groups": ["faulty"], "policy_arns": [] })
}

#[tokio::test]
async fn a_failure_at_any_provisioning_step_rolls_back_and_a_retry_converges() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account("faults").await;
    let iam = env.target_iam(&target).await;
    iam.create_group().group_name("faulty").send().await.unwrap();
    let role = format!("arn:aws:iam::{}:role/OnCall", target.aws_account_id);
    api.put(
        &format!("/accounts/{account}/jit"),
        &admin,
        json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 900, "allowed_role_arns": [role] }),
    )
    .await
    .ok(200);
    let path = format!("/accounts/{account}/users");
    for (i, op) in [
        "CreateUser",
        "SetLoginProfile",
        "CreateAccessKey",
        "AddUserToGroup",
        "PutUserPolicy",
    ]
    .iter()
    .enumerate()
    {
        let user = format!("step{i}@example.com");
        env.faults.inject(&user, op, 0, Fault::Fail);
        let p = api.post(&path, &admin, body(&user)).await.problem(503);
        assert!(p["detail"].as_str().unwrap().contains("rolled back"), "{op}: {p}");
        assert!(!iam_user_exists(&iam, &user).await, "{op}: no orphaned IAM user");
        let record = api.get(&format!("{path}/{user}"), &admin).await.ok(200);
        assert_eq!(record["status"], "failed", "{op}");
        assert_eq!(record["credential"], Value::Null, "{op}");

        let retried = api.post(&path, &admin, body(&user)).await.ok(201);
        assert_converged(&iam, &retried, &user, op).await;
    }
}

#[tokio::test]
async fn a_failed_rollback_is_finished_by_a_retry_or_a_delete() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account("rollback").await;
    let iam = env.target_iam(&target).await;
    iam.create_group().group_name("faulty").send().await.unwrap();
    let path = format!("/accounts/{account}/users");

    // Attaching to the group fails, and so does the rollback's DeleteUser: the user is left.
    let user = "halfway@example.com";
    env.faults.inject(user, "AddUserToGroup", 0, Fault::Fail);
    env.faults.inject(user, "DeleteUser", 0, Fault::Fail);
    let p = api.post(&path, &admin, body(user)).await.problem(503);
    assert!(p["detail"].as_str().unwrap().contains("retry or DELETE"), "{p}");
    assert!(iam_user_exists(&iam, user).await);
    let record = api.get(&format!("{path}/{user}"), &admin).await.ok(200);
    assert_eq!(record["status"], "failed");
    assert!(record["failure"].as_str().unwrap().contains("cleanup incomplete"));
    // DELETE finishes the job: nothing left in IAM.
    let gone = api.delete(&format!("{path}/{user}"), &admin).await.ok(200);
    assert_eq!(gone["status"], "unprovisioned");
    assert!(!iam_user_exists(&iam, user).await && access_keys(&iam, user).await.is_empty());

    // Same failure, finished by a retry of the POST instead.
    let user = "retried@example.com";
    env.faults.inject(user, "AddUserToGroup", 0, Fault::Fail);
    env.faults.inject(user, "DeleteUser", 0, Fault::Fail);
    api.post(&path, &admin, body(user)).await.problem(503);
    let retried = api.post(&path, &admin, body(user)).await.ok(201);
    assert_converged(&iam, &retried, user, user).await;
}

#[tokio::test]
async fn a_crash_mid_provisioning_is_taken_over_once_abandoned() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account("crash").await;
    let iam = env.target_iam(&target).await;
    iam.create_group().group_name("faulty").send().await.unwrap();
    let path = format!("/accounts/{account}/users");

    // The key is created in IAM, then the process dies before recording it.
    let user = "crashed@example.com";
    env.faults.inject(user, "CreateAccessKey", 0, Fault::CrashAfter);
    assert!(
        api.try_send("POST", &path, &admin, Some(body(user))).await.is_none(),
        "the request died"
    );
    assert!(iam_user_exists(&iam, user).await);
    assert_eq!(access_keys(&iam, user).await.len(), 1, "an unrecorded key exists");
    let record = api.get(&format!("{path}/{user}"), &admin).await.ok(200);
    assert_eq!(record["status"], "provisioning");
    assert_eq!(record["credential"], Value::Null);

    // Too early to take over: the operation may still be running.
    api.post(&path, &admin, body(user)).await.problem(409);
    env.clock.advance(Duration::from_secs(600));
    let finished = api.post(&path, &admin, body(user)).await.ok(201);
    assert_converged(&iam, &finished, user, user).await;
    let key = finished["credential"]["access_key_id"].as_str().expect("a credential");
    assert_eq!(
        access_keys(&iam, user).await,
        vec![key.to_string()],
        "exactly the recorded key in IAM"
    );

    // A crash mid-deprovisioning: keys gone, user left; a later DELETE finishes.
    env.faults.inject(user, "DeleteLoginProfile", 0, Fault::Crash);
    assert!(
        api.try_send("DELETE", &format!("{path}/{user}"), &admin, None)
            .await
            .is_none()
    );
    assert!(iam_user_exists(&iam, user).await);
    assert!(access_keys(&iam, user).await.is_empty(), "keys went first");
    api.delete(&format!("{path}/{user}"), &admin).await.problem(409);
    env.clock.advance(Duration::from_secs(600));
    assert_eq!(
        api.delete(&format!("{path}/{user}"), &admin).await.ok(200)["status"],
        "unprovisioned"
    );
    assert!(!iam_user_exists(&iam, user).await);
}

#[tokio::test]
async fn deprovisioning_and_rotation_failures_converge_on_retry() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account("deprov").await;
    let iam = env.target_iam(&target).await;
    iam.create_group().group_name("faulty").send().await.unwrap();
    let path = format!("/accounts/{account}/users");
    let user = "rotating@example.com";
    let created = api.post(&path, &admin, body(user)).await.ok(201);
    let old = created["credential"]["access_key_id"].as_str().unwrap().to_string();

    // Rotation failing after the new key is recorded: the old key is deleted by the next rotation.
    env.faults.inject(user, "DeleteAccessKey", 0, Fault::Fail);
    api.send("POST", &format!("{path}/{user}/credentials"), Some(&admin), None)
        .await
        .problem(503);
    let record = api.get(&format!("{path}/{user}"), &admin).await.ok(200);
    let new = record["credential"]["access_key_id"].as_str().unwrap().to_string();
    assert_ne!(new, old, "the new key is the recorded one");
    let again = api
        .send("POST", &format!("{path}/{user}/credentials"), Some(&admin), None)
        .await
        .ok(200);
    assert_converged(&iam, &again, user, user).await;

    // Each deprovisioning step failing once: the DELETE reports it, a repeat finishes.
    for (i, op) in [
        "DeleteAccessKey",
        "DeleteLoginProfile",
        "RemoveUserFromGroup",
        "DeleteUser",
    ]
    .iter()
    .enumerate()
    {
        let user = format!("deprov{i}@example.com");
        api.post(&path, &admin, body(&user)).await.ok(201);
        env.faults.inject(&user, op, 0, Fault::Fail);
        api.delete(&format!("{path}/{user}"), &admin).await.problem(503);
        let record = api.get(&format!("{path}/{user}"), &admin).await.ok(200);
        assert_eq!(record["status"], "failed", "{op}");
        assert_eq!(
            api.delete(&format!("{path}/{user}"), &admin).await.ok(200)["status"],
            "unprovisioned",
            "{op}"
        );
        assert!(!iam_user_exists(&iam, &user).await, "{op}");
    }
    // Every user is accounted for: the account still counts the one provisioned user.
    api.delete(&format!("{path}/{user}"), &admin).await.ok(200);
    api.delete(&format!("/accounts/{account}"), &admin).await.ok(204);
}
