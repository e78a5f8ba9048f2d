//! The `chatops` function: Slack slash commands (`POST /chatops/slack/commands`, authenticated
//! by Slack's request signature, not a bearer token), the admin API linking Slack members to
//! platform users, and the linked user's confirmation, without which a link does not act.
//!
//! Thin by design: verify the request here (signature, workspace, channel, replay), queue it
//! signed with its verified timestamp (`SlackJob::signed`, a key derived from the signing
//! secret) and acknowledge at once; the `chatops-worker` function checks the job's signature
//! and age (an hour at most), runs it through `shared::services::chatops` and answers at the
//! command's `response_url`. The signing secret is read at cold start from its SSM
//! SecureString parameter (`SLACK_SIGNING_SECRET_PARAMETER`).

use std::time::Instant;

use hmac::{Hmac, Mac};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use shared::App;
use shared::auth::Principal;
use shared::authz::Action;
use shared::domain::{Email, SlackJob, SlackLink, SlackUserId};
use shared::http::{
    Handled, Problem, finish, json, json_body, no_content, page_request, path_param, require, route_key, serve,
};
use shared::services::chatops::ChatOpsError;

/// Slack's replay window: requests signed more than five minutes ago are refused.
pub const MAX_AGE_SECONDS: i64 = 300;

/// Serves one API Gateway request. Never fails: every error is a problem+json response.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = Instant::now();
    let route = route_key(&req);
    if route == "POST /chatops/slack/commands" {
        return finish(&route, started, None, slack_command(app, &req).await);
    }
    if route == "POST /chatops/slack/interactions" {
        return finish(&route, started, None, slack_interaction(app, &req).await);
    }
    let req = &req;
    serve(&app.auth, req, |principal, route| async move {
        admin_route(app, &principal, &route, req).await
    })
    .await
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Checks `X-Slack-Signature` (`v0=` + HMAC-SHA256 of `v0:<timestamp>:<body>`, compared in
/// constant time) and the timestamp's age; returns the timestamp, now verified.
pub fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
) -> Result<i64, &'static str> {
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| "X-Slack-Request-Timestamp is not a number")?;
    if (now - ts).abs() > MAX_AGE_SECONDS {
        return Err("the request is too old (or from the future): possible replay");
    }
    let expected = signature
        .strip_prefix("v0=")
        .ok_or("X-Slack-Signature must start with v0=")?;
    let expected = decode_hex(expected).ok_or("X-Slack-Signature is not hex")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected)
        .map(|()| ts)
        .map_err(|_| "the signature does not match")
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Serialize)]
struct SlackReply {
    response_type: &'static str,
    text: String,
}

fn reply(text: impl Into<String>) -> Response<Body> {
    json(
        StatusCode::OK,
        &SlackReply {
            response_type: "ephemeral",
            text: text.into(),
        },
    )
}

/// A signed Slack request, checked: its form fields, its id (what was signed, hashed) and
/// when Slack sent it (its signed timestamp, which the job carries signed too).
struct Verified {
    form: std::collections::HashMap<String, String>,
    id: String,
    issued_at: i64,
}

impl Verified {
    fn field(&self, name: &str) -> &str {
        self.form.get(name).map(String::as_str).unwrap_or("")
    }
}

/// Checks the signature, then (after `origin`, which the caller reads from the form) that
/// this signed request was not seen before.
fn verify(app: &App, req: &Request) -> Result<Verified, Problem> {
    let Some(secret) = &app.slack_signing_secret else {
        return Err(Problem::not_found(
            "chat-ops is not configured (SLACK_SIGNING_SECRET_PARAMETER, SLACK_JOBS_QUEUE_URL)",
        ));
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let now = app.clock.now().unix_timestamp();
    let body = body_bytes(req);
    let issued_at = match verify_signature(
        secret.expose().as_bytes(),
        header("x-slack-request-timestamp"),
        body,
        header("x-slack-signature"),
        now,
    ) {
        Ok(ts) => ts,
        Err(why) => {
            tracing::warn!(why, "refused a Slack request");
            return Err(Problem::unauthorized(why));
        }
    };
    // Keyed by what was signed, not by the signature's spelling, which hex decoding would
    // accept in more than one form.
    let id = shared::domain::log_chain::sha256_hex(
        [header("x-slack-request-timestamp").as_bytes(), b":", body]
            .concat()
            .as_slice(),
    );
    Ok(Verified {
        form: form_urlencoded::parse(body).into_owned().collect(),
        id,
        issued_at,
    })
}

/// A request signed within the last five minutes could be sent again by anyone who saw it:
/// each signed (timestamp, body) is accepted once.
async fn first_time(app: &App, verified: &Verified) -> Result<(), Problem> {
    let until = app.clock.now() + time::Duration::seconds(2 * MAX_AGE_SECONDS + 60);
    match app.replays.first_use(&format!("slack:{}", verified.id), until).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::warn!("refused a replayed Slack request");
            Err(Problem::unauthorized("this request was already received (replay)"))
        }
        Err(e) => {
            tracing::error!(cause = %e, "recording a Slack request failed");
            Err(Problem::unavailable())
        }
    }
}

/// A click on an approval message's Approve or Deny button (Slack's interactivity request):
/// checked like a command, queued as the equivalent `/jit approve|deny` command for the member
/// who clicked, acknowledged at once with an empty 200.
async fn slack_interaction(app: &App, req: &Request) -> Handled {
    let (Some(secret), Some(queue)) = (&app.slack_signing_secret, &app.slack_jobs) else {
        return Err(Problem::not_found(
            "chat-ops is not configured (SLACK_SIGNING_SECRET_PARAMETER, SLACK_JOBS_QUEUE_URL)",
        ));
    };
    let verified = verify(app, req)?;
    let payload: serde_json::Value = serde_json::from_str(verified.field("payload"))
        .map_err(|_| Problem::bad_request("payload must be the JSON Slack sends"))?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    match origin(
        &app.slack,
        &text(&payload["team"]["id"]),
        &text(&payload["channel"]["id"]),
    ) {
        Origin::Allowed => {}
        Origin::OtherWorkspace => {
            return Err(Problem::forbidden(
                "interactions are accepted from one Slack workspace only",
            ));
        }
        Origin::OtherChannel => return Err(Problem::forbidden("not from an allowed channel")),
    }
    if payload["type"] != "block_actions" {
        return Err(Problem::bad_request("only block_actions interactions are handled"));
    }
    let action = &payload["actions"][0];
    let session = text(&action["value"]);
    let command = match action["action_id"].as_str() {
        Some("approve") => format!("approve {session}"),
        Some("deny") => format!("deny {session} denied in Slack"),
        _ => return Err(Problem::bad_request("the action is not approve or deny")),
    };
    let response_url = text(&payload["response_url"]);
    if !shared::adapters::slack::accepts(&app.slack.response_url_prefix, &response_url) {
        return Err(Problem::bad_request("response_url is not a Slack response URL"));
    }
    first_time(app, &verified).await?;
    // Signed: the worker runs only what this function verified.
    let job = SlackJob::signed(
        verified.id.clone(),
        text(&payload["user"]["id"]),
        command,
        response_url,
        verified.issued_at,
        secret,
    );
    queue.enqueue(&job).await.map_err(|e| {
        tracing::error!(cause = %e, "queueing a Slack interaction failed");
        Problem::unavailable()
    })?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .body(Body::Empty)
        .expect("a valid response"))
}

async fn slack_command(app: &App, req: &Request) -> Handled {
    let (Some(secret), Some(queue)) = (&app.slack_signing_secret, &app.slack_jobs) else {
        return Err(Problem::not_found(
            "chat-ops is not configured (SLACK_SIGNING_SECRET_PARAMETER, SLACK_JOBS_QUEUE_URL)",
        ));
    };
    let verified = verify(app, req)?;
    let field = |name: &str| verified.field(name);
    match origin(&app.slack, field("team_id"), field("channel_id")) {
        Origin::Allowed => {}
        Origin::OtherWorkspace => {
            tracing::warn!(
                team = field("team_id"),
                "refused a Slack request from another workspace"
            );
            return Err(Problem::forbidden(
                "commands are accepted from one Slack workspace only",
            ));
        }
        Origin::OtherChannel => return Ok(reply("Cloud IAM Broker does not take commands in this channel.")),
    }
    let text = field("text");
    // Help needs no AWS call, and replaying it shows nothing: answered at once.
    if matches!(
        shared::domain::parse_slash_command(text),
        Ok(shared::domain::SlashCommand::Help)
    ) {
        return Ok(reply(shared::domain::USAGE));
    }
    // Checked before anything runs: a command whose answer cannot be delivered is not run.
    if !shared::adapters::slack::accepts(&app.slack.response_url_prefix, field("response_url")) {
        return Err(Problem::bad_request("response_url is not a Slack response URL"));
    }
    first_time(app, &verified).await?;
    // Signed: the worker runs only what this function verified.
    let job = SlackJob::signed(
        verified.id.clone(),
        field("user_id").into(),
        text.into(),
        field("response_url").into(),
        verified.issued_at,
        secret,
    );
    // Slack shows a timeout after three seconds: acknowledge now, answer at response_url.
    queue.enqueue(&job).await.map_err(|e| {
        tracing::error!(cause = %e, "queueing a Slack command failed");
        Problem::unavailable()
    })?;
    Ok(reply("Working on it…"))
}

#[derive(Debug, PartialEq, Eq)]
enum Origin {
    Allowed,
    OtherWorkspace,
    OtherChannel,
}

/// Where a signed request may come from. The signing secret is per Slack app, and an app can be
/// installed in several workspaces: the workspace is checked, and the channel when configured.
fn origin(slack: &shared::config::SlackConfig, team: &str, channel: &str) -> Origin {
    if slack.team_id.as_deref() != Some(team) {
        Origin::OtherWorkspace
    } else if !slack.channel_ids.is_empty() && !slack.channel_ids.iter().any(|c| c == channel) {
        Origin::OtherChannel
    } else {
        Origin::Allowed
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkIn {
    email: String,
}

#[derive(Serialize)]
struct LinkOut {
    slack_user_id: String,
    email: String,
    /// `pending` until the linked user confirms it; only a `confirmed` link acts.
    status: &'static str,
    linked_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    linked_at: Option<time::OffsetDateTime>,
    confirmed_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    confirmed_at: Option<time::OffsetDateTime>,
}

impl From<&SlackLink> for LinkOut {
    fn from(l: &SlackLink) -> Self {
        LinkOut {
            slack_user_id: l.slack_user_id.to_string(),
            email: l.email.to_string(),
            status: l.status.as_str(),
            linked_by: l.linked_by.clone(),
            linked_at: l.linked_at,
            confirmed_by: l.confirmed_by.clone(),
            confirmed_at: l.confirmed_at,
        }
    }
}

fn link_problem(e: ChatOpsError, what: &str) -> Problem {
    match e {
        ChatOpsError::BadCursor => Problem::bad_request(e.to_string()),
        ChatOpsError::NotLinked(_) => Problem::not_found(e.to_string()),
        ChatOpsError::Forbidden(why) => Problem::forbidden(why),
        ChatOpsError::Changed => Problem::conflict("concurrent-update", e.to_string()),
        ChatOpsError::Unavailable(cause) => {
            tracing::error!(cause, "{} failed", what);
            Problem::unavailable()
        }
    }
}

async fn admin_route(app: &App, principal: &Principal, route: &str, req: &Request) -> Handled {
    let slack_user = || {
        let raw = path_param(req, "slack_user_id").unwrap_or_default();
        SlackUserId::parse(&raw).map_err(Problem::validation)
    };
    // The linked person's own confirmation; every other route is an admin's.
    if route == "POST /chatops/slack/users/{slack_user_id}/confirmation" {
        // Who may call it at all (a person with an e-mail, never a bot), before anything else.
        shared::authz::acting_user(principal, None, Action::ConfirmChatLink).map_err(Problem::from)?;
        let slack = slack_user()?;
        let link = app
            .chatops
            .confirm(&slack, principal)
            .await
            .map_err(|e| link_problem(e, "confirming a Slack link"))?;
        return Ok(json(StatusCode::OK, &LinkOut::from(&link)));
    }
    require(principal, Action::ManageUsers)?;
    match route {
        "GET /chatops/slack/users" => {
            let page = app
                .chatops
                .links(&page_request(req)?)
                .await
                .map_err(|e| link_problem(e, "listing Slack links"))?;
            let items: Vec<LinkOut> = page.items.iter().map(LinkOut::from).collect();
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "items": items, "next_cursor": page.next_cursor }),
            ))
        }
        "PUT /chatops/slack/users/{slack_user_id}" => {
            let slack = slack_user()?;
            let body: LinkIn = json_body(req)?;
            let email = Email::parse(&body.email).map_err(Problem::validation)?;
            // Pending until the person it names confirms it: it does not act yet.
            let link = app
                .chatops
                .link(&slack, &email, principal)
                .await
                .map_err(|e| link_problem(e, "linking"))?;
            Ok(json(StatusCode::OK, &LinkOut::from(&link)))
        }
        "DELETE /chatops/slack/users/{slack_user_id}" => {
            let slack = slack_user()?;
            let removed = app
                .chatops
                .unlink(&slack)
                .await
                .map_err(|e| link_problem(e, "unlinking"))?;
            if removed {
                Ok(no_content())
            } else {
                Err(Problem::not_found(format!("{slack} is not linked")))
            }
        }
        other => Err(Problem::not_found(format!("no route {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, ts: &str, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{ts}:{body}").as_bytes());
        format!(
            "v0={}",
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    }

    #[test]
    fn one_workspace_and_optionally_some_channels() {
        let mut slack = shared::config::SlackConfig {
            team_id: Some("T1".into()),
            ..Default::default()
        };
        assert_eq!(origin(&slack, "T1", "C9"), Origin::Allowed);
        assert_eq!(origin(&slack, "T2", "C9"), Origin::OtherWorkspace);
        assert_eq!(origin(&slack, "", "C9"), Origin::OtherWorkspace);
        slack.channel_ids = vec!["C1".into(), "C2".into()];
        assert_eq!(origin(&slack, "T1", "C2"), Origin::Allowed);
        assert_eq!(origin(&slack, "T1", "C9"), Origin::OtherChannel);
        assert_eq!(origin(&slack, "T2", "C1"), Origin::OtherWorkspace);
        // No workspace configured: nothing is accepted (the configuration requires one).
        slack.team_id = None;
        assert_eq!(origin(&slack, "T1", "C1"), Origin::OtherWorkspace);
    }

    #[test]
    fn signatures() {
        let body = "token=x&user_id=U1&text=list";
        let good = sign("s3cret", "1000", body);
        assert_eq!(
            verify_signature(b"s3cret", "1000", body.as_bytes(), &good, 1100),
            Ok(1000)
        );
        assert!(
            verify_signature(b"other", "1000", body.as_bytes(), &good, 1100).is_err(),
            "wrong secret"
        );
        assert!(
            verify_signature(b"s3cret", "1000", b"tampered", &good, 1100).is_err(),
            "tampered body"
        );
        assert!(
            verify_signature(b"s3cret", "1000", body.as_bytes(), &good, 1000 + MAX_AGE_SECONDS + 1).is_err(),
            "stale"
        );
        assert!(verify_signature(b"s3cret", "1000", body.as_bytes(), "v1=00", 1100).is_err());
        assert!(verify_signature(b"s3cret", "abc", body.as_bytes(), &good, 1100).is_err());
    }
}
