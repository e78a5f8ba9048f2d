//! The `sessions` function: start, list, show and end JIT, console, shell and Identity Center
//! sessions (and list the shell targets an account's settings reach), and read
//! a session's verified log, its shell transcripts and its activity (the calls made with it). Users act for themselves, admins for anyone, bots on behalf of a
//! named user (`on_behalf_of`).
//!
//! Thin by design: parse into domain values (`dto`), call `shared::services::sessions`, map
//! the result. Used by `main.rs` in Lambda and by the local runner.

pub mod dto;

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::App;
use shared::auth::Principal;
use shared::domain::{
    AccountId, Email, Outcome, Region, SessionId, SessionStatus, parse_note, parse_optional_reason, parse_reason,
};
use shared::http::idempotency::idempotent;
use shared::http::{Handled, Problem, json, json_body, page_request, path_param, serve};
use shared::ports::SessionFilter;
use shared::services::sessions::{Extended, Started};

use dto::{DecisionIn, DenyIn, EndIn, ExtendIn, ReviewIn, SessionOut, SessionPage, StartIn, started};

/// Serves one API Gateway request. Never fails: every error is a problem+json response.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    serve(&app.auth, req, |principal, route| async move {
        route_request(app, &principal, &route, req).await
    })
    .await
}

fn session_id(req: &Request) -> Result<SessionId, Problem> {
    let raw = path_param(req, "id").unwrap_or_default();
    SessionId::parse(&raw).map_err(|_| Problem::not_found(format!("no session {raw}")))
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_string)
}

/// `?on_behalf_of=` (bots, on reads).
fn on_behalf_of(req: &Request) -> Result<Option<Email>, Problem> {
    query(req, "on_behalf_of")
        .map(|e| Email::parse(&e).map_err(|e| Problem::validation(e.under("on_behalf_of"))))
        .transpose()
}

/// `on_behalf_of` in a body (bots, on writes).
fn body_on_behalf_of(raw: Option<String>) -> Result<Option<Email>, Problem> {
    raw.map(|e| Email::parse(&e).map_err(|e| Problem::validation(e.under("on_behalf_of"))))
        .transpose()
}

async fn route_request(app: &App, principal: &Principal, route: &str, req: &Request) -> Handled {
    match route {
        "POST /sessions" => {
            let start = json_body::<StartIn>(req)?.parse().map_err(Problem::validation)?;
            // The response holds one-time credentials: a replay must return the same ones, so
            // the remembered answer is sealed.
            idempotent(
                &*app.idempotency,
                Some(&*app.sealer),
                app.clock.now(),
                principal,
                req,
                || async {
                    let (mut resp, id) = match app.sessions.start(principal, start).await? {
                        Started::Now(session, granted) => {
                            (json(StatusCode::CREATED, &started(&session, &granted)), session.id)
                        }
                        // Waiting for approval: the answer comes once, on the requester's GET.
                        Started::Pending(session) => (
                            json(
                                StatusCode::ACCEPTED,
                                &serde_json::json!({ "session": SessionOut::from(&session) }),
                            ),
                            session.id,
                        ),
                    };
                    resp.headers_mut().insert(
                        http::header::LOCATION,
                        format!("/sessions/{id}").parse().expect("ids are header-safe"),
                    );
                    Ok(resp)
                },
            )
            .await
        }
        "GET /sessions" => {
            let status = query(req, "status")
                .map(|s| {
                    SessionStatus::parse(&s).ok_or_else(|| {
                        Problem::bad_request(
                            "status must be pending, active, ending, ended, expired, denied, cancelled or lapsed",
                        )
                    })
                })
                .transpose()?;
            let account = query(req, "account_id")
                .map(|a| AccountId::parse(&a).map_err(|_| Problem::bad_request("account_id is not an account id")))
                .transpose()?;
            let filter = SessionFilter {
                account,
                status,
                ..Default::default()
            };
            let page = app
                .sessions
                .list(principal, on_behalf_of(req)?.as_ref(), filter, &page_request(req)?)
                .await?;
            Ok(json(
                StatusCode::OK,
                &SessionPage {
                    items: page.items.iter().map(SessionOut::from).collect(),
                    next_cursor: page.next_cursor,
                },
            ))
        }
        "GET /sessions/{id}" => {
            let (session, granted) = app
                .sessions
                .get_and_collect(principal, &session_id(req)?, on_behalf_of(req)?.as_ref())
                .await?;
            let mut out = serde_json::to_value(SessionOut::from(&session)).expect("serializable");
            if let Some(granted) = granted {
                // Once, for the requester, after the approval that started it.
                out["granted"] = serde_json::Value::Object(dto::granted_fields(&granted));
            }
            Ok(json(StatusCode::OK, &out))
        }
        "POST /sessions/{id}/approvals" => {
            let id = session_id(req)?;
            let body: DecisionIn = json_body(req)?;
            let reason = parse_optional_reason(body.reason.as_deref()).map_err(Problem::validation)?;
            let for_user = body_on_behalf_of(body.on_behalf_of)?;
            let session = app.sessions.approve(principal, &id, &reason, for_user.as_ref()).await?;
            Ok(json(StatusCode::OK, &SessionOut::from(&session)))
        }
        "POST /sessions/{id}/denials" => {
            let id = session_id(req)?;
            let body: DenyIn = json_body(req)?;
            let reason = parse_reason(&body.reason).map_err(Problem::validation)?;
            let for_user = body_on_behalf_of(body.on_behalf_of)?;
            let session = app
                .sessions
                .close_request(principal, &id, Outcome::Denied, &reason, for_user.as_ref())
                .await?;
            Ok(json(StatusCode::OK, &SessionOut::from(&session)))
        }
        "POST /sessions/{id}/cancel" => {
            let id = session_id(req)?;
            let body: DecisionIn = json_body(req)?;
            let reason = parse_optional_reason(body.reason.as_deref()).map_err(Problem::validation)?;
            let for_user = body_on_behalf_of(body.on_behalf_of)?;
            let session = app
                .sessions
                .close_request(principal, &id, Outcome::Cancelled, &reason, for_user.as_ref())
                .await?;
            Ok(json(StatusCode::OK, &SessionOut::from(&session)))
        }
        "POST /sessions/{id}/review" => {
            let id = session_id(req)?;
            let body: ReviewIn = json_body(req)?;
            let note = parse_note(&body.note).map_err(Problem::validation)?;
            let for_user = body_on_behalf_of(body.on_behalf_of)?;
            let session = app.sessions.review(principal, &id, &note, for_user.as_ref()).await?;
            Ok(json(StatusCode::OK, &SessionOut::from(&session)))
        }
        "POST /sessions/{id}/extensions" => {
            let id = session_id(req)?;
            let body: ExtendIn = json_body(req)?;
            let reason = parse_reason(&body.reason).map_err(Problem::validation)?;
            let for_user = body_on_behalf_of(body.on_behalf_of)?;
            // Like a start, the answer holds fresh credentials: a replay gets the same ones.
            idempotent(
                &*app.idempotency,
                Some(&*app.sealer),
                app.clock.now(),
                principal,
                req,
                || async {
                    Ok(
                        match app
                            .sessions
                            .extend(principal, &id, body.duration_seconds, &reason, for_user.as_ref())
                            .await?
                        {
                            Extended::Now(session, Some(granted)) => {
                                json(StatusCode::CREATED, &started(&session, &granted))
                            }
                            Extended::Now(session, None) => json(
                                StatusCode::CREATED,
                                &serde_json::json!({ "session": SessionOut::from(&session) }),
                            ),
                            Extended::Pending(session) => json(
                                StatusCode::ACCEPTED,
                                &serde_json::json!({ "session": SessionOut::from(&session) }),
                            ),
                        },
                    )
                },
            )
            .await
        }
        "GET /requests" | "GET /reviews" => {
            let page = page_request(req)?;
            let for_user = on_behalf_of(req)?;
            let page = if route == "GET /requests" {
                app.sessions.requests_for(principal, for_user.as_ref(), &page).await?
            } else {
                app.sessions.reviews_for(principal, for_user.as_ref(), &page).await?
            };
            Ok(json(
                StatusCode::OK,
                &SessionPage {
                    items: page.items.iter().map(SessionOut::from).collect(),
                    next_cursor: page.next_cursor,
                },
            ))
        }
        "DELETE /sessions/{id}" => {
            let id = session_id(req)?;
            let body: EndIn = json_body(req)?;
            let reason = parse_reason(&body.reason).map_err(Problem::validation)?;
            let for_user = body_on_behalf_of(body.on_behalf_of)?;
            let session = app.sessions.end(principal, &id, &reason, for_user.as_ref()).await?;
            Ok(json(StatusCode::OK, &SessionOut::from(&session)))
        }
        "GET /sessions/{id}/log" => {
            let (session, events, verified) = app
                .sessions
                .log(principal, &session_id(req)?, on_behalf_of(req)?.as_ref())
                .await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({
                    "session_id": session.id.to_string(),
                    "key": session.log_key,
                    "verified": verified.is_ok(),
                    "problem": verified.err(),
                    "events": events,
                }),
            ))
        }
        "GET /sessions/{id}/activity" => {
            let id = session_id(req)?;
            // An empty `region=` is refused like any other string that is no Region (the
            // contract's pattern), not read as "the account's default".
            let region = query(req, "region")
                .map(|r| {
                    Region::parse(&r)
                        .map_err(|_| Problem::bad_request("region must be an AWS region code such as eu-west-1"))
                })
                .transpose()?;
            let page = page_request(req)?;
            let a = app
                .sessions
                .activity(principal, &id, on_behalf_of(req)?.as_ref(), region, &page)
                .await?;
            Ok(json(StatusCode::OK, &dto::activity_out(&a)))
        }
        "GET /sessions/{id}/transcripts/{ssm_session_id}" => {
            let id = session_id(req)?;
            let ssm_id = path_param(req, "ssm_session_id").unwrap_or_default();
            let t = app
                .sessions
                .transcript(principal, &id, &ssm_id, on_behalf_of(req)?.as_ref())
                .await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({
                    "session_id": id.to_string(),
                    "ssm_session_id": ssm_id,
                    "location": t.location,
                    "truncated": t.truncated,
                    "content": t.content,
                    "recorded": t.recorded.as_ref().map(|r| serde_json::json!({
                        "at": r.at,
                        "sha256": r.sha256,
                        "bytes": r.bytes,
                    })),
                    "matches_log": t.matches_log,
                }),
            ))
        }
        "GET /accounts/{id}/shell/targets" => {
            let raw = path_param(req, "id").unwrap_or_default();
            let account = AccountId::parse(&raw).map_err(|_| Problem::not_found(format!("no account {raw}")))?;
            let targets = app.sessions.shell_targets(principal, &account).await?;
            Ok(json(StatusCode::OK, &targets))
        }
        other => Err(Problem::not_found(format!("no route {other}"))),
    }
}
