//! The Slack slash-command endpoint through the HTTP API: signed requests act exactly as the
//! sessions API does for the linked user (bot recorded), replies are ephemeral and hold no
//! secret, and bad signatures, stale requests, unknown users and bad commands are answered. An
//! admin's link acts only once the person it names confirms it. The signing secret is read from
//! its SSM SecureString parameter, and a message put on the jobs queue by hand acts for no one.

use e2e::{TestEnv, env, fixture};
use serde_json::{Value, json};
use shared::domain::{Secret, SlackJob};

struct Slack<'a> {
    env: &'a TestEnv,
}

impl Slack<'_> {
    fn secret(&self) -> String {
        self.env
            .config
            .slack_signing_secret
            .as_ref()
            .unwrap()
            .expose()
            .to_string()
    }

    /// Sends a slash command as Slack does (form-encoded, signed), optionally tampered with;
    /// its answer is to go to `response_url`.
    async fn send_to(
        &self,
        team: &str,
        user: &str,
        text: &str,
        response_url: &str,
        secret: &str,
        age_seconds: i64,
    ) -> (u16, Value, String) {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", "legacy-unused")
            .append_pair("team_id", team)
            .append_pair("channel_id", "C0001")
            .append_pair("user_id", user)
            .append_pair("command", "/jit")
            .append_pair("text", text)
            .append_pair("response_url", response_url)
            .finish();
        let ts = (time::OffsetDateTime::now_utc().unix_timestamp() - age_seconds).to_string();
        let signature = TestEnv::slack_signature(secret, &ts, &body);
        let (status, json) = self.post(&body, &ts, &signature).await;
        (status, json, body)
    }

    async fn post(&self, body: &str, ts: &str, signature: &str) -> (u16, Value) {
        let resp = self.env.slack_post("commands", body, ts, signature).await;
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn send(&self, user: &str, text: &str, secret: &str, age_seconds: i64) -> (u16, Value) {
        let url = self.response_url();
        let (status, body, _) = self.send_to("T0001", user, text, &url, secret, age_seconds).await;
        (status, body)
    }

    /// A fresh response URL under the stand-in.
    fn response_url(&self) -> String {
        format!("{}commands/{}", self.env.slack_base, ulid::Ulid::new())
    }

    /// Sends a command; Slack gets "Working on it" at once and the answer at the response URL.
    async fn say(&self, user: &str, text: &str) -> String {
        let url = self.response_url();
        let (status, body, _) = self.send_to("T0001", user, text, &url, &self.secret(), 0).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["response_type"], "ephemeral");
        let ack = body["text"].as_str().unwrap().to_string();
        if ack.starts_with("Usage:") {
            return ack;
        }
        assert_eq!(ack, "Working on it…");
        self.answer_at(&url).await
    }

    /// Waits (up to 20 s) for the answer posted to `url`.
    async fn answer_at(&self, url: &str) -> String {
        let path = url.strip_prefix(&self.env.slack_base).unwrap();
        for _ in 0..200 {
            if let Some(a) = self.env.slack.answers().into_iter().find(|a| a.path == path) {
                assert_eq!(a.body["response_type"], "ephemeral");
                return a.body["text"].as_str().unwrap().to_string();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no answer at {url}");
    }
}

#[tokio::test]
async fn slash_commands_start_list_and_end_sessions_for_linked_users() {
    let env = env();
    // Serial: the acknowledgement test holds the next AssumeRole, whoever makes it.
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "slack").await;
    let slack = Slack { env };

    // Admins link Slack members to platform users; nobody else may.
    api.put("/chatops/slack/users/U0SLACK1", &admin, json!({ "email": f.email }))
        .await
        .ok(200);
    let links = api.get("/chatops/slack/users", &admin).await.ok(200);
    assert!(
        links["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["slack_user_id"] == "U0SLACK1" && l["email"] == f.email.as_str())
    );
    api.put("/chatops/slack/users/U0SLACK1", &f.token, json!({ "email": f.email }))
        .await
        .problem(403);
    api.put("/chatops/slack/users/not-slack", &admin, json!({ "email": f.email }))
        .await
        .problem(422);
    api.put("/chatops/slack/users/U0SLACK2", &admin, json!({ "email": "nope" }))
        .await
        .problem(422);
    // The linked user confirms it, signed in.
    api.post("/chatops/slack/users/U0SLACK1/confirmation", &f.token, json!({}))
        .await
        .ok(200);

    // Start by account *name* and role *name*.
    let role_name = f.role.rsplit('/').next().unwrap();
    let text = slack
        .say("U0SLACK1", &format!("slack {role_name} 15m INC-7 failover"))
        .await;
    assert!(text.starts_with("Started JIT session `"), "{text}");
    assert!(text.contains("/federation?Action=login"), "the console link: {text}");
    let id = text.split('`').nth(1).unwrap().to_string();
    // The reply carries the console link, never the credentials STS issued for the session.
    let issued = env
        .assume_gate
        .issued(&format!("cib-{id}"))
        .expect("STS issued credentials");
    for secret in [issued.secret_access_key.expose(), issued.session_token.expose()] {
        assert!(!text.contains(secret), "a credential in the Slack reply");
    }

    // Same session as the API's, with the bot as the actor and the user as the owner.
    let session = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(
        (session["user"].as_str(), session["requested_by"].as_str()),
        (Some(f.email.as_str()), Some("slack:U0SLACK1"))
    );
    assert_eq!(session["duration_seconds"], 900);
    assert_eq!(session["reason"], "INC-7 failover");
    let log = api.get(&format!("/sessions/{id}/log"), &f.token).await.ok(200);
    assert_eq!(log["verified"], true);
    assert!(!log.to_string().contains(&slack.secret()));

    assert!(slack.say("U0SLACK1", "list").await.contains(&id));
    assert!(
        slack
            .say("U0SLACK1", &format!("end {id} fixed"))
            .await
            .contains("is ended")
    );
    assert_eq!(
        api.get(&format!("/sessions/{id}"), &f.token).await.ok(200)["ended_by"],
        format!("slack:U0SLACK1 for {}", f.email).as_str()
    );
    assert_eq!(slack.say("U0SLACK1", "list").await, "You have no live sessions.");

    // The same checks as the API: a role that is not allowed, a too-short duration.
    assert!(
        slack
            .say("U0SLACK1", "slack NotARole 15m testing")
            .await
            .contains("not a JIT role")
    );
    assert!(
        slack
            .say("U0SLACK1", &format!("slack {role_name} 60 too short"))
            .await
            .contains("could not start")
    );

    api.delete("/chatops/slack/users/U0SLACK1", &admin).await.ok(204);
    assert!(slack.say("U0SLACK1", "list").await.contains("not linked"));
}

#[tokio::test]
async fn bad_slack_requests_are_answered_clearly() {
    let env = env();
    let _serial = env.serial().await;
    let slack = Slack { env };
    let (status, body) = slack.send("U0BAD", "list", "not-the-secret", 0).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("signature"));
    let (status, body) = slack.send("U0BAD", "list", &slack.secret(), 301).await;
    assert_eq!(status, 401);
    assert!(body["detail"].as_str().unwrap().contains("too old"));

    assert!(slack.say("U0UNKNOWN", "list").await.contains("not linked"));
    let usage = slack.say("U0UNKNOWN", "prod OnCall soon").await;
    assert!(usage.starts_with("Sorry,") && usage.contains("Usage:"), "{usage}");
    assert!(slack.say("U0UNKNOWN", "help").await.starts_with("Usage:"));
    // Another workspace is refused even with the app's valid signature.
    let (status, body, _) = slack
        .send_to(
            "T0OTHER",
            "U0UNKNOWN",
            "list",
            &slack.response_url(),
            &slack.secret(),
            0,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // Unsigned requests never reach the command.
    let resp = reqwest::Client::new()
        .post(format!("{}/chatops/slack/commands", env.base_url))
        .body("user_id=U1&text=list")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

/// A signed request sent twice within its five-minute window runs once: the replay is refused
/// and the command's answer arrives once.
#[tokio::test]
async fn a_replayed_slack_request_is_refused() {
    let env = env();
    let _serial = env.serial().await;
    let slack = Slack { env };
    let url = slack.response_url();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("team_id", "T0001")
        .append_pair("channel_id", "C0001")
        .append_pair("user_id", "U0REPLAY")
        .append_pair("text", "list")
        .append_pair("response_url", &url)
        .finish();
    let signature = TestEnv::slack_signature(&slack.secret(), &ts, &body);
    let sig = signature.trim_start_matches("v0=").to_string();
    let (status, first) = slack.post(&body, &ts, &signature).await;
    assert_eq!(status, 200, "{first}");
    assert!(slack.answer_at(&url).await.contains("not linked"));
    let (status, replay) = slack.post(&body, &ts, &signature).await;
    assert_eq!(status, 401, "{replay}");
    assert!(replay["detail"].as_str().unwrap().contains("replay"), "{replay}");
    // The same signature spelled in upper-case hex is still valid, and still the same request.
    let (status, respelled) = slack.post(&body, &ts, &format!("v0={}", sig.to_uppercase())).await;
    assert_eq!(status, 401, "{respelled}");
    // A later command's answer: the jobs queue's poller answers in order, so a second answer
    // to the first would have arrived by then.
    assert!(slack.say("U0LATER", "list").await.contains("not linked"));
    let path = url.strip_prefix(&env.slack_base).unwrap();
    assert_eq!(env.slack.answers().iter().filter(|a| a.path == path).count(), 1);
}

/// The answer comes through the queue, so a slow AWS call never shows Slack a timeout: the
/// acknowledgement returns while the command is still held at STS.
#[tokio::test]
async fn slash_commands_are_acknowledged_before_they_finish() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let f = fixture(env, "slack-ack").await;
    let slack = Slack { env };
    api.put("/chatops/slack/users/U0SLOW", &env.admin(), json!({ "email": f.email }))
        .await
        .ok(200);
    api.post("/chatops/slack/users/U0SLOW/confirmation", &f.token, json!({}))
        .await
        .ok(200);
    let role_name = f.role.rsplit('/').next().unwrap();
    let (reached, go) = env.assume_gate.arm();
    let url = slack.response_url();
    let (status, ack, _) = slack
        .send_to(
            "T0001",
            "U0SLOW",
            &format!("slack-ack {role_name} 15m INC-9"),
            &url,
            &slack.secret(),
            0,
        )
        .await;
    assert_eq!((status, ack["text"].as_str()), (200, Some("Working on it…")));
    // The worker is held at AssumeRole, after Slack had its answer.
    tokio::time::timeout(std::time::Duration::from_secs(20), reached)
        .await
        .expect("the worker reached STS")
        .unwrap();
    let path = url.strip_prefix(&env.slack_base).unwrap();
    assert!(
        env.slack.answers().iter().all(|a| a.path != path),
        "answered before STS did"
    );
    go.send(()).unwrap();
    assert!(slack.answer_at(&url).await.starts_with("Started JIT session"));
}

/// The link of `member`, as admins list it.
async fn listed_link(env: &TestEnv, member: &str) -> Value {
    let links = env
        .client()
        .get("/chatops/slack/users?limit=100", &env.admin())
        .await
        .ok(200);
    links["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["slack_user_id"] == member)
        .cloned()
        .unwrap_or_else(|| panic!("{member} is not listed: {links}"))
}

/// The link events put on the bus for `member` (waits up to 10 s for `count` of them).
async fn link_events(env: &TestEnv, member: &str, count: usize) -> Vec<Value> {
    for _ in 0..50 {
        let events = env.events_where(|e| e["detail"]["slack_user_id"] == member).await;
        if events.len() >= count {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    env.events_where(|e| e["detail"]["slack_user_id"] == member).await
}

/// An admin's `PUT /chatops/slack/users/{id}` alone makes no Slack member act as anyone: the
/// link is pending, and the member's commands are answered as an unlinked member's (nothing is
/// started) until the person it names confirms it, signed in as that e-mail. Nobody else
/// confirms it: another user, the admin, a bot. Linking and confirming are on the bus with the
/// member, the e-mail and who did it; re-linking a confirmed member to someone else makes it
/// pending again.
#[tokio::test]
async fn an_admins_link_acts_only_once_the_user_it_names_confirms_it() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "slack-confirm").await;
    let slack = Slack { env };
    let role_name = f.role.rsplit('/').next().unwrap();
    let start = format!("slack-confirm {role_name} 15m INC-11 pending link");

    let linked = api
        .put("/chatops/slack/users/U0PENDING", &admin, json!({ "email": f.email }))
        .await
        .ok(200);
    assert_eq!(linked["status"], "pending", "{linked}");
    assert_eq!(linked["linked_by"], "admin@example.com");
    assert!(linked["linked_at"].is_string(), "{linked}");
    assert!(
        linked["confirmed_at"].is_null() && linked["confirmed_by"].is_null(),
        "{linked}"
    );
    let listed = listed_link(env, "U0PENDING").await;
    assert_eq!(
        (listed["status"].as_str(), listed["email"].as_str()),
        (Some("pending"), Some(f.email.as_str()))
    );

    // Pending: the member is answered as unlinked, and nothing is started for anyone.
    let text = slack.say("U0PENDING", &start).await;
    assert!(text.contains("not linked") && text.contains("confirm"), "{text}");
    assert!(slack.say("U0PENDING", "list").await.contains("not linked"));
    let sessions = api.get("/sessions", &f.token).await.ok(200);
    assert_eq!(sessions["items"].as_array().unwrap().len(), 0, "{sessions}");

    // Only the person the link names confirms it.
    for (who, token) in [
        ("another user", env.user("slack-confirm-other@example.com")),
        ("the admin who linked it", admin.clone()),
        ("a bot", env.token(e2e::Role::Bot, "bot:chatops", None)),
        (
            "an auditor",
            env.token(e2e::Role::Auditor, "audit@example.com", Some("audit@example.com")),
        ),
    ] {
        let refused = api
            .post("/chatops/slack/users/U0PENDING/confirmation", &token, json!({}))
            .await;
        assert_eq!(refused.status, 403, "{who}: {}", refused.text);
    }
    api.post("/chatops/slack/users/U0NOBODY/confirmation", &f.token, json!({}))
        .await
        .problem(404);
    assert_eq!(listed_link(env, "U0PENDING").await["status"], "pending");
    assert!(slack.say("U0PENDING", "list").await.contains("not linked"));

    let confirmed = api
        .post("/chatops/slack/users/U0PENDING/confirmation", &f.token, json!({}))
        .await
        .ok(200);
    assert_eq!(confirmed["status"], "confirmed", "{confirmed}");
    assert_eq!(confirmed["confirmed_by"], f.email.as_str());
    assert!(confirmed["confirmed_at"].is_string(), "{confirmed}");
    assert_eq!(confirmed["linked_by"], "admin@example.com");
    // Again: nothing changes.
    let again = api
        .post("/chatops/slack/users/U0PENDING/confirmation", &f.token, json!({}))
        .await
        .ok(200);
    assert_eq!(again["confirmed_at"], confirmed["confirmed_at"]);
    let listed = listed_link(env, "U0PENDING").await;
    assert_eq!(
        (
            listed["status"].as_str(),
            listed["linked_by"].as_str(),
            listed["confirmed_at"].as_str()
        ),
        (
            Some("confirmed"),
            Some("admin@example.com"),
            confirmed["confirmed_at"].as_str()
        )
    );
    // Linking it again to the same person keeps it confirmed.
    let relinked = api
        .put("/chatops/slack/users/U0PENDING", &admin, json!({ "email": f.email }))
        .await
        .ok(200);
    assert_eq!(relinked["status"], "confirmed", "{relinked}");

    // The same command now acts for the user.
    let text = slack.say("U0PENDING", &start).await;
    assert!(text.starts_with("Started JIT session `"), "{text}");
    let id = text.split('`').nth(1).unwrap().to_string();
    let session = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(
        (session["user"].as_str(), session["requested_by"].as_str()),
        (Some(f.email.as_str()), Some("slack:U0PENDING"))
    );
    assert!(
        slack
            .say("U0PENDING", &format!("end {id} done"))
            .await
            .contains("is ended")
    );

    // The bus has the link and its confirmation, with the member, the e-mail and who did it.
    let events = link_events(env, "U0PENDING", 2).await;
    let of = |t: &str| events.iter().find(|e| e["detail-type"] == t).cloned();
    let made = of("Slack member linked").unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(made["source"], "cloud-iam-broker");
    assert_eq!(
        (
            made["detail"]["email"].as_str(),
            made["detail"]["by"].as_str(),
            made["detail"]["status"].as_str()
        ),
        (Some(f.email.as_str()), Some("admin@example.com"), Some("pending"))
    );
    let accepted = of("Slack link confirmed").unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(
        (
            accepted["detail"]["email"].as_str(),
            accepted["detail"]["by"].as_str(),
            accepted["detail"]["via"].as_str()
        ),
        (Some(f.email.as_str()), Some(f.email.as_str()), Some("api"))
    );

    // Re-linked to someone else, the member acts for no one until that person confirms.
    let moved = api
        .put(
            "/chatops/slack/users/U0PENDING",
            &admin,
            json!({ "email": "slack-confirm-bob@example.com" }),
        )
        .await
        .ok(200);
    assert_eq!(moved["status"], "pending", "{moved}");
    assert!(slack.say("U0PENDING", "list").await.contains("not linked"));
    // A link to bob is not confirmed by alice's token.
    api.post("/chatops/slack/users/U0PENDING/confirmation", &f.token, json!({}))
        .await
        .problem(403);
    assert_eq!(listed_link(env, "U0PENDING").await["status"], "pending");
    api.delete("/chatops/slack/users/U0PENDING", &admin).await.ok(204);
}

/// An admin who links their own Slack member to an approver's e-mail approves nothing with it:
/// the command and the button click are answered as from an unlinked member, and the request
/// stays pending. From Slack, `/jit confirm` confirms a link only when Slack says the member's
/// e-mail is the linked one; then the approver's member approves.
#[tokio::test]
async fn a_pending_link_approves_nothing_and_slack_confirms_only_the_members_own_email() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let approver = "slack-confirm-approver@example.com";
    let f = fixture(env, "slack-approve").await;
    let slack = Slack { env };
    let group = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "approvers-slack-confirm", "accounts": [], "permissions": {} }),
        )
        .await
        .ok(201);
    let group = group["id"].as_str().unwrap().to_string();
    api.put(&format!("/groups/{group}/members/{approver}"), &admin, json!({}))
        .await
        .ok(201);
    api.patch(
        &format!("/groups/{}", f.group),
        &admin,
        json!({ "policy": { "approval": { "approvals_required": 1, "approver_group_ids": [group] } } }),
    )
    .await
    .ok(200);
    let pending = api.post("/sessions", &f.token, f.jit(900)).await.ok(202);
    let id = pending["session"]["id"].as_str().unwrap().to_string();

    // The admin's own member, linked to the approver: not confirmed, so it decides nothing.
    env.slack.set_member_email("U0MALLORY", "admin@example.com");
    api.put("/chatops/slack/users/U0MALLORY", &admin, json!({ "email": approver }))
        .await
        .ok(200);
    let text = slack.say("U0MALLORY", &format!("approve {id}")).await;
    assert!(text.contains("not linked"), "{text}");
    let url = format!("{}interactions/{}", env.slack_base, ulid::Ulid::new());
    let payload = json!({
        "type": "block_actions",
        "team": { "id": "T0001" },
        "channel": { "id": "C0001" },
        "user": { "id": "U0MALLORY" },
        "response_url": url,
        "actions": [{ "action_id": "approve", "value": id, "block_id": "decision" }],
    });
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let clicked = env
        .slack_post(
            "interactions",
            &body,
            &ts,
            &TestEnv::slack_signature(&slack.secret(), &ts, &body),
        )
        .await;
    assert_eq!(clicked.status().as_u16(), 200);
    assert!(slack.answer_at(&url).await.contains("not linked"));
    // From Slack, the admin's member cannot confirm it: its Slack e-mail is the admin's.
    let text = slack.say("U0MALLORY", "confirm").await;
    assert!(text.contains("not the one this link names"), "{text}");
    assert_eq!(listed_link(env, "U0MALLORY").await["status"], "pending");
    let session = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(session["status"], "pending", "{session}");
    assert_eq!(
        session["request"]["approvals"].as_array().map_or(0, Vec::len),
        0,
        "{session}"
    );

    // The approver's own member, whose Slack e-mail is theirs (in another case), confirms from
    // Slack, and then approves.
    env.slack
        .set_member_email("U0REALAPPROVER", "Slack-Confirm-Approver@Example.com");
    api.put(
        "/chatops/slack/users/U0REALAPPROVER",
        &admin,
        json!({ "email": approver }),
    )
    .await
    .ok(200);
    let text = slack.say("U0REALAPPROVER", "confirm").await;
    assert!(text.starts_with("Confirmed"), "{text}");
    let listed = listed_link(env, "U0REALAPPROVER").await;
    assert_eq!(
        (listed["status"].as_str(), listed["confirmed_by"].as_str()),
        (Some("confirmed"), Some("slack:U0REALAPPROVER"))
    );
    let text = slack.say("U0REALAPPROVER", &format!("approve {id}")).await;
    assert!(text.contains("approved"), "{text}");
    let session = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(session["status"], "active", "{session}");
    assert_eq!(session["request"]["approvals"][0]["by"], approver);
    let events = link_events(env, "U0REALAPPROVER", 2).await;
    assert!(
        events.iter().any(|e| e["detail-type"] == "Slack link confirmed"
            && e["detail"]["via"] == "slack"
            && e["detail"]["email"] == approver),
        "{events:?}"
    );
    env.client().end_session(&f.token, &id).await.ok(200);
    for member in ["U0MALLORY", "U0REALAPPROVER"] {
        api.delete(&format!("/chatops/slack/users/{member}"), &admin)
            .await
            .ok(204);
    }
}

/// Puts `body` on the Slack jobs queue directly, as anyone allowed to send to the queue could
/// (here with the broker's own keys), bypassing the chatops function.
async fn put_on_jobs_queue(env: &TestEnv, body: &Value) {
    let sqs = aws_sdk_sqs::Client::new(&env.sdk(&env.broker).await);
    sqs.send_message()
        .queue_url(
            env.config
                .slack
                .jobs_queue_url
                .as_deref()
                .expect("the local runner has the jobs queue"),
        )
        .message_body(body.to_string())
        .send()
        .await
        .expect("the queue takes the message");
}

/// Waits (up to 20 s) for the worker to drop, as forged, the message naming `id` (a job's id or
/// an event's `event_id`): its `chatops-forged` log line.
async fn dropped_as_forged(id: &str) {
    dropped_with("chatops-forged", id).await
}

/// Waits (up to 20 s) for the worker's log line raising `alarm` for the message naming `id`.
async fn dropped_with(alarm: &str, id: &str) {
    for _ in 0..200 {
        if e2e::captured_logs()
            .lines()
            .any(|l| l.contains(alarm) && l.contains(id))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the worker did not drop {id} ({alarm})");
}

/// Waits (up to 20 s) for a post to the Slack stand-in that `wanted` picks.
async fn wait_for_slack_post(env: &TestEnv, wanted: impl Fn(&local_runner::slack::SlackAnswer) -> bool) -> Value {
    for _ in 0..200 {
        if let Some(a) = env.slack.answers().into_iter().find(|a| wanted(a)) {
            return a.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no such Slack post: {:#?}", env.slack.answers());
}

/// The signing secret the broker checks Slack's requests (and the jobs' signatures) with is the
/// value of its SSM SecureString parameter, read at start as a function's cold start reads it:
/// stored encrypted, and a command signed with the parameter's value is accepted and run.
#[tokio::test]
async fn the_signing_secret_is_read_from_its_secure_string_parameter() {
    let env = env();
    let _serial = env.serial().await;
    let slack = Slack { env };
    let name = env
        .config
        .slack_signing_secret_parameter
        .clone()
        .expect("the local runner names the signing secret's parameter");
    let ssm = aws_sdk_ssm::Client::new(&env.sdk(&env.broker).await);
    let stored = ssm
        .get_parameter()
        .name(&name)
        .send()
        .await
        .expect("the parameter exists in the local AWS")
        .parameter
        .expect("a parameter");
    assert_eq!(
        stored.r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::SecureString),
        "{name}"
    );
    let value = ssm
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
        .expect("the parameter decrypts")
        .parameter
        .and_then(|p| p.value)
        .expect("a value");
    assert_ne!(stored.value(), Some(value.as_str()), "stored in clear");
    assert_eq!(value, slack.secret(), "the broker's signing secret is the parameter's");
    // Signed with the parameter's value: accepted by the chatops function, and its job's
    // signature accepted by the worker, which answers.
    let url = slack.response_url();
    let (status, ack, _) = slack.send_to("T0001", "U0SSMREAD", "list", &url, &value, 0).await;
    assert_eq!((status, ack["text"].as_str()), (200, Some("Working on it…")), "{ack}");
    assert!(slack.answer_at(&url).await.contains("not linked"));
    let (status, _) = slack.send("U0SSMREAD", "list", &format!("{value}x"), 0).await;
    assert_eq!(status, 401);
}

/// Whoever can send to the Slack jobs queue cannot make a job act for anyone: jobs put there by
/// hand (unsigned, signed with another key, or signed with the right key over another command)
/// are dropped by the worker before anything else (`chatops-forged`): no answer, no session.
/// Nor can they run a signed job again long after it ran (once its run-once record is gone):
/// a job signed six days ago, or dated ahead, is dropped as well (`chatops-stale`). A command
/// sent through Slack after them is answered and finds nothing started; a recent job signed
/// with the key derived from the signing secret runs, whoever queued it.
#[tokio::test]
async fn jobs_put_on_the_queue_by_hand_act_for_no_one() {
    let env = env();
    // Serial: a forged job that ran would start a session (an AssumeRole).
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "slack-forged").await;
    let slack = Slack { env };
    api.put("/chatops/slack/users/U0FORGED", &admin, json!({ "email": f.email }))
        .await
        .ok(200);
    api.post("/chatops/slack/users/U0FORGED/confirmation", &f.token, json!({}))
        .await
        .ok(200);
    let start = format!("slack-forged {} 15m INC-13 from the queue", f.role_name());
    let secret = Secret::new(slack.secret());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let job_at = |text: &str, issued_at: i64, key: &Secret| {
        SlackJob::signed(
            format!("forged-{}", ulid::Ulid::new()),
            "U0FORGED".into(),
            text.into(),
            slack.response_url(),
            issued_at,
            key,
        )
    };
    let job = |text: &str, key: &Secret| job_at(text, now, key);
    // No signature at all, as a hand-written message has.
    let unsigned = job(start.as_str(), &secret);
    let mut unsigned_body = serde_json::to_value(&unsigned).unwrap();
    unsigned_body.as_object_mut().unwrap().remove("signature");
    // Another key's signature.
    let other_key = job(start.as_str(), &Secret::new("not-the-signing-secret"));
    // The right key's signature, over another command than the one queued.
    let mut changed = job("list", &secret);
    changed.text = start.clone();
    // Signed with the right key over the start, but issued six days ago (a job captured then
    // and sent again once its run-once record expired), or dated an hour ahead.
    let replayed = job_at(start.as_str(), now - 6 * 86_400, &secret);
    let ahead = job_at(start.as_str(), now + 3600, &secret);
    put_on_jobs_queue(env, &unsigned_body).await;
    for j in [&other_key, &changed, &replayed, &ahead] {
        put_on_jobs_queue(env, &serde_json::to_value(j).unwrap()).await;
    }

    // Through Slack, after them: answered, and nothing was started for the user.
    assert_eq!(slack.say("U0FORGED", "list").await, "You have no live sessions.");
    for j in [&unsigned, &other_key, &changed] {
        dropped_as_forged(&j.id).await;
    }
    for j in [&replayed, &ahead] {
        dropped_with("chatops-stale", &j.id).await;
    }
    for j in [&unsigned, &other_key, &changed, &replayed, &ahead] {
        let path = j.response_url.strip_prefix(&env.slack_base).unwrap();
        assert!(
            env.slack.answers().iter().all(|a| a.path != path),
            "a forged or stale job was answered: {}",
            j.id
        );
    }
    let sessions = api.get("/sessions", &f.token).await.ok(200);
    assert_eq!(sessions["items"].as_array().unwrap().len(), 0, "{sessions}");

    // Signed with the key derived from the signing secret, a job runs whoever queued it: the
    // signature, not the sender, is what the worker trusts.
    let signed = job("list", &secret);
    put_on_jobs_queue(env, &serde_json::to_value(&signed).unwrap()).await;
    assert_eq!(
        slack.answer_at(&signed.response_url).await,
        "You have no live sessions."
    );
    api.delete("/chatops/slack/users/U0FORGED", &admin).await.ok(204);
}

/// A session event put on the jobs queue by hand posts nothing: the worker posts an event as the
/// session's log holds it, so one the log does not hold (a request worded to mislead approvers,
/// an approval nobody gave) is dropped (`chatops-forged`), and nothing is decided.
#[tokio::test]
async fn session_events_put_on_the_queue_by_hand_post_nothing() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "slack-forged-event").await;
    let group = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "approvers-slack-forged-event", "accounts": [], "permissions": {} }),
        )
        .await
        .ok(201);
    let group = group["id"].as_str().unwrap().to_string();
    api.put(
        &format!("/groups/{group}/members/slack-forged-event-approver@example.com"),
        &admin,
        json!({}),
    )
    .await
    .ok(201);
    api.patch(
        &format!("/groups/{}", f.group),
        &admin,
        json!({ "policy": { "approval": { "approvals_required": 1, "approver_group_ids": [group] } } }),
    )
    .await
    .ok(200);
    let pending = api.post("/sessions", &f.token, f.jit(900)).await.ok(202);
    let id = pending["session"]["id"].as_str().unwrap().to_string();
    // The real request is posted, from the log's copy of its event.
    let real = wait_for_slack_post(env, |p| {
        p.path == "api/chat.postMessage" && p.body["blocks"].to_string().contains(&id)
    })
    .await;
    assert!(real["text"].as_str().unwrap().contains("incident INC-42"), "{real}");

    let marker = format!("FORGED-{}", ulid::Ulid::new());
    let request = json!({
        "version": "0",
        "source": "cloud-iam-broker",
        "detail-type": "Approval requested",
        "detail": {
            "v": 1,
            "event_id": format!("{id}:{marker}:pending"),
            "type": "pending",
            "session_id": id,
            "kind": "jit",
            "user": f.email,
            "aws_account_id": f.aws_account,
            "role_arn": format!("arn:aws:iam::{}:role/ReadOnly", f.aws_account),
            "duration_seconds": 900,
            "request_reason": marker,
            "reason": marker,
            "approvals_required": 1,
        },
    });
    let approved = json!({
        "version": "0",
        "source": "cloud-iam-broker",
        "detail-type": "Session approved",
        "detail": {
            "v": 1,
            "event_id": format!("{id}:{marker}:approved"),
            "type": "approved",
            "session_id": id,
            "kind": "jit",
            "user": f.email,
            "approvers": [format!("{marker}@example.com")],
        },
    });
    for event in [&request, &approved] {
        put_on_jobs_queue(env, event).await;
    }
    for event in [&request, &approved] {
        dropped_as_forged(event["detail"]["event_id"].as_str().unwrap()).await;
    }
    assert!(
        env.slack
            .answers()
            .iter()
            .all(|a| !a.body.to_string().contains(&marker)),
        "a forged event reached Slack"
    );
    let session = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
    assert_eq!(session["status"], "pending", "{session}");
    api.post(
        &format!("/sessions/{id}/cancel"),
        &f.token,
        json!({ "reason": "done with the test" }),
    )
    .await
    .ok(200);
}

/// The internet-facing chatops function's policy names the table items it uses (by key prefix,
/// and on GSI1 the links' partition only), not the functions' shared table policy; it and the
/// worker get their Slack secrets by SSM parameter name, never as a value in their environment.
#[test]
fn the_chatops_function_gets_only_the_table_access_it_uses() {
    use serde_yaml::Value as Yaml;
    fn strings<'a>(v: &'a Yaml, out: &mut Vec<&'a str>) {
        match v {
            Yaml::String(s) => out.push(s),
            Yaml::Sequence(items) => items.iter().for_each(|i| strings(i, out)),
            Yaml::Mapping(m) => m.iter().for_each(|(k, v)| {
                strings(k, out);
                strings(v, out);
            }),
            Yaml::Tagged(t) => strings(&t.value, out),
            _ => {}
        }
    }
    let template: Yaml = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml")).unwrap(),
    )
    .unwrap();
    let chatops = &template["Resources"]["ChatopsFunction"]["Properties"];
    let mut named = Vec::new();
    strings(&chatops["Policies"], &mut named);
    assert!(!named.contains(&"TableAccessPolicy"), "{named:?}");
    let mut table_actions: Vec<&str> = named.iter().copied().filter(|s| s.starts_with("dynamodb:")).collect();
    table_actions.sort_unstable();
    table_actions.dedup();
    table_actions.retain(|a| *a != "dynamodb:LeadingKeys");
    assert_eq!(
        table_actions,
        [
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query"
        ]
    );
    // Each of those statements is limited by dynamodb:LeadingKeys, the Query on GSI1 included
    // (for a Query on an index, the index's partition key): the links' partition, no other.
    let table_statements: Vec<&Yaml> = chatops["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p.get("Statement").and_then(Yaml::as_sequence))
        .flatten()
        .filter(|s| s["Action"].as_str().is_some_and(|a| a.starts_with("dynamodb:")))
        .collect();
    assert_eq!(table_statements.len(), 4, "{table_statements:?}");
    let leading_keys = |statement: &Yaml| -> Vec<String> {
        let conditions = statement["Condition"].as_mapping().expect("a condition");
        let (operator, keys) = conditions
            .iter()
            .find(|(_, keys)| keys.get("dynamodb:LeadingKeys").is_some())
            .unwrap_or_else(|| panic!("no dynamodb:LeadingKeys condition: {statement:?}"));
        assert!(
            operator.as_str().is_some_and(|o| o.starts_with("ForAllValues:")),
            "{statement:?}"
        );
        keys["dynamodb:LeadingKeys"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    };
    for statement in &table_statements {
        assert!(!leading_keys(statement).is_empty(), "{statement:?}");
    }
    let query = table_statements
        .iter()
        .find(|s| s["Action"].as_str() == Some("dynamodb:Query"))
        .unwrap();
    assert_eq!(leading_keys(query), ["SLACKUSERS"]);
    for function in ["ChatopsFunction", "ChatopsWorkerFunction"] {
        let variables = &template["Resources"][function]["Properties"]["Environment"]["Variables"];
        assert!(
            variables.get("SLACK_SIGNING_SECRET_PARAMETER").is_some(),
            "{function}: {variables:?}"
        );
        for secret in ["SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"] {
            assert!(variables.get(secret).is_none(), "{function} has {secret}");
        }
    }
}
