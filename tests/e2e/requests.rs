//! Access requests through the HTTP API against local AWS: N-of-M approval, denial, cancel,
//! lapse, races, break-glass and its review, extension without a gap, the events on the bus
//! and the Slack approval messages. Where access is promised or taken back, a real call with
//! the handed-out credentials shows it.
//!
//! Its own binary, its tests one at a time: the lapse test moves the broker's clock, which
//! every request's lapse and every extension's length are measured by.

use std::collections::BTreeMap;

use e2e::bus::{assert_as_logged, assert_fields, fixture_fields, instant, session_event};
use e2e::consoles::user_console;
use e2e::shell::shell_fixture;
use e2e::slack::{
    approval_message, click, click_answered, click_request, link_member, requested, send_signed, sign, wait_for_post,
};
use e2e::{Fixture, Role, TestEnv, env, fixture, session_credentials};
use serde_json::{Value, json};

/// An approver group with `approvers` as members; returns its id.
async fn approver_group(env: &TestEnv, name: &str, approvers: &[&str]) -> String {
    let api = env.client();
    let admin = env.admin();
    let g = api
        .post(
            "/groups",
            &admin,
            json!({ "name": name, "accounts": [], "permissions": {} }),
        )
        .await
        .ok(201);
    let id = g["id"].as_str().unwrap().to_string();
    for a in approvers {
        api.put(&format!("/groups/{id}/members/{a}"), &admin, json!({}))
            .await
            .ok(201);
    }
    id
}

async fn set_policy(env: &TestEnv, f: &Fixture, policy: Value) -> Value {
    env.client()
        .patch(
            &format!("/groups/{}", f.group),
            &env.admin(),
            json!({ "policy": policy }),
        )
        .await
        .ok(200)
}

/// A fixture whose group needs `n` approvals from a fresh approver group of `approvers`.
async fn needing_approval(env: &TestEnv, tag: &str, n: u32, approvers: &[&str]) -> Fixture {
    let f = fixture(env, tag).await;
    let group = approver_group(env, &format!("approvers-{tag}"), approvers).await;
    set_policy(
        env,
        &f,
        json!({ "approval": { "approvals_required": n, "approver_group_ids": [group] } }),
    )
    .await;
    f
}

fn id_of(started: &Value) -> String {
    started["session"]["id"].as_str().unwrap().to_string()
}

async fn approve(env: &TestEnv, token: &str, id: &str) -> e2e::Reply {
    env.client()
        .post(
            &format!("/sessions/{id}/approvals"),
            token,
            json!({ "reason": "looks right" }),
        )
        .await
}

async fn log_types(env: &TestEnv, token: &str, id: &str) -> Vec<String> {
    let log = env.client().get(&format!("/sessions/{id}/log"), token).await.ok(200);
    assert_eq!(log["verified"], true, "the log's chain holds: {log}");
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// Every item of a listing that pages (`GET /requests`, `GET /sessions`), following its
/// cursors: a listing filters within each page, so a short (or empty) page is not its end.
async fn all_items(env: &TestEnv, path: &str, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut page_path = format!("{path}?limit=100");
    for _ in 0..50 {
        let page = env.client().get(&page_path, token).await.ok(200);
        items.extend(page["items"].as_array().expect("a page of items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => page_path = format!("{path}?limit=100&cursor={cursor}"),
            None => return items,
        }
    }
    panic!("{path}: more than 50 pages");
}

/// The ids `GET /requests` lists for `token`: the pending requests it may decide.
async fn decidable(env: &TestEnv, token: &str) -> Vec<String> {
    all_items(env, "/requests", token)
        .await
        .iter()
        .map(|s| {
            assert_eq!(s["status"], "pending", "only pending requests are listed: {s}");
            s["id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The caller's own sessions and requests (`GET /sessions`), by id, with their status.
async fn own_sessions(env: &TestEnv, token: &str) -> BTreeMap<String, String> {
    all_items(env, "/sessions", token)
        .await
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `own_sessions`' expected answer.
fn statuses(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(id, status)| (id.to_string(), status.to_string()))
        .collect()
}

async fn bus_types(env: &TestEnv, id: &str) -> Vec<String> {
    env.events_of(id)
        .await
        .iter()
        .map(|e| {
            assert_eq!(e["source"], "cloud-iam-broker");
            e["detail-type"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn two_of_many_approvals_start_the_session_for_the_requester_once() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let (a1, a2) = ("nm-approver1@example.com", "nm-approver2@example.com");
    let f = needing_approval(env, "nofm", 2, &[a1, a2]).await;
    let (t1, t2) = (env.user(a1), env.user(a2));

    let pending = api.post("/sessions", &f.token, f.jit(900)).await;
    let body = pending.ok(202);
    let id = id_of(&body);
    assert_eq!(
        pending.header("location").as_deref(),
        Some(format!("/sessions/{id}").as_str())
    );
    assert_eq!(body["session"]["status"], "pending");
    assert_eq!(body["session"]["request"]["approvals_required"], 2);
    assert!(body.get("credentials").is_none());

    // Nobody approves their own request; outsiders don't approve at all.
    approve(env, &f.token, &id).await.problem(403);
    approve(env, &env.user("nm-outsider@example.com"), &id)
        .await
        .problem(403);
    approve(env, &env.admin(), &id).await.problem(403);

    let one = approve(env, &t1, &id).await.ok(200);
    assert_eq!(one["status"], "pending");
    assert_eq!(one["request"]["approvals"].as_array().unwrap().len(), 1);
    let twice = approve(env, &t1, &id).await.problem(409);
    assert_eq!(
        twice["type"].as_str().unwrap().rsplit('/').next(),
        Some("already-approved")
    );

    let done = approve(env, &t2, &id).await;
    let text = done.text.clone();
    let active = done.ok(200);
    assert_eq!(active["status"], "active");
    assert!(
        !text.contains("secret_access_key") && !text.contains("session_token"),
        "the approver gets no credentials: {text}"
    );
    approve(env, &t1, &id).await.problem(409);

    // The requester's GET hands the credentials over, once; they work.
    let got = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    let creds = session_credentials(&got["granted"]);
    assert_eq!(env.try_call(&creds).await, Ok(()));
    assert!(got["granted"]["console_url"].as_str().is_some());
    let again = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert!(again.get("granted").is_none(), "handed over once: {again}");
    // An approver reading it gets nothing either.
    let admin_view = api.get(&format!("/sessions/{id}"), &env.admin()).await.ok(200);
    assert!(admin_view.get("granted").is_none());

    let types = log_types(env, &f.token, &id).await;
    for t in ["requested", "pending", "approval", "approved", "started"] {
        assert!(types.contains(&t.to_string()), "{t} in {types:?}");
    }
    assert_eq!(types.iter().filter(|t| *t == "started").count(), 1);

    // Ending revokes, observed with the handed-out credentials.
    env.client().end_session(&f.token, &id).await.ok(200);
    assert_eq!(env.try_call(&creds).await, Err("AccessDenied".into()));

    let bus = bus_types(env, &id).await;
    for t in [
        "Session requested",
        "Approval requested",
        "Session approval given",
        "Session approved",
        "Session started",
        "Session ended",
        "Session access revoked",
    ] {
        assert!(bus.iter().any(|b| b == t), "{t} on the bus: {bus:?}");
    }
}

#[tokio::test]
async fn denied_cancelled_and_decided_requests_stay_decided() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let approver = "dc-approver@example.com";
    let f = needing_approval(env, "denycancel", 1, &[approver]).await;
    let at = env.user(approver);

    let id = id_of(&api.post("/sessions", &f.token, f.jit(900)).await.ok(202));
    let denied_id = id.clone();
    // While it is pending, the approver lists exactly it (the approver decides nothing else);
    // the requester decides none of their own, and sees it among their sessions, pending.
    assert_eq!(
        decidable(env, &at).await,
        vec![id.clone()],
        "the approver's pending requests"
    );
    assert_eq!(
        decidable(env, &f.token).await,
        Vec::<String>::new(),
        "the requester decides none"
    );
    assert_eq!(own_sessions(env, &f.token).await, statuses(&[(id.as_str(), "pending")]));
    // A denial needs a reason.
    api.post(&format!("/sessions/{id}/denials"), &at, json!({}))
        .await
        .problem(422);
    let denied = api
        .post(
            &format!("/sessions/{id}/denials"),
            &at,
            json!({ "reason": "not during the freeze" }),
        )
        .await
        .ok(200);
    assert_eq!(denied["status"], "denied");
    assert_eq!(denied["request"]["decision"]["outcome"], "denied");
    // On the bus (docs/events.md): `denied`, with who denied it and why.
    let on_bus = session_event(env, &id, "denied", "Session denied").await;
    assert_fields(&on_bus, &fixture_fields(&f));
    assert_fields(
        &on_bus,
        &json!({ "kind": "jit", "role_arn": f.role, "duration_seconds": 900, "request_reason": "incident INC-42",
                 "break_glass": false, "by": approver, "reason": "not during the freeze" }),
    );
    assert_as_logged(env, &f.token, &on_bus).await;
    let late = approve(env, &at, &id).await.problem(409);
    assert_eq!(
        late["type"].as_str().unwrap().rsplit('/').next(),
        Some("request-not-pending")
    );
    api.post(&format!("/sessions/{id}/cancel"), &f.token, json!({}))
        .await
        .problem(409);
    assert!(
        api.get(&format!("/sessions/{id}"), &f.token)
            .await
            .ok(200)
            .get("granted")
            .is_none()
    );

    let id = id_of(&api.post("/sessions", &f.token, f.jit(900)).await.ok(202));
    let cancelled_id = id.clone();
    // Decided, the first is off the approver's list; the new one is on it.
    assert_eq!(
        decidable(env, &at).await,
        vec![id.clone()],
        "the approver's pending requests"
    );
    assert_eq!(
        own_sessions(env, &f.token).await,
        statuses(&[(denied_id.as_str(), "denied"), (id.as_str(), "pending")])
    );
    // Only the requester cancels; an approver denies instead.
    api.post(&format!("/sessions/{id}/cancel"), &at, json!({}))
        .await
        .problem(403);
    let cancelled = api
        .post(
            &format!("/sessions/{id}/cancel"),
            &f.token,
            json!({ "reason": "done without it" }),
        )
        .await
        .ok(200);
    assert_eq!(cancelled["status"], "cancelled");
    // On the bus: `cancelled`, with who withdrew it (the requester) and why.
    let on_bus = session_event(env, &id, "cancelled", "Session request cancelled").await;
    assert_fields(&on_bus, &fixture_fields(&f));
    assert_fields(
        &on_bus,
        &json!({ "kind": "jit", "role_arn": f.role, "duration_seconds": 900, "request_reason": "incident INC-42",
                 "break_glass": false, "by": f.email, "reason": "done without it" }),
    );
    assert_as_logged(env, &f.token, &on_bus).await;
    approve(env, &at, &id).await.problem(409);
    api.post(
        &format!("/sessions/{id}/denials"),
        &at,
        json!({ "reason": "too late now" }),
    )
    .await
    .problem(409);
    let types = log_types(env, &f.token, &id).await;
    assert!(types.contains(&"cancelled".to_string()), "{types:?}");
    assert!(!types.contains(&"started".to_string()));
    // Ending a request that never started withdraws it: no approval grants it later.
    let id = id_of(&api.post("/sessions", &f.token, f.jit(900)).await.ok(202));
    assert_eq!(
        decidable(env, &at).await,
        vec![id.clone()],
        "the approver's pending requests"
    );
    let ended = env.client().end_session(&f.token, &id).await.ok(200);
    assert_eq!(ended["status"], "cancelled");
    approve(env, &at, &id).await.problem(409);

    // The requester sees their requests, each as it was decided; the approver lists only what
    // is pending, which is now nothing.
    assert_eq!(
        own_sessions(env, &f.token).await,
        statuses(&[
            (denied_id.as_str(), "denied"),
            (cancelled_id.as_str(), "cancelled"),
            (id.as_str(), "cancelled"),
        ])
    );
    assert_eq!(
        decidable(env, &at).await,
        Vec::<String>::new(),
        "nothing left to decide"
    );
    assert_eq!(
        decidable(env, &f.token).await,
        Vec::<String>::new(),
        "the requester decides none"
    );
}

#[tokio::test]
async fn a_request_nobody_decides_lapses() {
    let env = env();
    let _serial = env.serial().await;
    // Earlier tests' requests lapsed (and sessions ended) first, so that the run below counts
    // only this one.
    env.drain_expirer().await;
    let api = env.client();
    let approver = "lapse-approver@example.com";
    let f = needing_approval(env, "lapse", 1, &[approver]).await;
    let id = id_of(&api.post("/sessions", &f.token, f.jit(900)).await.ok(202));
    let listed = api.get("/requests", &env.user(approver)).await.ok(200);
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str())
    );

    env.clock.advance(std::time::Duration::from_secs(3601));
    // Past its lapse, it takes no approval even before the expirer has run.
    approve(env, &env.user(approver), &id).await.problem(409);
    let report = env.run_expirer().await;
    assert_eq!(report.lapsed, 1, "this test's one request: {report:?}");
    env.clock.reset();
    let s = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(s["status"], "lapsed");
    assert!(log_types(env, &f.token, &id).await.contains(&"lapsed".to_string()));
    assert!(bus_types(env, &id).await.iter().any(|t| t == "Session request lapsed"));
}

#[tokio::test]
async fn concurrent_approvals_grant_once_and_a_cancel_race_has_one_outcome() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let (a1, a2) = ("race-approver1@example.com", "race-approver2@example.com");
    let f = needing_approval(env, "race", 2, &[a1, a2]).await;
    let id = id_of(&api.post("/sessions", &f.token, f.jit(900)).await.ok(202));
    let tokens = [env.user(a1), env.user(a2)];
    let calls = (0..20).map(|i| {
        let token = tokens[i % 2].clone();
        let id = id.clone();
        async move { approve(env, &token, &id).await.status }
    });
    let statuses = futures::future::join_all(calls).await;
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for s in statuses {
        *counts.entry(s).or_default() += 1;
    }
    assert_eq!(
        counts.get(&200),
        Some(&2),
        "one counted approval per approver: {counts:?}"
    );
    assert_eq!(counts.get(&409), Some(&18), "{counts:?}");
    let types = log_types(env, &f.token, &id).await;
    assert_eq!(types.iter().filter(|t| *t == "started").count(), 1, "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "approved").count(), 1, "{types:?}");
    let got = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    let approvers: std::collections::BTreeSet<&str> = got["request"]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["by"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, [a1, a2].into(), "two approvals, one per approver");
    assert_eq!(env.try_call(&session_credentials(&got["granted"])).await, Ok(()));

    // An approval racing a cancel: exactly one of them wins, and the state says which.
    let single = needing_approval(env, "race1", 1, &["race1-approver@example.com"]).await;
    let at = env.user("race1-approver@example.com");
    for _ in 0..4 {
        let id = id_of(&api.post("/sessions", &single.token, single.jit(900)).await.ok(202));
        let approving = approve(env, &at, &id);
        let cancel_path = format!("/sessions/{id}/cancel");
        let cancelling = api.post(&cancel_path, &single.token, json!({}));
        let (a, c) = tokio::join!(approving, cancelling);
        assert_eq!(
            [a.status, c.status].iter().filter(|s| **s == 200).count(),
            1,
            "one outcome: approve {} cancel {}",
            a.status,
            c.status
        );
        let s = api.get(&format!("/sessions/{id}"), &single.token).await.ok(200);
        let expected = if a.status == 200 { "active" } else { "cancelled" };
        assert_eq!(s["status"], expected);
        if expected == "active" {
            env.client().end_session(&single.token, &id).await.ok(200);
        }
    }
}

#[tokio::test]
async fn break_glass_starts_at_once_flagged_and_is_reviewed_by_an_approver() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let approver = "bg-approver@example.com";
    let f = needing_approval(env, "glass", 2, &[approver]).await;
    let glass = |seconds: i64, reason: &str| {
        json!({ "account_id": f.account, "type": "jit", "role_arn": f.role, "duration_seconds": seconds,
                "reason": reason, "break_glass": true })
    };
    // No grant allows it yet.
    api.post("/sessions", &f.token, glass(900, "prod is down"))
        .await
        .problem(403);
    let group = approver_group(env, "approvers-glass-2", &[approver]).await;
    set_policy(
        env,
        &f,
        json!({ "approval": { "approvals_required": 2, "approver_group_ids": [group] },
                "break_glass": { "max_duration_seconds": 1800 } }),
    )
    .await;
    let too_long = api
        .post("/sessions", &f.token, glass(3600, "prod is down"))
        .await
        .problem(422);
    assert_eq!(
        too_long["type"].as_str().unwrap().rsplit('/').next(),
        Some("invalid-duration")
    );
    api.post("/sessions", &f.token, glass(900, "")).await.problem(422);

    let started = api
        .post("/sessions", &f.token, glass(1800, "prod is down"))
        .await
        .ok(201);
    let id = id_of(&started);
    assert_eq!(started["session"]["break_glass"], true);
    assert_eq!(env.try_call(&session_credentials(&started)).await, Ok(()));

    let approver_token = env.user(approver);
    let unreviewed = api.get("/reviews", &approver_token).await.ok(200);
    assert!(
        unreviewed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str())
    );
    let note = json!({ "note": "checked the CloudTrail: restart of the API only" });
    api.post(&format!("/sessions/{id}/review"), &f.token, note.clone())
        .await
        .problem(403);
    api.post(
        &format!("/sessions/{id}/review"),
        &env.user("bg-other@example.com"),
        note.clone(),
    )
    .await
    .problem(403);
    let reviewed = api
        .post(&format!("/sessions/{id}/review"), &approver_token, note.clone())
        .await
        .ok(200);
    assert_eq!(reviewed["review"]["by"], approver);
    api.post(&format!("/sessions/{id}/review"), &approver_token, note)
        .await
        .problem(409);
    let unreviewed = api.get("/reviews", &approver_token).await.ok(200);
    assert!(
        !unreviewed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str())
    );

    let types = log_types(env, &f.token, &id).await;
    for t in ["break_glass", "started", "reviewed"] {
        assert!(types.contains(&t.to_string()), "{t} in {types:?}");
    }
    let bus = bus_types(env, &id).await;
    assert!(bus.iter().any(|t| t == "Break-glass session started"), "{bus:?}");
    assert!(bus.iter().any(|t| t == "Break-glass session reviewed"), "{bus:?}");
    // Approvers are told in Slack.
    let posted = wait_for_post(env, |p| {
        p.path == "api/chat.postMessage"
            && p.body["text"].as_str().unwrap_or_default().contains("Break-glass")
            && p.body["text"].as_str().unwrap_or_default().contains(&id)
    })
    .await;
    assert_eq!(posted.body["channel"], "C0APPROVALS");
    env.client().end_session(&f.token, &id).await.ok(200);
}

#[tokio::test]
async fn an_extension_issues_fresh_credentials_with_no_gap_and_ending_revokes_both() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "extend").await;
    let started = api.post("/sessions", &f.token, f.jit(900)).await.ok(201);
    let id = id_of(&started);
    let old = session_credentials(&started);
    let before = started["session"]["expires_at"].as_str().unwrap().to_string();

    // Beyond the maximum (3600 s from now): refused.
    let long = api
        .post(
            &format!("/sessions/{id}/extensions"),
            &f.token,
            json!({ "duration_seconds": 3600, "reason": "longer" }),
        )
        .await
        .problem(422);
    assert_eq!(
        long["type"].as_str().unwrap().rsplit('/').next(),
        Some("invalid-duration")
    );
    // Only its own user extends it.
    api.post(
        &format!("/sessions/{id}/extensions"),
        &env.user("extend-other@example.com"),
        json!({ "duration_seconds": 900, "reason": "mine now" }),
    )
    .await
    .problem(403);

    let extended = api
        .post(
            &format!("/sessions/{id}/extensions"),
            &f.token,
            json!({ "duration_seconds": 900, "reason": "the migration runs long" }),
        )
        .await;
    let extended = extended.ok(201);
    assert_eq!(extended["session"]["id"], id.as_str(), "same session");
    assert!(extended["session"]["expires_at"].as_str().unwrap() > before.as_str());
    let fresh = session_credentials(&extended);
    assert_ne!(
        extended["credentials"]["access_key_id"],
        started["credentials"]["access_key_id"]
    );
    assert!(
        extended["credentials"]["expiration"].as_str().unwrap()
            > started["credentials"]["expiration"].as_str().unwrap()
    );
    // No gap: the old credentials keep working until their own end, the fresh ones too.
    assert_eq!(env.try_call(&old).await, Ok(()));
    assert_eq!(env.try_call(&fresh).await, Ok(()));
    assert!(log_types(env, &f.token, &id).await.contains(&"extended".to_string()));

    env.client().end_session(&f.token, &id).await.ok(200);
    assert_eq!(env.try_call(&old).await, Err("AccessDenied".into()));
    assert_eq!(env.try_call(&fresh).await, Err("AccessDenied".into()));
    let ended = api
        .post(
            &format!("/sessions/{id}/extensions"),
            &f.token,
            json!({ "duration_seconds": 900, "reason": "again" }),
        )
        .await
        .problem(409);
    assert_eq!(
        ended["type"].as_str().unwrap().rsplit('/').next(),
        Some("session-not-active")
    );
    assert!(bus_types(env, &id).await.iter().any(|t| t == "Session extended"));
}

#[tokio::test]
async fn an_extension_needing_approval_hands_its_fresh_credentials_to_the_requester() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let approver = "xa-approver@example.com";
    let f = needing_approval(env, "extapprove", 1, &[approver]).await;
    let at = env.user(approver);
    let id = id_of(&api.post("/sessions", &f.token, f.jit(900)).await.ok(202));
    approve(env, &at, &id).await.ok(200);
    let first = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    let old = session_credentials(&first["granted"]);

    // 1200 s more, for a session of 900: the event below must carry the extension's length.
    let asked = api
        .post(
            &format!("/sessions/{id}/extensions"),
            &f.token,
            json!({ "duration_seconds": 1200, "reason": "more time" }),
        )
        .await
        .ok(202);
    assert_eq!(asked["session"]["status"], "active");
    assert_eq!(asked["session"]["pending_extension"]["duration_seconds"], 1200);
    // On the bus (docs/events.md): `extension_requested`, with the time asked and why; the
    // session's own `request_reason` stays beside it.
    let on_bus = session_event(env, &id, "extension_requested", "Session extension requested").await;
    assert_fields(&on_bus, &fixture_fields(&f));
    assert_fields(
        &on_bus,
        &json!({ "kind": "jit", "role_arn": f.role, "request_reason": "incident INC-42", "break_glass": false,
                 "duration_seconds": 1200, "reason": "more time" }),
    );
    assert_as_logged(env, &f.token, &on_bus).await;
    api.post(
        &format!("/sessions/{id}/extensions"),
        &f.token,
        json!({ "duration_seconds": 900, "reason": "more" }),
    )
    .await
    .problem(409);
    approve(env, &f.token, &id).await.problem(403);
    let waiting = api.get("/requests", &at).await.ok(200);
    assert!(
        waiting["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str()),
        "an extension waiting for approval is listed for its approvers: {waiting}"
    );
    let approved = approve(env, &at, &id).await.ok(200);
    assert!(approved["pending_extension"].is_null());
    assert_eq!(approved["extensions"].as_array().unwrap().len(), 1);
    let got = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    let fresh = session_credentials(&got["granted"]);
    assert_eq!(env.try_call(&old).await, Ok(()));
    assert_eq!(env.try_call(&fresh).await, Ok(()));
    env.client().end_session(&f.token, &id).await.ok(200);
    assert_eq!(env.try_call(&fresh).await, Err("AccessDenied".into()));
}

#[tokio::test]
async fn group_policies_are_validated() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "policyvalid").await;
    let api = env.client();
    let path = format!("/groups/{}", f.group);
    for bad in [
        json!({ "approval": { "approvals_required": 0, "approver_group_ids": [f.group] } }),
        json!({ "approval": { "approvals_required": 1, "approver_group_ids": [] } }),
        json!({ "approval": { "approvals_required": 1, "approver_group_ids": ["01J00000000000000000000000"] } }),
        json!({ "max_duration_seconds": 900, "break_glass": { "max_duration_seconds": 1800 } }),
        json!({ "jit_role_arns": ["not-an-arn"] }),
        json!({ "surprise": true }),
    ] {
        let r = api.patch(&path, &env.admin(), json!({ "policy": bad.clone() })).await;
        assert!(matches!(r.status, 400 | 422), "{bad}: {} {}", r.status, r.text);
    }
    let ok = set_policy(env, &f, json!({ "max_duration_seconds": 1800 })).await;
    assert_eq!(ok["policy"]["max_duration_seconds"], 1800);
    // The cap holds under the account's own maximum.
    api.post("/sessions", &f.token, f.jit(3600)).await.problem(422);
    api.post("/sessions", &f.token, f.jit(1800)).await.ok(201);
    let reset = api.patch(&path, &env.admin(), json!({ "policy": null })).await.ok(200);
    assert!(reset["policy"]["max_duration_seconds"].is_null());
}

// --- Slack ----------------------------------------------------------------------------------

#[tokio::test]
async fn approvers_approve_from_slack_buttons() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let approver = "slack-approver@example.com";
    let f = needing_approval(env, "slackbuttons", 1, &[approver]).await;
    // A link acts once the person it names confirms it.
    for (member, email) in [("U0APPROVER", approver), ("U0REQUESTER", f.email.as_str())] {
        link_member(env, member, email).await;
    }
    // The requester asks from Slack: `/jit` says the request needs approval.
    let id = requested(
        env,
        "U0REQUESTER",
        &format!("{} {} 15m INC-42 needs a look", f.account, f.role),
    )
    .await;
    assert_eq!(
        api.get(&format!("/sessions/{id}"), &f.token).await.ok(200)["status"],
        "pending"
    );

    // The approval message, with buttons carrying the session id, in the approval channel.
    let message = approval_message(env, &id).await;
    // It says what approvers decide on: the kind and its role, the account, how long and why.
    let shown = message.body["text"].as_str().unwrap();
    for part in [
        format!("asks for a JIT session on role `{}`", f.role),
        format!("*Account:* `{}`", f.aws_account),
        "*Duration:* 15 min (900 s)".to_string(),
        "*Reason:* _INC-42 needs a look_".to_string(),
    ] {
        assert!(shown.contains(&part), "{part:?} in {shown}");
    }
    assert!(!shown.contains("console session"), "{shown}");
    let buttons = &message.body["blocks"][1]["elements"];
    assert_eq!(buttons[0]["action_id"], "approve");
    assert_eq!(buttons[1]["action_id"], "deny");
    assert_eq!(buttons[0]["value"], id.as_str());

    // Forged, stale and replayed clicks are refused; nothing is decided by them.
    let url = format!("{}interactions/{}", env.slack_base, ulid::Ulid::new());
    let payload_body = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &json!({ "type": "block_actions" }).to_string())
        .finish();
    let now = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    assert_eq!(send_signed(env, &payload_body, &now, "v0=00ff").await.0, 401);
    assert_eq!(click(env, "U0APPROVER", "approve", &id, &url, 600).await.0, 401);
    // The requester's own click is refused by the same rule as the API's.
    let own = click_answered(env, "U0REQUESTER", "approve", &id).await;
    assert!(own.contains("Could not approve"), "{own}");

    let (body, ts) = click_request("U0APPROVER", "approve", &id, &url, 0);
    let sig = sign(env, &ts, &body);
    let acked = send_signed(env, &body, &ts, &sig).await;
    assert_eq!((acked.0, acked.1.as_str()), (200, ""), "acknowledged at once, empty");
    assert_eq!(send_signed(env, &body, &ts, &sig).await.0, 401, "a replay is refused");

    let answer = wait_for_post(env, |p| p.path == url.strip_prefix(&env.slack_base).unwrap()).await;
    assert!(
        answer.body["text"].as_str().unwrap().contains("approved"),
        "{:?}",
        answer.body
    );
    let s = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(s["status"], "active");
    assert_eq!(s["request"]["approvals"][0]["by"], approver);
    assert_eq!(s["request"]["approvals"][0]["via"], "slack:U0APPROVER");
    assert_eq!(env.try_call(&session_credentials(&s["granted"])).await, Ok(()));

    // The message is updated with the outcome, and the requester told by DM.
    let updated = wait_for_post(env, |p| {
        p.path == "api/chat.update"
            && p.body["text"].as_str().unwrap_or_default().contains("Approved")
            && p.body["text"].as_str().unwrap_or_default().contains(&f.email)
    })
    .await;
    assert_eq!(updated.body["channel"], "C0APPROVALS");
    let outcome = updated.body["text"].as_str().unwrap();
    assert!(
        outcome.contains(&format!("JIT session on role `{}`", f.role)),
        "the updated message still says what was approved: {outcome}"
    );
    let dm = wait_for_post(env, |p| {
        p.path == "api/chat.postMessage"
            && p.body["channel"] == "U0REQUESTER"
            && p.body["text"].as_str().unwrap_or_default().contains(&id)
    })
    .await;
    assert!(dm.body["text"].as_str().unwrap().contains("approved"));
    env.client().end_session(&f.token, &id).await.ok(200);
}

/// A shell request's approval message names its target and the shell role it goes through,
/// the account, the duration and the reason (before, it called every non-JIT request "a
/// console session" and never showed the target).
#[tokio::test]
async fn a_shell_request_shows_approvers_its_target_in_slack() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shell_fixture(env, "slackshell").await;
    s.configure(env).await;
    let approvers = approver_group(env, "approvers-slackshell", &["slackshell-approver@example.com"]).await;
    set_policy(
        env,
        &s.f,
        json!({ "approval": { "approvals_required": 1, "approver_group_ids": [approvers] } }),
    )
    .await;
    let target = s.managed(env).await;
    let id = id_of(&api.post("/sessions", &s.f.token, s.start(&target, 1800)).await.ok(202));

    let message = approval_message(env, &id).await;
    let shown = message.body["text"].as_str().unwrap();
    for part in [
        format!(
            "asks for a shell session on target `{target}` through the shell role `{}`",
            s.role
        ),
        format!("*Account:* `{}`", s.f.aws_account),
        "*Duration:* 30 min (1800 s)".to_string(),
        "*Reason:* _debug INC-7_".to_string(),
    ] {
        assert!(shown.contains(&part), "{part:?} in {shown}");
    }
    assert!(
        !shown.contains("console"),
        "a shell request called a console session: {shown}"
    );
    // The buttons are as they were: the session id as their value.
    let buttons = &message.body["blocks"][1]["elements"];
    assert_eq!(buttons[0]["action_id"], "approve");
    assert_eq!(buttons[1]["action_id"], "deny");
    assert_eq!(buttons[0]["value"], id.as_str());
    api.post(
        &format!("/sessions/{id}/cancel"),
        &s.f.token,
        json!({ "reason": "seen the message" }),
    )
    .await
    .ok(200);
}

#[tokio::test]
async fn the_completing_approval_checks_the_request_again() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let (a1, a2) = ("recheck-approver1@example.com", "recheck-approver2@example.com");
    let f = fixture(env, "recheck").await;
    let approvers = approver_group(env, "approvers-recheck", &[a1, a2]).await;
    let policy = |n: u32| json!({ "approval": { "approvals_required": n, "approver_group_ids": [approvers] } });
    set_policy(env, &f, policy(1)).await;
    let id = id_of(&api.post("/sessions", &f.token, f.jit(900)).await.ok(202));

    // The policy now asks for two: one approval no longer completes it.
    set_policy(env, &f, policy(2)).await;
    let one = approve(env, &env.user(a1), &id).await.ok(200);
    assert_eq!(one["status"], "pending");
    assert_eq!(one["request"]["approvals_required"], 2);

    // The requester left the group meanwhile: the last approval cannot grant.
    api.delete(&format!("/groups/{}/members/{}", f.group, f.email), &admin)
        .await
        .ok(204);
    approve(env, &env.user(a2), &id).await.problem(403);
    let s = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(s["status"], "pending", "nothing granted");
    assert!(s.get("granted").is_none());
}

#[tokio::test]
async fn an_extension_whose_credentials_cannot_be_issued_is_taken_back() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "extendfail").await;
    let id = id_of(&api.post("/sessions", &f.token, f.jit(900)).await.ok(201));
    let extend = |reason: &str| json!({ "duration_seconds": 900, "reason": reason });
    let path = format!("/sessions/{id}/extensions");

    // Where an extension's AssumeRole falls among its AWS calls.
    env.calls.start();
    api.post(&path, &f.token, extend("first")).await.ok(201);
    let calls = env.calls.stop();
    let at = calls
        .iter()
        .position(|c| c.operation == "sts:AssumeRole")
        .expect("an extension assumes the role");

    let before = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    env.calls.start_with_fault(at, e2e::HttpFault::Unavailable);
    let failed = api.post(&path, &f.token, extend("sts is down")).await;
    env.calls.stop();
    assert!(failed.status >= 500, "{} {}", failed.status, failed.text);
    let after = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(after["expires_at"], before["expires_at"], "the end went back");
    assert_eq!(after["extensions"], before["extensions"]);
    assert!(
        log_types(env, &f.token, &id)
            .await
            .contains(&"extension_failed".to_string())
    );
    // And the next try works.
    api.post(&path, &f.token, extend("sts is back")).await.ok(201);
    env.client().end_session(&f.token, &id).await.ok(200);
}

/// An identity provider that sends `Mixed.Case@Example.com` names the same person the broker
/// stores as `mixed.case@example.com` (third security review): the e-mail is normalised once, at
/// the edge, so the requester collects the approved credentials and reads their own session.
#[tokio::test]
async fn a_mixed_case_email_collects_its_approved_credentials() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let approver = "mc-approver@example.com";
    let f = needing_approval(env, "mixedcase", 1, &[approver]).await;
    let shouting = f.email.to_ascii_uppercase();
    let token = env.token(e2e::Role::User, &shouting, Some(&shouting));
    let id = id_of(&api.post("/sessions", &token, f.jit(900)).await.ok(202));
    approve(env, &env.user(approver), &id).await.ok(200);
    let got = api.get(&format!("/sessions/{id}"), &token).await.ok(200);
    assert_eq!(got["user"], f.email.as_str(), "stored as the broker keeps e-mails");
    let creds = session_credentials(&got["granted"]);
    assert_eq!(env.try_call(&creds).await, Ok(()), "the requester collected them");
    env.client().end_session(&token, &id).await.ok(200);
}

fn console_request(f: &Fixture) -> Value {
    json!({ "account_id": f.account, "type": "console", "duration_seconds": 900, "reason": "check the billing console" })
}

/// A pending console request holds its user's console lock on the account, as a live console
/// session does, and a decision releases it (docs/access-requests.md); its time starts at the
/// approval, not at the request (`started_at` on the session and in its `started` event); and a
/// bot reading the approved session for its user gets it without `granted`, and takes nothing:
/// the requester collects the password afterwards, once.
#[tokio::test]
async fn a_pending_console_request_holds_the_console_lock_and_starts_at_its_approval() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let approver = "cl-approver@example.com";
    let f = needing_approval(env, "consolelock", 1, &[approver]).await;
    let at = env.user(approver);

    let first = id_of(&api.post("/sessions", &f.token, console_request(&f)).await.ok(202));
    // One password, one session: a second console request waits for nothing, it is refused.
    let p = api.post("/sessions", &f.token, console_request(&f)).await.problem(422);
    assert_eq!(
        p["type"], "tag:cloud-iam-broker,2026:problem/console-session-live",
        "{p}"
    );
    assert_eq!(
        own_sessions(env, &f.token).await,
        statuses(&[(first.as_str(), "pending")]),
        "the refused request left no session"
    );
    // A decision releases the lock: the next request is taken.
    api.post(
        &format!("/sessions/{first}/denials"),
        &at,
        json!({ "reason": "not this one" }),
    )
    .await
    .ok(200);
    let asked = api.post("/sessions", &f.token, console_request(&f)).await.ok(202);
    let id = id_of(&asked);
    let requested_at = instant(&asked["session"]["request"]["requested_at"]);

    // Approved two minutes (of the broker's clock) after it was asked for.
    env.clock.advance(std::time::Duration::from_secs(120));
    let approved = approve(env, &at, &id).await.ok(200);
    assert_eq!(approved["status"], "active", "{approved}");
    let approved_at = instant(&approved["request"]["approvals"][0]["at"]);
    let started_at = instant(&approved["started_at"]);
    assert_eq!(
        started_at, approved_at,
        "the session starts at the approval: {approved}"
    );
    assert!(
        started_at - requested_at >= time::Duration::seconds(120),
        "not at the request ({requested_at}): {approved}"
    );
    assert_eq!(
        instant(&approved["expires_at"]),
        started_at + time::Duration::seconds(900),
        "its 900 s are counted from the approval: {approved}"
    );
    let started = session_event(env, &id, "started", "Session started").await;
    assert_eq!(instant(&started["started_at"]), started_at, "{started}");
    assert_eq!(
        instant(&started["expires_at"]),
        started_at + time::Duration::seconds(900),
        "{started}"
    );

    // A bot relaying for the requester reads the session, not what the approval granted.
    let bot = env.token(Role::Bot, "bot:chatops", None);
    let relayed = api.get(&format!("/sessions/{id}?on_behalf_of={}", f.email), &bot).await;
    let relayed_body = relayed.ok(200);
    assert_eq!(relayed_body["status"], "active");
    assert!(
        relayed_body.get("granted").is_none(),
        "a bot gets no `granted`: {relayed_body}"
    );
    assert!(!relayed.text.contains("password"), "{}", relayed.text);
    // The bot's read took nothing: the requester collects the password, once, and it signs in.
    let got = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    let console = &got["granted"]["console"];
    let password = console["password"]
        .as_str()
        .unwrap_or_else(|| panic!("the requester collects the console password: {got}"));
    let user_name = console["user_name"].as_str().expect("the IAM user");
    user_console(env, &f.aws_account, user_name, password)
        .await
        .expect("the collected password signs in");
    let again = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert!(again.get("granted").is_none(), "handed over once: {again}");
    env.client().end_session(&f.token, &id).await.ok(200);
    env.clock.reset();
}

/// Extending a console session moves its end and keeps its password (docs/access-requests.md,
/// Extension): the answer hands out no password and IAM is asked for none, the start's password
/// still signs in, the `extended` event says where the end moved from and to, and the expirer
/// leaves the session (and the console user's access) alone past its old end and ends it at
/// the new one.
#[tokio::test]
async fn a_console_extension_moves_its_end_and_keeps_its_password() {
    let env = env();
    let _serial = env.serial().await;
    // Earlier tests' sessions ended first, so that the runs below find only this one due.
    env.drain_expirer().await;
    let api = env.client();
    let f = fixture(env, "consoleextend").await;
    let user = f.user_key().await;
    let started = api.post("/sessions", &f.token, console_request(&f)).await.ok(201);
    let id = id_of(&started);
    let password = started["console"]["password"]
        .as_str()
        .expect("a console password")
        .to_string();
    let before = instant(&started["session"]["expires_at"]);

    env.faults.clear_calls(&f.email);
    let reply = api
        .post(
            &format!("/sessions/{id}/extensions"),
            &f.token,
            json!({ "duration_seconds": 900, "reason": "the audit runs long" }),
        )
        .await;
    let extended = reply.ok(201);
    assert_eq!(extended["session"]["id"], id.as_str(), "same session");
    assert_eq!(extended["session"]["status"], "active");
    assert_eq!(
        instant(&extended["session"]["expires_at"]),
        before + time::Duration::seconds(900),
        "the end moved by the 900 s asked: {extended}"
    );
    assert_eq!(
        extended["session"]["extensions"].as_array().map(Vec::len),
        Some(1),
        "{extended}"
    );
    assert_eq!(extended["session"]["extensions"][0]["duration_seconds"], 900);
    assert!(
        extended.get("console").is_none() && extended.get("credentials").is_none(),
        "no new password or credentials: {extended}"
    );
    assert!(!reply.text.contains(&password), "the password is not handed out again");
    let calls = env.faults.calls(&f.email);
    assert!(
        !calls.iter().any(|c| c == "SetLoginProfile"),
        "no new password set: {calls:?}"
    );
    user_console(env, &f.aws_account, &f.email, &password)
        .await
        .expect("the start's password still signs in");
    let on_bus = session_event(env, &id, "extended", "Session extended").await;
    assert_fields(&on_bus, &fixture_fields(&f));
    assert_fields(&on_bus, &json!({ "kind": "console", "role_arn": null, "by": f.email }));
    assert_eq!(
        instant(&on_bus["expires_at"]),
        before + time::Duration::seconds(900),
        "{on_bus}"
    );
    assert_eq!(instant(&on_bus["previous_expires_at"]), before, "{on_bus}");
    assert!(!on_bus.to_string().contains(&password), "{on_bus}");
    assert_as_logged(env, &f.token, &on_bus).await;

    // Past the old end (900 s), before the new one (1800 s): the session and its user live.
    env.clock.advance(std::time::Duration::from_secs(960));
    env.run_expirer().await;
    let now = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(now["status"], "active", "not ended at its old end: {now}");
    assert_eq!(env.try_call(&user).await, Ok(()), "the console user still works");
    // Past the new end: expired, the user denied again and the password taken back.
    env.clock.advance(std::time::Duration::from_secs(900));
    env.run_expirer().await;
    env.clock.reset();
    let now = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(now["status"], "expired", "ended at its new end: {now}");
    assert_eq!(env.try_call(&user).await, Err("AccessDenied".into()));
    assert!(
        user_console(env, &f.aws_account, &f.email, &password).await.is_err(),
        "the password was taken back at the end"
    );
}
