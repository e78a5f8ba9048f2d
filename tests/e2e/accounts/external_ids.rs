//! One issued ExternalId serves one write, a registration or a credentials change, however many
//! race for it (security review: a change checked the id, wrote, then used it up apart and
//! ignored whether that worked, so two changes could both take one id).

use e2e::env;
use e2e::registration::{issue_external_id, role_registration, trust_external_id};
use local_runner::local_aws::TargetAccount;
use serde_json::{Value, json};

const NOT_ISSUED: &str = "tag:cloud-iam-broker,2026:problem/external-id-not-issued";

/// A change to the target's broker role with `external_id`.
fn via_role(target: &TargetAccount, external_id: &str) -> Value {
    json!({ "credentials": { "type": "assume_role", "role_arn": target.broker_access_role_arn, "external_id": external_id } })
}

#[tokio::test]
async fn one_issued_external_id_serves_one_write() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let (a, target_a) = env.registered_account("one-use-a").await;
    let (b, target_b) = env.registered_account("one-use-b").await;
    let target_c = env.take_account();
    let (path_a, path_b) = (format!("/accounts/{a}"), format!("/accounts/{b}"));
    let before_a = api.get(&path_a, &admin).await.ok(200);
    let before_b = api.get(&path_b, &admin).await.ok(200);

    // Used by a registration, it changes no other account whose role trusts it too: 422, and
    // that account keeps its name and key.
    let issued = issue_external_id(env).await;
    trust_external_id(env, &target_a, &issued).await;
    trust_external_id(env, &target_c, &issued).await;
    let external_id = issued["external_id"].as_str().unwrap();
    api.post(
        "/accounts",
        &admin,
        role_registration("took-it", &target_c, external_id),
    )
    .await
    .ok(201);
    let mut change = via_role(&target_a, external_id);
    change["name"] = json!("renamed");
    let p = api.patch(&path_a, &admin, change).await.problem(422);
    assert_eq!(p["type"], NOT_ISSUED, "{p}");
    assert_eq!(api.get(&path_a, &admin).await.ok(200), before_a, "unchanged");

    // Two changes racing for one fresh ExternalId: one takes it, the other changes nothing.
    let issued = issue_external_id(env).await;
    trust_external_id(env, &target_a, &issued).await;
    trust_external_id(env, &target_b, &issued).await;
    let external_id = issued["external_id"].as_str().unwrap();
    let (reply_a, reply_b) = tokio::join!(
        api.patch(&path_a, &admin, via_role(&target_a, external_id)),
        api.patch(&path_b, &admin, via_role(&target_b, external_id)),
    );
    let statuses = (reply_a.status, reply_b.status);
    assert!(
        statuses == (200, 422) || statuses == (422, 200),
        "exactly one change takes it: {reply_a:?} {reply_b:?}"
    );
    for (reply, path, before) in [(&reply_a, &path_a, &before_a), (&reply_b, &path_b, &before_b)] {
        if reply.status == 200 {
            assert_eq!(reply.json()["credentials"]["type"], "assume_role");
        } else {
            assert_eq!(reply.problem(422)["type"], NOT_ISSUED);
            assert_eq!(
                api.get(path, &admin).await.ok(200),
                *before,
                "the loser changed nothing"
            );
        }
    }
}
