//! The `groups` function: access groups and their members (admins), and `GET /me` (anyone
//! with a platform identity).
//!
//! Thin by design: parse into domain values (`dto`), call `shared::services::groups`, map the
//! result. Used by `main.rs` in Lambda and by the local runner.

pub mod dto;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::auth::Principal;
use shared::authz::{self, Action, Target};
use shared::domain::{Email, GroupId};
use shared::http::{Handled, Problem, json, json_body, no_content, page_request, path_param, require, serve};

use dto::{AccountAccessOut, GroupIn, GroupOut, GroupPage, GroupPatch, GroupRef, MeOut, MemberOut, MemberPage};

/// Serves one API Gateway request. Never fails: every error is a problem+json response.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    serve(&app.auth, req, |principal, route| async move {
        route_request(app, &principal, &route, req).await
    })
    .await
}

fn group_id(req: &Request) -> Result<GroupId, Problem> {
    let raw = path_param(req, "id").unwrap_or_default();
    GroupId::parse(&raw).map_err(|_| Problem::not_found(format!("no group {raw}")))
}

fn member(req: &Request) -> Result<Email, Problem> {
    Email::parse(&path_param(req, "email").unwrap_or_default()).map_err(Problem::validation)
}

async fn route_request(app: &App, principal: &Principal, route: &str, req: &Request) -> Handled {
    if route == "GET /me" {
        return me(app, principal).await;
    }
    require(principal, Action::ManageGroups)?;
    match route {
        "POST /groups" => {
            let new = json_body::<GroupIn>(req)?.parse().map_err(Problem::validation)?;
            let group = app.groups.create(new).await?;
            let mut resp = json(StatusCode::CREATED, &GroupOut::from(&group));
            resp.headers_mut().insert(
                http::header::LOCATION,
                format!("/groups/{}", group.id).parse().expect("ids are header-safe"),
            );
            Ok(resp)
        }
        "GET /groups" => {
            let page = app.groups.list(&page_request(req)?).await?;
            Ok(json(
                StatusCode::OK,
                &GroupPage {
                    items: page.items.iter().map(GroupOut::from).collect(),
                    next_cursor: page.next_cursor,
                },
            ))
        }
        "GET /groups/{id}" => Ok(json(
            StatusCode::OK,
            &GroupOut::from(&app.groups.get(&group_id(req)?).await?),
        )),
        "PATCH /groups/{id}" => {
            let id = group_id(req)?;
            let change = json_body::<GroupPatch>(req)?.parse().map_err(Problem::validation)?;
            Ok(json(
                StatusCode::OK,
                &GroupOut::from(&app.groups.update(&id, change).await?),
            ))
        }
        "DELETE /groups/{id}" => {
            app.groups.delete(&group_id(req)?).await?;
            Ok(no_content())
        }
        "GET /groups/{id}/members" => {
            let page = app.groups.members(&group_id(req)?, &page_request(req)?).await?;
            Ok(json(
                StatusCode::OK,
                &MemberPage {
                    items: page.items.iter().map(MemberOut::from).collect(),
                    next_cursor: page.next_cursor,
                },
            ))
        }
        "PUT /groups/{id}/members/{email}" => {
            let (id, email) = (group_id(req)?, member(req)?);
            let added = app.groups.add_member(&id, &email).await?;
            let status = if added { StatusCode::CREATED } else { StatusCode::OK };
            Ok(json(
                status,
                &serde_json::json!({ "group_id": id.to_string(), "email": email.to_string() }),
            ))
        }
        "DELETE /groups/{id}/members/{email}" => {
            let (id, email) = (group_id(req)?, member(req)?);
            if app.groups.remove_member(&id, &email).await? {
                Ok(no_content())
            } else {
                Err(Problem::not_found(format!("{email} is not a member of group {id}")))
            }
        }
        other => Err(Problem::not_found(format!("no route {other}"))),
    }
}

async fn me(app: &App, principal: &Principal) -> Handled {
    let user = authz::acting_user(principal, None, Action::ViewSelf)?;
    let actor = authz::decide(principal, Action::ViewSelf, user.as_ref(), Target::default(), &[])?;
    let email = actor.user.expect("ViewSelf is only allowed with an e-mail");
    // Nothing is offered (nor read for it) to whom authorization refuses every start: auditors.
    let starts = authz::acting_user(principal, None, Action::StartSession(shared::domain::SessionKind::Jit)).is_ok();
    let (groups, accounts) = app.groups.effective(&email, starts).await?;
    Ok(json(
        StatusCode::OK,
        &MeOut {
            subject: principal.subject.clone(),
            email: email.to_string(),
            role: principal.role,
            groups: groups
                .iter()
                .map(|g| GroupRef {
                    id: g.id.to_string(),
                    name: g.name.as_str().into(),
                })
                .collect(),
            accounts: accounts.iter().map(AccountAccessOut::from).collect(),
        },
    ))
}
