//! Slack as the tests play it: what the broker posted to the local Slack stand-in (messages,
//! updates, answers at response URLs), a Slack member linked to a platform user, and a click on
//! an approval message's button, signed with the deployment's signing secret as Slack signs it.

use serde_json::json;

use crate::TestEnv;

/// The first post to the stand-in that `wanted` accepts, waited for up to 20 s.
pub async fn wait_for_post(
    env: &TestEnv,
    wanted: impl Fn(&local_runner::slack::SlackAnswer) -> bool,
) -> local_runner::slack::SlackAnswer {
    for _ in 0..200 {
        if let Some(a) = env.slack.answers().into_iter().find(|a| wanted(a)) {
            return a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no such Slack post: {:#?}", env.slack.answers());
}

/// The approval message posted to the approval channel for session `id`.
pub async fn approval_message(env: &TestEnv, id: &str) -> local_runner::slack::SlackAnswer {
    let message = wait_for_post(env, |p| {
        p.path == "api/chat.postMessage"
            && p.body["blocks"].to_string().contains(id)
            && p.body["channel"] == "C0APPROVALS"
    })
    .await;
    assert_eq!(
        message.body["blocks"][0]["text"]["text"], message.body["text"],
        "the section shows the text"
    );
    message
}

/// Links Slack `member` to `email` (an admin's link, then the person it names confirms it).
pub async fn link_member(env: &TestEnv, member: &str, email: &str) {
    let api = env.client();
    api.put(
        &format!("/chatops/slack/users/{member}"),
        &env.admin(),
        json!({ "email": email }),
    )
    .await
    .ok(200);
    api.post(
        &format!("/chatops/slack/users/{member}/confirmation"),
        &env.user(email),
        json!({}),
    )
    .await
    .ok(200);
}

/// A click on a button of an approval message, signed as Slack signs it: (body, timestamp).
pub fn click_request(user: &str, action: &str, session: &str, response_url: &str, age: i64) -> (String, String) {
    let payload = json!({
        "type": "block_actions",
        "team": { "id": "T0001" },
        "channel": { "id": "C0APPROVALS" },
        "user": { "id": user },
        "response_url": response_url,
        "actions": [{ "action_id": action, "value": session, "block_id": "decision" }],
    });
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let ts = (time::OffsetDateTime::now_utc().unix_timestamp() - age).to_string();
    (body, ts)
}

/// Sends a click (`age` seconds old), signed: the status and the body of the answer.
pub async fn click(
    env: &TestEnv,
    user: &str,
    action: &str,
    session: &str,
    response_url: &str,
    age: i64,
) -> (u16, String) {
    let (body, ts) = click_request(user, action, session, response_url, age);
    send_signed(env, &body, &ts, &sign(env, &ts, &body)).await
}

/// `member` runs the slash command `/jit text` (signed, in the approval channel): the answer
/// Slack gets at the command's response URL.
pub async fn command(env: &TestEnv, member: &str, text: &str) -> String {
    let url = format!("{}commands/{}", env.slack_base, ulid::Ulid::new());
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("team_id", "T0001")
        .append_pair("channel_id", "C0APPROVALS")
        .append_pair("user_id", member)
        .append_pair("command", "/jit")
        .append_pair("text", text)
        .append_pair("response_url", &url)
        .finish();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let resp = env.slack_post("commands", &body, &ts, &sign(env, &ts, &body)).await;
    assert_eq!(resp.status().as_u16(), 200, "the command is acknowledged");
    let answer = wait_for_post(env, |p| p.path == url.strip_prefix(&env.slack_base).unwrap()).await;
    answer.body["text"].as_str().unwrap_or_default().to_string()
}

/// `member` asks with `/jit text` for access that needs approval: the session id the answer
/// names (it must say the request needs approval).
pub async fn requested(env: &TestEnv, member: &str, text: &str) -> String {
    let said = command(env, member, text).await;
    assert!(said.contains("needs approval"), "{said}");
    said.split('`').nth(1).expect("a session id in backticks").to_string()
}

/// `member` clicks `action` on session `id`'s approval message: the text Slack is answered with
/// at the click's response URL (the click itself is acknowledged with 200).
pub async fn click_answered(env: &TestEnv, member: &str, action: &str, id: &str) -> String {
    let url = format!("{}interactions/{}", env.slack_base, ulid::Ulid::new());
    assert_eq!(click(env, member, action, id, &url, 0).await.0, 200);
    let answer = wait_for_post(env, |p| p.path == url.strip_prefix(&env.slack_base).unwrap()).await;
    answer.body["text"].as_str().unwrap_or_default().to_string()
}

/// Slack's signature of `body` at `ts` with the deployment's signing secret.
pub fn sign(env: &TestEnv, ts: &str, body: &str) -> String {
    TestEnv::slack_signature(env.config.slack_signing_secret.as_ref().unwrap().expose(), ts, body)
}

/// Posts an interaction as sent, with `signature`.
pub async fn send_signed(env: &TestEnv, body: &str, ts: &str, signature: &str) -> (u16, String) {
    let resp = env.slack_post("interactions", body, ts, signature).await;
    (resp.status().as_u16(), resp.text().await.unwrap())
}
