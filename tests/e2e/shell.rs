//! Shell sessions through Session Manager, end to end through the HTTP API against the local
//! AWS: settings → the preferences document written → a shell session → its credentials open
//! a Session Manager session on the target and are refused on another → end → the live
//! session terminated, its transcript in S3, listed by the verified log and readable by its
//! owner. And every prerequisite the broker checks, refused with the answer that names it.

use std::collections::BTreeMap;

use e2e::shell::{
    Aws, DOCUMENT, REGION, aws_as, instance, instance_profile, keys, live_ssm_sessions, register_agent, resume_ssm,
    send_transcripts_elsewhere, shell_fixture, ssm_status, start_ssm, start_ssm_with, terminate_ssm, type_in,
    type_in_counting,
};
use e2e::{Role, TestEnv, env, session_credentials};
use serde_json::{Value, json};

async fn document(aws: &Aws) -> Value {
    let doc = aws
        .ssm
        .get_document()
        .name(DOCUMENT)
        .send()
        .await
        .expect("the preferences document");
    serde_json::from_str(doc.content().unwrap()).unwrap()
}

#[tokio::test]
async fn a_shell_session_reaches_its_target_only_and_its_end_terminates_and_records_it() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let s = shell_fixture(env, "shell1").await;
    let path = format!("/accounts/{}/shell", s.f.account);

    // Settings → the preferences document is created as they say.
    let saved = api.put(&path, &admin, s.settings()).await.ok(200);
    assert_eq!(saved["preferences"]["status"], "created", "{saved}");
    assert_eq!(saved["preferences"]["in_sync"], true);
    assert_eq!(
        saved["policy_sync"]["updated"], 1,
        "the user's policy allows the shell role: {saved}"
    );
    let doc = document(&s.admin).await;
    assert_eq!(doc["sessionType"], "Standard_Stream");
    assert_eq!(doc["inputs"]["s3BucketName"], s.bucket.as_str());
    assert_eq!(doc["inputs"]["s3KeyPrefix"], "shell/");
    assert_eq!(doc["inputs"]["runAsEnabled"], true);
    assert_eq!(doc["inputs"]["runAsDefaultUser"], "ssm-user");
    assert_eq!(doc["inputs"]["idleSessionTimeout"], "20");
    // Someone changes the document by hand: the broker reports the drift, and puts it back.
    send_transcripts_elsewhere(&s.admin, &doc, "elsewhere").await;
    let read = api.get(&path, &admin).await.ok(200);
    assert_eq!(read["preferences"]["in_sync"], false, "{read}");
    assert_eq!(
        read["preferences"]["drift"][0]["field"], "inputs.s3BucketName",
        "{read}"
    );
    assert_eq!(read["preferences"]["drift"][0]["actual"], "elsewhere");
    let saved = api.put(&path, &admin, s.settings()).await.ok(200);
    assert_eq!(saved["preferences"]["status"], "updated", "{saved}");
    assert_eq!(document(&s.admin).await["inputs"]["s3BucketName"], s.bucket.as_str());
    assert_eq!(api.get(&path, &admin).await.ok(200)["preferences"]["in_sync"], true);

    // Start: credentials for one target, and how to connect.
    let target = s.managed(env).await;
    let other = s.managed(env).await;
    let started = api.post("/sessions", &s.f.token, s.start(&target, 1800)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    assert_eq!(started["session"]["type"], "shell");
    assert_eq!(started["session"]["target"], target.as_str());
    assert_eq!(started["session"]["role_arn"], s.role.as_str());
    assert_eq!(started["shell"]["run_as"], "oncall");
    assert_eq!(
        started["shell"]["command"],
        format!("aws ssm start-session --target {target} --document-name {DOCUMENT} --region {REGION}")
    );
    let creds = session_credentials(&started);
    let user = aws_as(env, creds.clone()).await;

    // The credentials open a Session Manager session on the target, as the user's OS user...
    let ssm_id = start_ssm(&user, &target)
        .await
        .expect("a session on the granted target");
    assert!(ssm_id.starts_with(&format!("cib-{id}-")), "{ssm_id}");
    type_in(env, &s.f.aws_account, &ssm_id, "$ whoami\noncall\n").await;
    // ...and nowhere else, though the role itself allows every instance.
    assert_eq!(start_ssm(&user, &other).await, Err("AccessDeniedException".into()));
    // Nor other calls the role allows: the session policy holds them to Session Manager.
    assert_eq!(env.try_call(&creds).await, Err("AccessDenied".into()));

    // End: the credentials are revoked and the live session terminated at once; the end
    // finishes after a second sweep (for sessions opened while IAM propagated the deny).
    let ending = api.end_session(&s.f.token, &id).await.ok(200);
    assert_eq!(ending["status"], "ending", "{ending}");
    let owner = format!("arn:aws:sts::{}:assumed-role/Shell-shell1/cib-{id}", s.f.aws_account);
    let owner_filter = aws_sdk_ssm::types::SessionFilter::builder()
        .key(aws_sdk_ssm::types::SessionFilterKey::Owner)
        .value(&owner)
        .build()
        .unwrap();
    let live = s
        .admin
        .ssm
        .describe_sessions()
        .state(aws_sdk_ssm::types::SessionState::Active)
        .filters(owner_filter.clone())
        .send()
        .await
        .unwrap();
    assert!(live.sessions().is_empty(), "no live session is left: {live:?}");
    let history = s
        .admin
        .ssm
        .describe_sessions()
        .state(aws_sdk_ssm::types::SessionState::History)
        .filters(owner_filter)
        .send()
        .await
        .unwrap();
    assert_eq!(history.sessions()[0].session_id(), Some(ssm_id.as_str()));
    assert_eq!(history.sessions()[0].status().map(|s| s.as_str()), Some("Terminated"));
    assert_eq!(
        start_ssm(&user, &target).await,
        Err("AccessDeniedException".into()),
        "revoked"
    );
    env.clock.advance(std::time::Duration::from_secs(61));
    env.run_expirer().await;
    env.clock.reset();
    let ended = api.get(&format!("/sessions/{id}"), &s.f.token).await.ok(200);
    assert_eq!(ended["status"], "ended", "{ended}");

    // The transcript is in S3 where the preferences say.
    let key = format!("shell/{ssm_id}.log");
    let object = s
        .admin
        .s3
        .get_object()
        .bucket(&s.bucket)
        .key(&key)
        .send()
        .await
        .expect("the transcript");
    let text = String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(text.contains("whoami") && text.contains("as oncall"), "{text}");

    // The session lists it, the verified log records it, and its owner reads it back.
    let session = api.get(&format!("/sessions/{id}"), &s.f.token).await.ok(200);
    let listed = &session["ssm_sessions"][0];
    assert_eq!(listed["id"], ssm_id.as_str(), "{session}");
    assert_eq!(listed["transcript"], format!("s3://{}/{key}", s.bucket));
    let log = api.get(&format!("/sessions/{id}/log"), &s.f.token).await.ok(200);
    assert_eq!(log["verified"], true, "{log}");
    let recorded = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "shell_sessions")
        .expect("the shell_sessions event");
    assert_eq!(recorded["terminated"], json!([ssm_id]));
    assert_eq!(
        recorded["ssm_sessions"][0]["transcript"],
        format!("s3://{}/{key}", s.bucket)
    );
    // On the bus too (docs/events.md): each sweep's event (the second found nothing live),
    // as logged.
    let mut logged: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "shell_sessions")
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    logged.sort();
    assert_eq!(logged.len(), 2, "one event per sweep: {log}");
    let mut on_bus = BTreeMap::new();
    for _ in 0..50 {
        on_bus = env
            .events_where(|e| e["detail"]["session_id"] == id.as_str() && e["detail"]["type"] == "shell_sessions")
            .await
            .into_iter()
            .map(|e| {
                assert_eq!(e["detail-type"], "Shell sessions recorded", "{e}");
                (
                    e["detail"]["event_id"].as_str().unwrap().to_string(),
                    e["detail"].clone(),
                )
            })
            .collect();
        if on_bus.len() == logged.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(on_bus.keys().map(String::as_str).collect::<Vec<_>>(), logged);
    for detail in on_bus.values() {
        e2e::bus::assert_as_logged(env, &s.f.token, detail).await;
    }
    let started_event = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "started")
        .unwrap();
    assert_eq!(started_event["target"], target.as_str());
    let transcript_path = format!("/sessions/{id}/transcripts/{ssm_id}");
    for token in [&s.f.token, &admin] {
        let t = api.get(&transcript_path, token).await.ok(200);
        assert!(t["content"].as_str().unwrap().contains("whoami"), "{t}");
        assert_eq!(t["truncated"], false);
    }
    // An empty transcript (S3 refuses a range on it with 416) reads as empty, not as a failure.
    s.admin
        .s3
        .put_object()
        .bucket(&s.bucket)
        .key(&key)
        .body(Vec::new().into())
        .send()
        .await
        .unwrap();
    let empty = api.get(&transcript_path, &s.f.token).await.ok(200);
    assert_eq!(empty["content"], "", "{empty}");
    let stranger = env.user("stranger@example.com");
    assert!(matches!(api.get(&transcript_path, &stranger).await.status, 403 | 404));
    // Auditors read every session, but not its transcripts: they can hold typed secrets, and
    // this deployment did not set AUDITORS_READ_TRANSCRIPTS.
    let auditor = env.token(e2e::Role::Auditor, "auditor@example.com", Some("auditor@example.com"));
    api.get(&format!("/sessions/{id}"), &auditor).await.ok(200);
    api.get(&transcript_path, &auditor).await.problem(403);
    api.get(&format!("/sessions/{id}/transcripts/cib-{id}-0000"), &s.f.token)
        .await
        .problem(404);
    // No secret of the session anywhere in what was logged.
    let text = log.to_string();
    assert!(!text.contains(started["credentials"]["secret_access_key"].as_str().unwrap()));
    assert!(!text.contains(started["credentials"]["session_token"].as_str().unwrap()));
}

#[tokio::test]
async fn expiry_terminates_the_live_session_manager_sessions() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shell_fixture(env, "shell2").await;
    s.configure(env).await;
    let target = s.managed(env).await;
    let started = api.post("/sessions", &s.f.token, s.start(&target, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    let user = aws_as(env, session_credentials(&started)).await;
    let first = start_ssm(&user, &target).await.unwrap();
    let second = start_ssm(&user, &target).await.unwrap();
    // The user ends one of them; the expirer must end the other.
    user.ssm.terminate_session().session_id(&first).send().await.unwrap();
    env.clock.advance(std::time::Duration::from_secs(901));
    env.run_expirer().await;
    // Revoked and terminated; the second sweep a minute later ends it.
    let session = api.get(&format!("/sessions/{id}"), &s.f.token).await.ok(200);
    assert_eq!(session["status"], "ending", "{session}");
    env.clock.advance(std::time::Duration::from_secs(61));
    env.run_expirer().await;
    env.clock.reset();
    let session = api.get(&format!("/sessions/{id}"), &s.f.token).await.ok(200);
    assert_eq!(session["status"], "expired", "{session}");
    let ids: BTreeMap<String, Value> = session["ssm_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["id"].as_str().unwrap().to_string(), x.clone()))
        .collect();
    assert!(ids.contains_key(&first) && ids.contains_key(&second), "{session}");
    let active = live_ssm_sessions(&s.admin).await;
    assert!(!active.contains(&second), "the expirer terminated the live one");
    let log = api.get(&format!("/sessions/{id}/log"), &s.f.token).await.ok(200);
    let recorded = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "shell_sessions")
        .unwrap();
    assert_eq!(
        recorded["terminated"],
        json!([second]),
        "only the live one needed terminating"
    );
}

#[tokio::test]
async fn every_missing_prerequisite_is_refused_with_the_answer_that_names_it() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let s = shell_fixture(env, "shell3").await;
    let acct = &s.f.aws_account;
    // Shell sessions not set up yet.
    let good = s.managed(env).await;
    let refused = api
        .post("/sessions", &s.f.token, s.start(&good, 900))
        .await
        .problem(422);
    assert!(
        refused["type"].as_str().unwrap().ends_with("shell-disabled"),
        "{refused}"
    );
    let refused = api
        .get(&format!("/accounts/{}/shell/targets", s.f.account), &s.f.token)
        .await
        .problem(422);
    assert!(
        refused["type"].as_str().unwrap().ends_with("shell-disabled"),
        "{refused}"
    );
    api.put(&format!("/accounts/{}/shell", s.f.account), &admin, s.settings())
        .await
        .ok(200);

    let stopped = s.managed(env).await;
    s.admin
        .ec2
        .stop_instances()
        .instance_ids(&stopped)
        .send()
        .await
        .unwrap();
    let no_profile = instance(&s.admin, &[("Environment", "staging")], None).await;
    let no_agent = instance(&s.admin, &[("Environment", "staging")], Some(&s.profile)).await;
    let prod = instance(&s.admin, &[("Environment", "prod")], Some(&s.profile)).await;
    register_agent(env, acct, &prod, "3.3.40.0").await;
    let old = instance(&s.admin, &[("Environment", "staging")], Some(&s.profile)).await;
    register_agent(env, acct, &old, "2.3.50.0").await;
    // An instance of another AWS account, tagged and managed there.
    let elsewhere = {
        let other = env.take_account();
        let aws = aws_as(env, keys(&other.admin)).await;
        instance_profile(&aws, "ssm").await;
        let id = instance(&aws, &[("Environment", "staging")], Some("ssm")).await;
        register_agent(env, &other.aws_account_id, &id, "3.3.40.0").await;
        id
    };
    let cases = [
        ("i-0123456789abcdef0", "target-not-found", "there is no"),
        (elsewhere.as_str(), "target-not-found", "there is no"),
        (prod.as_str(), "target-not-allowed", "not among the targets"),
        (stopped.as_str(), "target-not-running", "stopped"),
        (no_profile.as_str(), "target-not-managed", "instance profile"),
        (no_agent.as_str(), "target-not-managed", "has not registered"),
        (old.as_str(), "agent-too-old", "2.3.68.0"),
    ];
    for (target, slug, says) in cases {
        let p = api
            .post("/sessions", &s.f.token, s.start(target, 900))
            .await
            .problem(422);
        assert!(p["type"].as_str().unwrap().ends_with(slug), "{target}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(says), "{target}: {p}");
    }
    // The listing of targets puts each candidate through the same check, and names the same
    // refusal: the selector's instances only (not `prod`, nor another account's).
    let targets_path = format!("/accounts/{}/shell/targets", s.f.account);
    let listed = api.get(&targets_path, &s.f.token).await.ok(200);
    let by_id = |id: &str| {
        listed["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["instance_id"] == id)
            .cloned()
    };
    let reachable = by_id(&good).unwrap_or_else(|| panic!("{good} not listed: {listed}"));
    assert_eq!(reachable["reachable"], true, "{reachable}");
    assert_eq!(reachable["state"], "running", "{reachable}");
    assert!(reachable["problem"].is_null(), "{reachable}");
    for (target, slug) in [
        (stopped.as_str(), "target-not-running"),
        (no_profile.as_str(), "target-not-managed"),
        (no_agent.as_str(), "target-not-managed"),
        (old.as_str(), "agent-too-old"),
    ] {
        let t = by_id(target).unwrap_or_else(|| panic!("{target} not listed: {listed}"));
        assert_eq!(t["reachable"], false, "{t}");
        assert_eq!(t["problem"], slug, "{t}");
    }
    assert!(by_id(&prod).is_none() && by_id(&elsewhere).is_none(), "{listed}");
    assert_eq!(listed["truncated"], false);
    // An admin sees the same; an auditor, no one's shell starter, is refused.
    let as_admin = api.get(&targets_path, &admin).await.ok(200);
    assert_eq!(
        as_admin["targets"].as_array().unwrap().len(),
        listed["targets"].as_array().unwrap().len()
    );
    let auditor = env.token(Role::Auditor, "audit@example.com", Some("audit@example.com"));
    api.get(&targets_path, &auditor).await.problem(403);
    // Over the shell settings' maximum (shorter than the account's and the role's).
    let mut shorter = s.settings();
    shorter["max_duration_seconds"] = json!(1800);
    api.put(&format!("/accounts/{}/shell", s.f.account), &admin, shorter)
        .await
        .ok(200);
    let p = api
        .post("/sessions", &s.f.token, s.start(&good, 2400))
        .await
        .problem(422);
    assert!(p["type"].as_str().unwrap().ends_with("invalid-duration"), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("1800"), "{p}");
    // Not a target id at all; a role where the shell role is meant; no target.
    api.post("/sessions", &s.f.token, s.start("i-XYZ", 900))
        .await
        .problem(422);
    let mut with_role = s.start(&good, 900);
    with_role["role_arn"] = json!(s.role);
    let p = api.post("/sessions", &s.f.token, with_role).await.problem(422);
    assert!(p["type"].as_str().unwrap().ends_with("role-not-allowed"), "{p}");
    let mut no_target = s.start(&good, 900);
    no_target.as_object_mut().unwrap().remove("target");
    api.post("/sessions", &s.f.token, no_target).await.problem(422);
    // No group grants shell sessions: 403, for a user who may start JIT sessions.
    api.patch(
        &format!("/groups/{}", s.f.group),
        &admin,
        json!({ "permissions": { "start_sessions": true, "start_jit_sessions": true, "start_shell_sessions": false } }),
    )
    .await
    .ok(200);
    api.post("/sessions", &s.f.token, s.start(&good, 900))
        .await
        .problem(403);
    api.get(&targets_path, &s.f.token).await.problem(403);
    // Nothing was left behind by any refusal: no session on the account is live.
    let sessions = api
        .get(&format!("/sessions?account_id={}", s.f.account), &admin)
        .await
        .ok(200);
    assert!(
        sessions["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["status"] != "active"),
        "{sessions}"
    );
    // Bad settings: every field named.
    let bad = json!({
        "enabled": true,
        "role_arn": "arn:aws:iam::999999999999:role/Elsewhere",
        "targets": {},
        "max_duration_seconds": 60,
        "idle_timeout_minutes": 0,
        "recording": { "s3_bucket": "No_Such" },
    });
    let p = api
        .put(&format!("/accounts/{}/shell", s.f.account), &admin, bad)
        .await
        .problem(422);
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "role_arn",
        "targets",
        "max_duration_seconds",
        "idle_timeout_minutes",
        "recording.s3_bucket",
    ] {
        assert!(fields.contains(&f), "{f}: {p}");
    }
}

/// Terminating is part of revoking: when the broker cannot terminate a live Session Manager
/// session, the end is not done. The credentials are already denied (revoked first), the
/// session stays due with the error, and the expirer's retry terminates it once it can.
#[tokio::test]
async fn a_session_manager_session_that_cannot_be_terminated_keeps_the_end_due_until_it_is() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shell_fixture(env, "shell4").await;
    s.configure(env).await;
    let target = s.managed(env).await;
    let started = api.post("/sessions", &s.f.token, s.start(&target, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    let user = aws_as(env, session_credentials(&started)).await;
    let ssm_id = start_ssm(&user, &target).await.unwrap();

    // The broker's access to the account may no longer terminate sessions.
    let sdk = env.sdk(&s.f.admin_keys).await;
    let me = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let broker_user = me.arn().unwrap().rsplit('/').next().unwrap().to_string();
    let deny = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Deny", "Action": "ssm:TerminateSession", "Resource": "*" }] });
    s.admin
        .iam
        .put_user_policy()
        .user_name(&broker_user)
        .policy_name("no-terminate")
        .policy_document(deny.to_string())
        .send()
        .await
        .unwrap();
    let reply = api.end_session(&s.f.token, &id).await;
    assert!(reply.status >= 500, "the end is not done: {}", reply.status);
    let session = api.get(&format!("/sessions/{id}"), &s.f.token).await.ok(200);
    assert_eq!(session["status"], "ending", "{session}");
    assert!(session["last_error"].as_str().unwrap().contains(&ssm_id), "{session}");
    // Revoked first: the credentials open nothing more, though a session is still live.
    assert_eq!(start_ssm(&user, &target).await, Err("AccessDeniedException".into()));
    let live = live_ssm_sessions(&s.admin).await;
    assert!(live.contains(&ssm_id));

    // Allowed again: the expirer's retry finishes the end.
    s.admin
        .iam
        .delete_user_policy()
        .user_name(&broker_user)
        .policy_name("no-terminate")
        .send()
        .await
        .unwrap();
    env.drain_expirer().await;
    let session = api.get(&format!("/sessions/{id}"), &s.f.token).await.ok(200);
    assert_eq!(session["status"], "ended", "{session}");
    assert_eq!(session["ssm_sessions"][0]["id"], ssm_id.as_str());
    let live = live_ssm_sessions(&s.admin).await;
    assert!(!live.contains(&ssm_id));
}

/// A console session may switch into the JIT roles it was given, never into the shell role,
/// even where an admin made the shell role trust console switch-role: a switch-role session
/// carries no session policy, so it would reach every target.
#[tokio::test]
async fn a_console_session_cannot_switch_into_the_shell_role() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shell_fixture(env, "shell5").await;
    s.configure(env).await;
    let all = json!({ "Version": "2012-10-17", "Statement": s.f.trust_statements(env).await }).to_string();
    s.admin
        .iam
        .update_assume_role_policy()
        .role_name("Shell-shell5")
        .policy_document(all)
        .send()
        .await
        .unwrap();
    // The person at the console signs in as the IAM user: a key of theirs stands in for it.
    let user = s.f.user_key().await;
    let console = json!({ "account_id": s.f.account, "type": "console", "duration_seconds": 900, "reason": "look at the console" });
    let c = api.post("/sessions", &s.f.token, console).await.ok(201);
    let switch = |role: String| {
        let user = user.clone();
        let email = s.f.email.clone();
        async move { env.assume_role_as(&user, &role, &email, None).await.map(|_| ()) }
    };
    assert_eq!(
        switch(s.f.role.clone()).await,
        Ok(()),
        "switch-role into the JIT role works"
    );
    assert_eq!(
        switch(s.role.clone()).await,
        Err("AccessDenied".into()),
        "not into the shell role"
    );
    api.end_session(&s.f.token, c["session"]["id"].as_str().unwrap())
        .await
        .ok(200);
}

/// The shell role cannot also be a JIT role (third security review): a JIT session or console
/// switch-role into it carries no shell session policy and would reach every instance with any
/// document. Both settings refuse it with a 422 naming the conflict, and keep what they had.
#[tokio::test]
async fn the_shell_role_cannot_be_a_jit_role() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let s = shell_fixture(env, "shell-jit-conflict").await;
    // Shell settings naming a JIT role of the account.
    let mut settings = s.settings();
    settings["role_arn"] = json!(s.f.role);
    let p = api
        .put(&format!("/accounts/{}/shell", s.f.account), &admin, settings)
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["field"], "role_arn", "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("both the shell role and a JIT role"),
        "{p}"
    );
    assert_eq!(
        api.get(&format!("/accounts/{}/shell", s.f.account), &admin)
            .await
            .status,
        404,
        "nothing saved"
    );
    // JIT settings allowing the shell role.
    s.configure(env).await;
    let jit = json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [s.f.role, s.role] });
    let p = api
        .put(&format!("/accounts/{}/jit", s.f.account), &admin, jit)
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["field"], "allowed_role_arns", "{p}");
    let kept = api.get(&format!("/accounts/{}/jit", s.f.account), &admin).await.ok(200);
    assert_eq!(
        kept["allowed_role_arns"],
        json!([s.f.role]),
        "the JIT settings are unchanged"
    );
    // However it is spelt: IAM role names are unique regardless of case and path.
    let (head, name) = s.role.rsplit_once('/').unwrap();
    let respelt = format!("{head}/team/{}", name.to_ascii_uppercase());
    let jit = json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": [s.f.role, respelt] });
    let p = api
        .put(&format!("/accounts/{}/jit", s.f.account), &admin, jit)
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["field"], "allowed_role_arns", "{p}");
}

/// JIT credentials whose role allows `ssm:StartSession` can open a shell (or a port forward)
/// whose data channel outlives the deny; the end terminates it, whatever the session's kind
/// (third security review). Their session policy keeps such sessions in the account's default
/// Region, where the end looks.
#[tokio::test]
async fn a_jit_end_terminates_the_session_manager_sessions_its_credentials_opened() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shell_fixture(env, "jit-ssm").await;
    s.configure(env).await;
    let target = s.managed(env).await;
    // An operator's JIT role: Session Manager allowed.
    s.admin
        .iam
        .put_role_policy()
        .role_name(s.f.role_name())
        .policy_name("operator")
        .policy_document(
            json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
                "Action": ["ssm:StartSession", "ssm:TerminateSession", "ssm:DescribeSessions"], "Resource": "*" }] })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let started = api.post("/sessions", &s.f.token, s.f.jit(900)).await.ok(201);
    let creds = session_credentials(&started);
    let as_jit = aws_as(env, creds.clone()).await;
    let ssm = start_ssm(&as_jit, &target)
        .await
        .expect("the JIT credentials open a shell");
    assert!(live_ssm_sessions(&s.admin).await.contains(&ssm));
    // Not in another Region: the end would not look there.
    let elsewhere = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&env.sdk(&env.broker).await)
            .region(aws_config::Region::new("us-west-2"))
            .credentials_provider(creds)
            .build(),
    );
    let refused = elsewhere
        .start_session()
        .target(&target)
        .send()
        .await
        .map_err(|e| aws_sdk_ssm::error::ProvideErrorMetadata::code(&e).map(str::to_string));
    assert_eq!(refused.err().flatten().as_deref(), Some("AccessDeniedException"));

    let id = started["session"]["id"].as_str().unwrap();
    api.end_session(&s.f.token, id).await.ok(200);
    assert!(
        !live_ssm_sessions(&s.admin).await.contains(&ssm),
        "the end terminated the shell the JIT credentials opened"
    );
    let log = api.get(&format!("/sessions/{id}/log"), &s.f.token).await.ok(200);
    let swept = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "shell_sessions")
        .expect("the log records what was terminated");
    assert_eq!(swept["terminated"], json!([ssm]), "{swept}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Transcripts are tamper-evident (security review, low): a shell session's end records each
/// transcript's SHA-256 and size in the session's log, which the signed digests cover, and the
/// transcript endpoint says whether the object in S3 is still the one recorded.
#[tokio::test]
async fn the_end_records_each_transcripts_sha256_and_a_changed_transcript_no_longer_matches() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shell_fixture(env, "shell-digest").await;
    s.configure(env).await;
    let target = s.managed(env).await;
    let started = api.post("/sessions", &s.f.token, s.start(&target, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    let user = aws_as(env, session_credentials(&started)).await;
    let ssm_id = start_ssm(&user, &target).await.unwrap();
    type_in(env, &s.f.aws_account, &ssm_id, "$ whoami\noncall\n").await;
    // The end terminates it (Session Manager uploads the transcript then); the second sweep
    // a minute later finishes the end.
    api.end_session(&s.f.token, &id).await.ok(200);
    env.clock.advance(std::time::Duration::from_secs(61));
    env.run_expirer().await;
    env.clock.reset();
    let ended = api.get(&format!("/sessions/{id}"), &s.f.token).await.ok(200);
    assert_eq!(ended["status"], "ended", "{ended}");

    // The transcript as S3 holds it, hashed here.
    let key = format!("shell/{ssm_id}.log");
    let location = format!("s3://{}/{key}", s.bucket);
    let object = s
        .admin
        .s3
        .get_object()
        .bucket(&s.bucket)
        .key(&key)
        .send()
        .await
        .expect("the transcript");
    let bytes = object.body.collect().await.unwrap().into_bytes().to_vec();
    let sha256 = sha256_hex(&bytes);

    // The verified log records its SHA-256 and size, at each sweep that found it.
    let log = api.get(&format!("/sessions/{id}/log"), &s.f.token).await.ok(200);
    assert_eq!(log["verified"], true, "{log}");
    let events = log["events"].as_array().unwrap();
    let first = events
        .iter()
        .find(|e| e["type"] == "shell_sessions")
        .expect("the shell_sessions event");
    assert_eq!(first["terminated"], json!([ssm_id]), "{first}");
    assert_eq!(
        first["transcripts"].as_array().map(Vec::len),
        Some(1),
        "recorded at the end: {first}"
    );
    for e in events.iter().filter(|e| e["type"] == "shell_sessions") {
        let t = &e["transcripts"][0];
        assert_eq!(t["ssm_session_id"], ssm_id.as_str(), "{e}");
        assert_eq!(t["location"], location.as_str(), "{e}");
        assert_eq!(t["status"], "recorded", "{e}");
        assert_eq!(t["sha256"], sha256.as_str(), "{e}");
        assert_eq!(t["bytes"], bytes.len() as u64, "{e}");
    }

    // The endpoint compares S3's object with the log's record.
    let path = format!("/sessions/{id}/transcripts/{ssm_id}");
    let t = api.get(&path, &s.f.token).await.ok(200);
    assert_eq!(t["matches_log"], true, "{t}");
    assert_eq!(t["recorded"]["sha256"], sha256.as_str(), "{t}");
    assert_eq!(t["recorded"]["bytes"], bytes.len() as u64, "{t}");

    // Someone who may write the bucket rewrites what was typed, keeping the size: the log
    // still says what was there at the end, and the endpoint says this is not it.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let forged = text.replacen("whoami", "uptime", 1);
    assert_eq!(forged.len(), bytes.len());
    assert_ne!(forged, text);
    s.admin
        .s3
        .put_object()
        .bucket(&s.bucket)
        .key(&key)
        .body(forged.into_bytes().into())
        .send()
        .await
        .unwrap();
    let t = api.get(&path, &s.f.token).await.ok(200);
    assert!(t["content"].as_str().unwrap().contains("uptime"), "{t}");
    assert_eq!(t["matches_log"], false, "{t}");
    assert_eq!(
        t["recorded"]["sha256"],
        sha256.as_str(),
        "the log keeps the original's: {t}"
    );
    let admin = env.admin();
    assert_eq!(api.get(&path, &admin).await.ok(200)["matches_log"], false);
    // The original put back matches again.
    s.admin
        .s3
        .put_object()
        .bucket(&s.bucket)
        .key(&key)
        .body(bytes.clone().into())
        .send()
        .await
        .unwrap();
    assert_eq!(api.get(&path, &s.f.token).await.ok(200)["matches_log"], true);
}

/// A preferences document changed behind the broker's back stops shell starts (security
/// review, low): Session Manager would record elsewhere (or not at all) than the settings and
/// the session's log say. The start is refused with 422 `shell-preferences-drift` naming the
/// field, until an admin saves the shell settings again, which puts the document back.
#[tokio::test]
async fn a_drifted_preferences_document_refuses_shell_starts_until_the_settings_are_saved_again() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let s = shell_fixture(env, "shell-drift").await;
    s.configure(env).await;
    let target = s.managed(env).await;

    // In the console, someone sends the transcripts to another bucket.
    send_transcripts_elsewhere(&s.admin, &document(&s.admin).await, "elsewhere").await;
    let p = api
        .post("/sessions", &s.f.token, s.start(&target, 900))
        .await
        .problem(422);
    assert!(p["type"].as_str().unwrap().ends_with("shell-preferences-drift"), "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("inputs.s3BucketName"), "{p}");
    assert!(!detail.contains("elsewhere"), "the field is named, not its value: {p}");
    let sessions = api
        .get(&format!("/sessions?account_id={}", s.f.account), &admin)
        .await
        .ok(200);
    assert!(
        sessions["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["status"] != "active"),
        "nothing granted: {sessions}"
    );

    // Saving the settings again writes the document back; starts work again.
    let saved = api
        .put(&format!("/accounts/{}/shell", s.f.account), &admin, s.settings())
        .await
        .ok(200);
    assert_eq!(saved["preferences"]["in_sync"], true, "{saved}");
    assert_eq!(document(&s.admin).await["inputs"]["s3BucketName"], s.bucket.as_str());
    let started = api.post("/sessions", &s.f.token, s.start(&target, 900)).await.ok(201);
    api.end_session(&s.f.token, started["session"]["id"].as_str().unwrap())
        .await
        .ok(200);
}

/// The account's shell sessions, as an admin lists them.
async fn shell_sessions_of(env: &TestEnv, account: &str) -> Vec<Value> {
    let listed = env
        .client()
        .get(&format!("/sessions?account_id={account}"), &env.admin())
        .await
        .ok(200);
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["type"] == "shell")
        .cloned()
        .collect()
}

/// What a shell start refuses besides the prerequisites (docs/shell-sessions.md): a bot, even
/// one allowed to act for the user (403: the answer is credentials, which a chat relay must not
/// carry); an extension (422 `not-extendable`: a new start checks the target and the settings
/// again); a start while the user's console session on the account lives (422
/// `console-session-live`), which works again once the console session has ended. No refusal
/// grants anything.
#[tokio::test]
async fn bots_extensions_and_a_live_console_session_get_no_shell() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shell_fixture(env, "shell-refusals").await;
    s.configure(env).await;
    let target = s.managed(env).await;

    // A bot allowed to act for the user (it starts the user's JIT sessions) starts no shell.
    let bot = env.token(e2e::Role::Bot, "bot:chatops", None);
    let mut by_bot = s.start(&target, 900);
    by_bot["on_behalf_of"] = json!(s.f.email);
    let p = api.post("/sessions", &bot, by_bot).await.problem(403);
    assert!(p["detail"].as_str().unwrap().contains("shell"), "{p}");
    assert!(
        shell_sessions_of(env, &s.f.account).await.is_empty(),
        "nothing granted to the bot"
    );
    let mut jit_by_bot = s.f.jit(900);
    jit_by_bot["on_behalf_of"] = json!(s.f.email);
    let jit = api.post("/sessions", &bot, jit_by_bot).await.ok(201);
    api.end_session(&s.f.token, jit["session"]["id"].as_str().unwrap())
        .await
        .ok(200);

    // A shell session is not extended: a new start checks the target and the settings again.
    let started = api.post("/sessions", &s.f.token, s.start(&target, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    let p = api
        .post(
            &format!("/sessions/{id}/extensions"),
            &s.f.token,
            json!({ "duration_seconds": 900, "reason": "the restart takes longer" }),
        )
        .await
        .problem(422);
    assert!(p["type"].as_str().unwrap().ends_with("/not-extendable"), "{p}");
    let after = api.get(&format!("/sessions/{id}"), &s.f.token).await.ok(200);
    assert_eq!(after["status"], "active", "{after}");
    assert_eq!(
        after["expires_at"], started["session"]["expires_at"],
        "its end did not move: {after}"
    );
    api.end_session(&s.f.token, &id).await.ok(200);

    // While the user's console session on the account lives, no shell; once it ends, a shell.
    let console = api
        .post(
            "/sessions",
            &s.f.token,
            json!({ "account_id": s.f.account, "type": "console", "duration_seconds": 900, "reason": "look at the console" }),
        )
        .await
        .ok(201);
    let p = api
        .post("/sessions", &s.f.token, s.start(&target, 900))
        .await
        .problem(422);
    assert!(p["type"].as_str().unwrap().ends_with("/console-session-live"), "{p}");
    assert_eq!(
        shell_sessions_of(env, &s.f.account).await.len(),
        1,
        "only the shell session started before the console one"
    );
    api.end_session(&s.f.token, console["session"]["id"].as_str().unwrap())
        .await
        .ok(200);
    let again = api.post("/sessions", &s.f.token, s.start(&target, 900)).await.ok(201);
    assert_eq!(again["session"]["status"], "active", "{again}");
    api.end_session(&s.f.token, again["session"]["id"].as_str().unwrap())
        .await
        .ok(200);
}

/// A shell session's credentials open Session Manager sessions with the recording preferences
/// document only (docs/shell-sessions.md, the session policy): port forwarding
/// (`AWS-StartPortForwardingSession`) and SSH (`AWS-StartSSHSession`), which Session Manager
/// does not record, and a Session document of the account's own that records nowhere, are
/// AccessDenied on the very target granted, though the shell role allows every document and the
/// account's admin opens each of them there.
#[tokio::test]
async fn a_shell_sessions_credentials_open_no_port_forwarding_ssh_or_unrecorded_session() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shell_fixture(env, "shell-docs").await;
    s.configure(env).await;
    let target = s.managed(env).await;
    let unrecorded = "Unrecorded-shell-docs";
    s.admin
        .ssm
        .create_document()
        .name(unrecorded)
        .document_type(aws_sdk_ssm::types::DocumentType::Session)
        .document_format(aws_sdk_ssm::types::DocumentFormat::Json)
        .content(
            json!({ "schemaVersion": "1.0", "description": "records nowhere", "sessionType": "Standard_Stream",
                "inputs": { "s3BucketName": "", "runAsEnabled": false } })
            .to_string(),
        )
        .send()
        .await
        .expect("the document is created");
    let started = api.post("/sessions", &s.f.token, s.start(&target, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    let user = aws_as(env, session_credentials(&started)).await;
    let shell = start_ssm(&user, &target)
        .await
        .expect("the recorded shell on the granted target");

    for document in ["AWS-StartPortForwardingSession", "AWS-StartSSHSession", unrecorded] {
        assert_eq!(
            start_ssm_with(&user, &target, document).await,
            Err("AccessDeniedException".into()),
            "{document} with the shell session's credentials"
        );
        // The document opens on this target for a principal allowed it: the refusal above is
        // the session policy's, not a missing document.
        let opened = start_ssm_with(&s.admin, &target, document)
            .await
            .unwrap_or_else(|e| panic!("{document} as the account's admin: {e}"));
        terminate_ssm(&s.admin, &opened).await.unwrap();
    }
    // Nothing opened by the refused calls: the credentials own one live session, the shell.
    let owner = format!(
        "arn:aws:sts::{}:assumed-role/Shell-shell-docs/cib-{id}",
        s.f.aws_account
    );
    let owned = s
        .admin
        .ssm
        .describe_sessions()
        .state(aws_sdk_ssm::types::SessionState::Active)
        .filters(
            aws_sdk_ssm::types::SessionFilter::builder()
                .key(aws_sdk_ssm::types::SessionFilterKey::Owner)
                .value(&owner)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = owned.sessions().iter().filter_map(|x| x.session_id()).collect();
    assert_eq!(ids, [shell.as_str()], "{owned:?}");
    api.end_session(&s.f.token, &id).await.ok(200);
}

/// Several shell sessions on one instance are each their own (docs/shell-sessions.md: "the
/// user's other shell sessions, on the same target or another, are not touched"): a shell
/// session's credentials resume and terminate their own Session Manager sessions only (another
/// user's, and the same user's other shell session's, are AccessDenied), and ending one shell
/// session terminates its Session Manager session and leaves the others on the target
/// Connected, with their credentials working.
#[tokio::test]
async fn one_shell_sessions_end_leaves_the_other_shells_on_its_target_alone() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shell_fixture(env, "shell-shared").await;
    let bob = s.another_user(env, "shell-shared-bob@example.com").await;
    s.configure(env).await;
    let target = s.managed(env).await;
    let first = api.post("/sessions", &s.f.token, s.start(&target, 900)).await.ok(201);
    let second = api.post("/sessions", &s.f.token, s.start(&target, 900)).await.ok(201);
    let bobs = api.post("/sessions", &bob, s.start(&target, 900)).await.ok(201);
    let id_of = |x: &Value| x["session"]["id"].as_str().unwrap().to_string();
    let (first_id, second_id, bobs_id) = (id_of(&first), id_of(&second), id_of(&bobs));
    let as_first = aws_as(env, session_credentials(&first)).await;
    let as_second = aws_as(env, session_credentials(&second)).await;
    let as_bob = aws_as(env, session_credentials(&bobs)).await;
    let a1 = start_ssm(&as_first, &target).await.unwrap();
    let a2 = start_ssm(&as_second, &target).await.unwrap();
    let b1 = start_ssm(&as_bob, &target).await.unwrap();
    assert!(b1.starts_with(&format!("cib-{bobs_id}-")), "{b1}");

    // Each resumes its own, and nobody else's: not another user's, nor the same user's other
    // shell session's; nor terminates another's.
    assert_eq!(resume_ssm(&as_first, &a1).await, Ok(()));
    assert_eq!(resume_ssm(&as_bob, &b1).await, Ok(()));
    assert_eq!(
        resume_ssm(&as_bob, &a1).await,
        Err("AccessDeniedException".into()),
        "another user's"
    );
    assert_eq!(
        resume_ssm(&as_first, &a2).await,
        Err("AccessDeniedException".into()),
        "the same user's other shell session's"
    );
    assert_eq!(terminate_ssm(&as_bob, &a1).await, Err("AccessDeniedException".into()));
    assert_eq!(ssm_status(&s.admin, &a1).await.as_deref(), Some("Connected"));

    // The first ends (both sweeps): its Session Manager session is terminated, the others on
    // the same instance stay Connected.
    api.end_session(&s.f.token, &first_id).await.ok(200);
    env.clock.advance(std::time::Duration::from_secs(61));
    env.run_expirer().await;
    env.clock.reset();
    let ended = api.get(&format!("/sessions/{first_id}"), &s.f.token).await.ok(200);
    assert_eq!(ended["status"], "ended", "{ended}");
    let listed: Vec<&str> = ended["ssm_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert_eq!(listed, [a1.as_str()], "{ended}");
    assert_eq!(ssm_status(&s.admin, &a1).await.as_deref(), Some("Terminated"));
    for other in [&a2, &b1] {
        assert_eq!(
            ssm_status(&s.admin, other).await.as_deref(),
            Some("Connected"),
            "{other} on the same target"
        );
    }
    let log = api.get(&format!("/sessions/{first_id}/log"), &s.f.token).await.ok(200);
    assert_eq!(log["verified"], true, "{log}");
    let terminated: Vec<Value> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "shell_sessions")
        .flat_map(|e| e["terminated"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(terminated, [json!(a1)], "{log}");
    for (id, token) in [(&second_id, &s.f.token), (&bobs_id, &bob)] {
        let live = api.get(&format!("/sessions/{id}"), token).await.ok(200);
        assert_eq!(live["status"], "active", "{live}");
    }
    // The others' credentials still work; the ended one's are revoked.
    assert_eq!(resume_ssm(&as_second, &a2).await, Ok(()));
    assert_eq!(resume_ssm(&as_bob, &b1).await, Ok(()));
    start_ssm(&as_bob, &target)
        .await
        .expect("the other user opens another shell");
    assert_eq!(
        start_ssm(&as_first, &target).await,
        Err("AccessDeniedException".into()),
        "revoked"
    );
    api.end_session(&s.f.token, &second_id).await.ok(200);
    api.end_session(&bob, &bobs_id).await.ok(200);
}

/// Types into the live Session Manager session `ssm` until its transcript is exactly `total`
/// bytes (lines of `x`, at most 256 KiB at a time): what a shell printing that much records.
async fn fill_transcript(env: &TestEnv, aws_account: &str, ssm: &str, total: u64) {
    const CHUNK: u64 = 256 * 1024;
    let mut size = type_in_counting(env, aws_account, ssm, "").await;
    assert!(size < total, "{ssm}'s transcript already has {size} bytes");
    while size < total {
        let n = (total - size).min(CHUNK) as usize;
        let mut chunk = "x".repeat(n - 1);
        chunk.push('\n');
        size = type_in_counting(env, aws_account, ssm, &chunk).await;
    }
    assert_eq!(size, total, "{ssm}");
}

/// The transcript endpoint returns at most the first 1 MiB of a transcript and says when there
/// is more (`truncated`, docs/shell-sessions.md): a transcript of exactly 1 MiB comes whole and
/// not truncated, one a byte longer comes cut at 1 MiB and truncated; each is still compared
/// whole with what the session's log recorded at the end.
#[tokio::test]
async fn a_transcript_is_returned_up_to_1_mib_and_truncated_says_there_is_more() {
    const MIB: u64 = 1024 * 1024;
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let s = shell_fixture(env, "shell-large").await;
    s.configure(env).await;
    let target = s.managed(env).await;
    let started = api.post("/sessions", &s.f.token, s.start(&target, 900)).await.ok(201);
    let id = started["session"]["id"].as_str().unwrap().to_string();
    let user = aws_as(env, session_credentials(&started)).await;
    let whole = start_ssm(&user, &target).await.unwrap();
    let over = start_ssm(&user, &target).await.unwrap();
    fill_transcript(env, &s.f.aws_account, &whole, MIB).await;
    fill_transcript(env, &s.f.aws_account, &over, MIB + 1).await;
    // The end terminates both (Session Manager uploads the transcripts then); the second sweep
    // a minute later finishes it.
    api.end_session(&s.f.token, &id).await.ok(200);
    env.clock.advance(std::time::Duration::from_secs(61));
    env.run_expirer().await;
    env.clock.reset();

    for (ssm, size) in [(&whole, MIB), (&over, MIB + 1)] {
        let object = s
            .admin
            .s3
            .get_object()
            .bucket(&s.bucket)
            .key(format!("shell/{ssm}.log"))
            .send()
            .await
            .expect("the transcript");
        let bytes = object.body.collect().await.unwrap().into_bytes().to_vec();
        assert_eq!(bytes.len() as u64, size, "{ssm}: what Session Manager uploaded");
        let t = api
            .get(&format!("/sessions/{id}/transcripts/{ssm}"), &s.f.token)
            .await
            .ok(200);
        let content = t["content"].as_str().unwrap();
        assert_eq!(content.len() as u64, MIB, "{ssm}: at most 1 MiB");
        let first_mib = &bytes[..MIB as usize];
        assert!(
            content.as_bytes() == first_mib,
            "{ssm}: the first MiB of the transcript"
        );
        assert_eq!(t["truncated"], size > MIB, "{ssm}: truncated when there is more");
        assert_eq!(t["recorded"]["bytes"], size, "{ssm}: the log recorded it whole");
        assert_eq!(t["matches_log"], true, "{ssm}: compared whole with the log's record");
    }
}
