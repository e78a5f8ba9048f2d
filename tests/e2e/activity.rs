//! Activity per session, end to end: sessions through the API, calls made with their
//! credentials against local AWS (which records them as CloudTrail does), and
//! `GET /sessions/{id}/activity` listing a session's own calls and no one else's; the expirer
//! copying them into the session's log once CloudTrail has delivered them; LookupEvents'
//! throttling met with backoff and a partial answer.
//!
//! Every test here takes `env.serial()`: they move the broker's clock and one of them clears the
//! local CloudTrail history (this binary's own local AWS).

use std::time::Duration;

use e2e::{Fixture, TestEnv, env, fixture, session_credentials};
use serde_json::{Value, json};

fn jit(f: &Fixture, seconds: i64) -> Value {
    f.jit(seconds)
}

/// `sts:GetCallerIdentity` in eu-west-1 (the accounts' default Region) as `creds`.
async fn whoami_in_region(env: &TestEnv, creds: &aws_credential_types::Credentials) {
    let sdk = env.sdk(&env.broker).await;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(creds.clone())
            .build(),
    );
    sts.get_caller_identity()
        .send()
        .await
        .expect("anyone may ask who they are");
}

/// Every event of a session's activity in `region`, following the cursors `limit` at a time.
async fn all_activity(env: &TestEnv, token: &str, session: &str, region: &str, limit: u32) -> (Vec<Value>, Value) {
    let api = env.client();
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    let mut first = None;
    for _ in 0..50 {
        let mut path = format!("/sessions/{session}/activity?region={region}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = api.get(&path, token).await.ok(200);
        assert_eq!(page["partial"], false, "nothing throttles here: {page}");
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].as_str().map(str::to_string);
        first.get_or_insert(page);
        if cursor.is_none() {
            return (events, first.unwrap());
        }
    }
    panic!("paging did not end");
}

fn names(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event_name"].as_str().unwrap()).collect()
}

async fn throttle(env: &TestEnv, aws_account: &str, calls: u32) {
    let reply = reqwest::Client::new()
        .post(format!("{}/moto-api/cib/cloudtrail/throttle", env.aws_endpoint))
        .json(&json!({ "account_id": aws_account, "calls": calls }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());
}

#[tokio::test]
async fn a_sessions_activity_is_its_own_calls_newest_first_and_outlives_event_history_in_its_log() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "activity-own").await;
    let mine = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let other = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let (id, other_id) = (
        mine["session"]["id"].as_str().unwrap(),
        other["session"]["id"].as_str().unwrap(),
    );
    let creds = session_credentials(&mine);
    let iam = env.iam_as(creds.clone()).await;
    iam.list_roles().send().await.expect("the role may list roles");
    iam.get_role()
        .role_name(f.role_name())
        .send()
        .await
        .expect("and read its own");
    whoami_in_region(env, &creds).await;
    // Calls that are not this session's: another session of the same user, and the user's
    // own IAM user (the person at the console)
    let other_iam = env.iam_as(session_credentials(&other)).await;
    other_iam.list_roles().send().await.unwrap();
    // (refused: the user holds no console session, so the session deny is on), recorded all the same.
    let _ = env.iam_as(f.user_key().await).await.list_roles().send().await;

    // IAM is global: its calls are in us-east-1's event history, newest first.
    let (events, first) = all_activity(env, &f.token, id, "us-east-1", 1).await;
    assert_eq!(first["source"], "cloudtrail");
    assert_eq!(
        first["lookup"],
        json!({ "attribute": "Username", "value": format!("cib-{id}") })
    );
    assert!(first["note"].as_str().unwrap().contains("15 minutes"));
    assert_eq!(names(&events), ["GetRole", "ListRoles"], "{events:#?}");
    for e in &events {
        assert!(
            e["principal_arn"].as_str().unwrap().ends_with(&format!("/cib-{id}")),
            "{e}"
        );
        assert_eq!(e["source_identity"], f.email.as_str(), "{e}");
        assert_eq!(e["access_key_id"], creds.access_key_id(), "{e}");
        assert_eq!(e["event_source"], "iam.amazonaws.com");
        assert_eq!(e["read_only"], true);
        assert!(e.get("request_parameters").is_none());
    }
    // The account's own Region by default.
    let regional = api.get(&format!("/sessions/{id}/activity"), &f.token).await.ok(200);
    assert_eq!(regional["region"], "eu-west-1");
    assert_eq!(names(regional["events"].as_array().unwrap()), ["GetCallerIdentity"]);
    // The other session sees only its own call.
    let (theirs, _) = all_activity(env, &f.token, other_id, "us-east-1", 50).await;
    assert_eq!(names(&theirs), ["ListRoles"]);
    assert_ne!(theirs[0]["event_id"], events[1]["event_id"]);

    // Who may look, and bad input.
    let stranger = env.user("activity-stranger@example.com");
    api.get(&format!("/sessions/{id}/activity"), &stranger)
        .await
        .problem(403);
    api.get(&format!("/sessions/{id}/activity?region=us-east-1"), &env.admin())
        .await
        .ok(200);
    let first_page = api
        .get(&format!("/sessions/{id}/activity?region=us-east-1&limit=1"), &f.token)
        .await
        .ok(200);
    let cursor = first_page["next_cursor"].as_str().expect("two events, one a page");
    api.get(&format!("/sessions/{other_id}/activity?cursor={cursor}"), &f.token)
        .await
        .problem(400);
    api.get(
        &format!("/sessions/{id}/activity?cursor={cursor}&region=eu-west-1"),
        &f.token,
    )
    .await
    .problem(400);
    // A cursor whose window's end was moved (to widen the lookup) is not one the API made.
    {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut c: Value = serde_json::from_slice(&b64.decode(cursor).unwrap()).unwrap();
        c["e"] = json!(c["e"].as_i64().unwrap() + 86_400);
        let forged = b64.encode(c.to_string());
        api.get(&format!("/sessions/{id}/activity?cursor={forged}"), &f.token)
            .await
            .problem(400);
    }
    api.get(&format!("/sessions/{id}/activity?cursor=garbage"), &f.token)
        .await
        .problem(400);
    api.get(&format!("/sessions/{id}/activity?region=moon-1"), &f.token)
        .await
        .problem(400);
    // An empty region is no region either (the fuzzer found it read as the default).
    api.get(&format!("/sessions/{id}/activity?region="), &f.token)
        .await
        .problem(400);

    // After the end, its credentials are refused, and the refusal is its activity too.
    api.end_session(&f.token, id).await.ok(200);
    assert_eq!(env.try_call(&creds).await, Err("AccessDenied".into()));
    let (after, _) = all_activity(env, &f.token, id, "us-east-1", 50).await;
    assert_eq!(names(&after), ["ListRoles", "GetRole", "ListRoles"]);
    assert_eq!(after[0]["error_code"], "AccessDenied");

    // Before CloudTrail has had its 15 minutes, no copy.
    env.run_expirer().await;
    let record = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(record["status"], "ended");
    assert_eq!(
        api.get(&format!("/sessions/{id}/activity?region=us-east-1"), &f.token)
            .await
            .ok(200)["source"],
        "cloudtrail"
    );
    // 20 minutes on, the expirer copies it into the log.
    env.clock.advance(Duration::from_secs(21 * 60));
    env.run_expirer().await;
    let log = api.get(&format!("/sessions/{id}/log"), &f.token).await.ok(200);
    assert_eq!(log["verified"], true);
    let copy = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "activity")
        .expect("the log holds the activity")
        .clone();
    assert_eq!(
        names(copy["activity"]["regions"]["us-east-1"]["events"].as_array().unwrap()),
        ["ListRoles", "GetRole", "ListRoles"]
    );
    assert_eq!(
        names(copy["activity"]["regions"]["eu-west-1"]["events"].as_array().unwrap()),
        ["GetCallerIdentity"]
    );
    // A second run copies nothing again.
    env.run_expirer().await;
    let log = api.get(&format!("/sessions/{id}/log"), &f.token).await.ok(200);
    let copies = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "activity")
        .count();
    assert_eq!(copies, 1);

    // CloudTrail forgets (event history keeps 90 days; here, all of it goes at once): the
    // answer now comes from the verified log, paged the same way.
    let reset = reqwest::Client::new()
        .post(format!("{}/moto-api/cib/cloudtrail/reset", env.aws_endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    let (kept, first) = all_activity(env, &f.token, id, "us-east-1", 2).await;
    assert_eq!(first["source"], "session-log");
    assert_eq!(first["verified"], true);
    assert_eq!(first["snapshot"]["events"], 4);
    assert_eq!(
        kept.iter().map(|e| e["event_id"].clone()).collect::<Vec<_>>(),
        after.iter().map(|e| e["event_id"].clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_throttled_lookup_backs_off_then_answers_partial_and_a_throttled_copy_waits() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "activity-throttle").await;
    let s = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let id = s["session"]["id"].as_str().unwrap();
    let creds = session_credentials(&s);
    env.iam_as(creds.clone()).await.list_roles().send().await.unwrap();
    let path = format!("/sessions/{id}/activity?region=us-east-1");

    // Two refusals: the backoff rides them out.
    throttle(env, &f.aws_account, 2).await;
    let page = api.get(&path, &f.token).await.ok(200);
    assert_eq!(page["partial"], false);
    assert_eq!(names(page["events"].as_array().unwrap()), ["ListRoles"]);

    // More than the backoff waits for: a partial answer, and a cursor that goes on.
    throttle(env, &f.aws_account, 20).await;
    let page = api.get(&path, &f.token).await.ok(200);
    assert_eq!(page["partial"], true, "{page}");
    assert_eq!(page["events"], json!([]));
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a cursor to go on from")
        .to_string();
    throttle(env, &f.aws_account, 0).await;
    let rest = api
        .get(&format!("/sessions/{id}/activity?cursor={cursor}"), &f.token)
        .await
        .ok(200);
    assert_eq!(rest["partial"], false);
    assert_eq!(rest["region"], "us-east-1");
    assert_eq!(names(rest["events"].as_array().unwrap()), ["ListRoles"]);

    // A copy that meets throttling is not made half: it waits for a later run.
    api.end_session(&f.token, id).await.ok(200);
    env.clock.advance(Duration::from_secs(21 * 60));
    throttle(env, &f.aws_account, 50).await;
    env.run_expirer().await;
    let log = api.get(&format!("/sessions/{id}/log"), &f.token).await.ok(200);
    assert!(
        !log["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "activity"),
        "no copy while throttled"
    );
    throttle(env, &f.aws_account, 0).await;
    env.clock.advance(Duration::from_secs(2 * 60));
    env.run_expirer().await;
    let log = api.get(&format!("/sessions/{id}/log"), &f.token).await.ok(200);
    let copy = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "activity")
        .expect("copied once throttling stopped");
    assert_eq!(
        names(copy["activity"]["regions"]["us-east-1"]["events"].as_array().unwrap()),
        ["ListRoles"]
    );
}

#[tokio::test]
async fn a_console_sessions_activity_is_its_iam_users_calls() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "activity-console").await;
    // A JIT session started just before (within the window's minute of clock skew): the broker
    // assumes its role with the key it holds for the same IAM user, a call that is the
    // broker's and not the console session's.
    api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let s = api
        .post(
            "/sessions",
            &f.token,
            json!({ "account_id": f.account, "type": "console", "duration_seconds": 900, "reason": "look at the bill" }),
        )
        .await
        .ok(201);
    let id = s["session"]["id"].as_str().unwrap();
    // The person at the console signs in as the IAM user: its own key stands in for them.
    env.iam_as(f.user_key().await)
        .await
        .get_role()
        .role_name(f.role_name())
        .send()
        .await
        .ok();
    let page = api
        .get(&format!("/sessions/{id}/activity?region=us-east-1"), &f.token)
        .await
        .ok(200);
    assert_eq!(page["lookup"], json!({ "attribute": "Username", "value": f.email }));
    let events = page["events"].as_array().unwrap();
    assert!(names(events).contains(&"GetRole"), "{page}");
    assert!(events.iter().all(|e| e["username"] == f.email.as_str()), "{page}");
    assert!(
        events
            .iter()
            .all(|e| !e["principal_arn"].as_str().unwrap_or_default().contains("assumed-role")),
        "no role session's calls: {page}"
    );
    for region in ["us-east-1", "eu-west-1"] {
        let (all, _) = all_activity(env, &f.token, id, region, 50).await;
        assert!(
            !names(&all).contains(&"AssumeRole"),
            "the broker's AssumeRole is not the console's: {all:#?}"
        );
    }
}

/// A session's log, as its user reads it.
async fn log_of(env: &TestEnv, token: &str, session: &str) -> Value {
    env.client()
        .get(&format!("/sessions/{session}/log"), token)
        .await
        .ok(200)
}

/// The `activity` events of a session's log.
fn activity_events(log: &Value) -> Vec<Value> {
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "activity")
        .cloned()
        .collect()
}

/// A snapshot keeps at most 2 000 events per Region, the newest, and says it left some out
/// (docs/activity.md, "Cap"): 2 001 calls in the account's Region are copied as the newest
/// 2 000 with `truncated: true`, the oldest left out; the other Region's one call is copied
/// whole, not truncated; the route answers from the copy with the same counts.
#[tokio::test]
async fn a_snapshot_keeps_the_newest_2000_events_of_a_region_and_says_it_left_some_out() {
    use futures::StreamExt;
    const CAP: usize = 2_000;
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "activity-cap").await;
    let s = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let id = s["session"]["id"].as_str().unwrap().to_string();
    let creds = session_credentials(&s);
    let sdk = env.sdk(&env.broker).await;
    // The oldest call in the account's Region (eu-west-1), of a kind the others are not: the
    // one the cap leaves out. Refused or not, it is recorded.
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&sdk)
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(creds.clone())
            .build(),
    );
    let _ = ec2.describe_regions().send().await;
    // Then as many calls as a snapshot keeps, in the same Region.
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(creds.clone())
            .build(),
    );
    let sts = &sts;
    let answered: Vec<bool> = futures::stream::iter(0..CAP)
        .map(|_| async move { sts.get_caller_identity().send().await.is_ok() })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(answered.iter().all(|ok| *ok), "every GetCallerIdentity answered");
    // And one IAM call, in us-east-1's event history.
    env.iam_as(creds)
        .await
        .list_roles()
        .send()
        .await
        .expect("the role may list roles");
    api.end_session(&f.token, &id).await.ok(200);
    env.run_expirer().await;

    // 20 minutes on, the expirer copies it (a copy cut short by the run's time is made whole
    // by a later run).
    env.clock.advance(Duration::from_secs(21 * 60));
    let mut copies = Vec::new();
    for _ in 0..3 {
        env.run_expirer().await;
        let log = api.get(&format!("/sessions/{id}/log"), &f.token).await.ok(200);
        assert_eq!(log["verified"], true);
        copies = activity_events(&log);
        if !copies.is_empty() {
            break;
        }
        env.clock.advance(Duration::from_secs(2 * 60));
    }
    assert_eq!(copies.len(), 1, "one copy");
    let regions = &copies[0]["activity"]["regions"];
    let own = regions["eu-west-1"]["events"].as_array().unwrap();
    assert_eq!(own.len(), CAP, "at most 2 000 events a Region");
    assert_eq!(regions["eu-west-1"]["truncated"], true, "and it says so");
    assert!(
        names(own).iter().all(|n| *n == "GetCallerIdentity"),
        "the newest 2 000, the oldest call left out"
    );
    assert_eq!(names(regions["us-east-1"]["events"].as_array().unwrap()), ["ListRoles"]);
    assert_eq!(regions["us-east-1"]["truncated"], false);

    // The route answers from the copy, which says how many it holds and that some are left out.
    env.clock.reset();
    let page = api
        .get(&format!("/sessions/{id}/activity?limit=100"), &f.token)
        .await
        .ok(200);
    assert_eq!(page["source"], "session-log", "{}", page["snapshot"]);
    assert_eq!(page["region"], "eu-west-1");
    assert_eq!(page["verified"], true);
    assert_eq!(page["events"].as_array().map(Vec::len), Some(100));
    assert!(page["next_cursor"].is_string());
    assert_eq!(page["snapshot"]["events"], CAP + 1, "{}", page["snapshot"]);
    assert_eq!(page["snapshot"]["truncated"], true, "{}", page["snapshot"]);
    assert!(page["snapshot"]["error"].is_null(), "{}", page["snapshot"]);
}

/// A copy CloudTrail keeps refusing (the broker's access lost `cloudtrail:LookupEvents`) is
/// tried again an hour later, still a day on, and given up two days after it was due
/// (docs/activity.md, "Failures"): the log gets the `activity` event with `activity_error`
/// instead, the session's snapshot says why, the expirer logs an ERROR with
/// `alarm="activity-unavailable"`, and the route keeps answering from event history; no later
/// run tries again.
#[tokio::test]
async fn a_copy_cloudtrail_keeps_refusing_is_given_up_two_days_after_it_was_due() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "activity-refused").await;
    let s = api.post("/sessions", &f.token, jit(&f, 900)).await.ok(201);
    let id = s["session"]["id"].as_str().unwrap().to_string();
    env.iam_as(session_credentials(&s))
        .await
        .list_roles()
        .send()
        .await
        .expect("the role may list roles");
    api.end_session(&f.token, &id).await.ok(200);
    env.run_expirer().await;
    assert_eq!(
        api.get(&format!("/sessions/{id}"), &f.token).await.ok(200)["status"],
        "ended"
    );

    // The broker's access to the account (the IAM user it was registered with) may no longer
    // read event history.
    let me = aws_sdk_sts::Client::new(&env.sdk(&f.admin_keys).await)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let broker_user = me.arn().unwrap().rsplit('/').next().unwrap().to_string();
    let deny = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Deny", "Action": "cloudtrail:LookupEvents", "Resource": "*" }] });
    f.iam
        .put_user_policy()
        .user_name(&broker_user)
        .policy_name("no-event-history")
        .policy_document(deny.to_string())
        .send()
        .await
        .unwrap();
    let p = api
        .get(&format!("/sessions/{id}/activity?region=us-east-1"), &f.token)
        .await
        .problem(422);
    assert!(p["type"].as_str().unwrap().ends_with("/aws-refused"), "{p}");

    // Due 20 minutes after the end: refused, so tried again an hour later...
    env.clock.advance(Duration::from_secs(21 * 60));
    env.run_expirer().await;
    assert!(
        activity_events(&log_of(env, &f.token, &id).await).is_empty(),
        "no copy while refused"
    );
    // ...and still a day on: not given up before two days.
    env.clock.advance(Duration::from_secs(24 * 3600));
    env.run_expirer().await;
    assert!(
        activity_events(&log_of(env, &f.token, &id).await).is_empty(),
        "not given up after a day"
    );
    // Two days after it was due: given up, and the log says why.
    env.clock.advance(Duration::from_secs(24 * 3600 + 3600));
    env.run_expirer().await;
    let log = log_of(env, &f.token, &id).await;
    assert_eq!(log["verified"], true, "{log}");
    let copies = activity_events(&log);
    assert_eq!(copies.len(), 1, "{log}");
    assert!(
        copies[0]["activity_error"].as_str().is_some_and(|why| !why.is_empty()),
        "{}",
        copies[0]
    );
    assert!(copies[0]["activity"].is_null(), "no copy: {}", copies[0]);
    let alarms: Vec<Value> = e2e::captured_logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            let fields = if line["fields"].is_object() {
                &line["fields"]
            } else {
                line
            };
            fields["alarm"] == "activity-unavailable" && fields["session"] == id.as_str()
        })
        .collect();
    assert_eq!(alarms.len(), 1, "{alarms:#?}");
    assert_eq!(alarms[0]["level"], "ERROR", "{:#}", alarms[0]);

    // No later run tries again.
    env.clock.advance(Duration::from_secs(2 * 3600));
    env.run_expirer().await;
    assert_eq!(
        activity_events(&log_of(env, &f.token, &id).await).len(),
        1,
        "given up once"
    );

    // Event history readable again: the route answers from it, and says why there is no copy.
    env.clock.reset();
    f.iam
        .delete_user_policy()
        .user_name(&broker_user)
        .policy_name("no-event-history")
        .send()
        .await
        .unwrap();
    let page = api
        .get(&format!("/sessions/{id}/activity?region=us-east-1"), &f.token)
        .await
        .ok(200);
    assert_eq!(page["source"], "cloudtrail", "{page}");
    assert_eq!(names(page["events"].as_array().unwrap()), ["ListRoles"], "{page}");
    assert!(
        page["snapshot"]["error"].as_str().is_some_and(|why| !why.is_empty()),
        "{page}"
    );
    assert_eq!(page["snapshot"]["events"], 0, "{page}");
}
