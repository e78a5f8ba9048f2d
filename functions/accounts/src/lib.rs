//! The `accounts` function: registering AWS accounts and their JIT and shell settings (admins
//! only).
//!
//! Thin by design: parse the request into domain values (`dto`), call
//! `shared::services::accounts`, map the result. Used by `main.rs` in Lambda and by the local
//! runner, so both serve the same code.

pub mod dto;
mod organizations;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::auth::Principal;
use shared::authz::Action;
use shared::domain::{AccountId, Invalid, JitSettings};
use shared::http::{
    Handled, Problem, date_param, json, json_body, no_content, page_request, path_param, require, serve,
};

use dto::{AccountOut, AccountPage, JitIn, JitOut, RegisterIn, ShellIn, UpdateIn};

/// Serves one API Gateway request. Never fails: every error is a problem+json response.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    serve(&app.auth, req, |principal, route| async move {
        route_request(app, &principal, &route, req).await
    })
    .await
}

async fn route_request(app: &App, principal: &Principal, route: &str, req: &Request) -> Handled {
    let action = match route {
        "GET /accounts" | "GET /accounts/{id}/evidence" => Action::ReadEvidence,
        _ => Action::ManageAccounts,
    };
    require(principal, action)?;
    let id = || {
        path_param(req, "id")
            .ok_or_else(|| Problem::not_found("no account id in the path"))
            .and_then(|raw| AccountId::parse(&raw).map_err(|_| Problem::not_found(format!("no account {raw}"))))
    };
    match route {
        "POST /accounts" => {
            let cmd = json_body::<RegisterIn>(req)?.parse().map_err(Problem::validation)?;
            let account = app.accounts.register(cmd).await?;
            let mut resp = json(StatusCode::CREATED, &AccountOut::from(&account));
            resp.headers_mut().insert(
                http::header::LOCATION,
                format!("/accounts/{}", account.id)
                    .parse()
                    .expect("ids are header-safe"),
            );
            Ok(resp)
        }
        "POST /accounts/external-ids" => {
            let issued = app.accounts.issue_external_id().await?;
            Ok(json(StatusCode::CREATED, &dto::external_id_out(&issued)))
        }
        "GET /accounts" => {
            let page = app.accounts.list(&page_request(req)?).await?;
            Ok(json(
                StatusCode::OK,
                &AccountPage {
                    items: page.items.iter().map(AccountOut::from).collect(),
                    next_cursor: page.next_cursor,
                },
            ))
        }
        "GET /accounts/{id}" => Ok(json(
            StatusCode::OK,
            &AccountOut::from(&app.accounts.get(&id()?).await?),
        )),
        "PATCH /accounts/{id}" => {
            let id = id()?;
            let change = json_body::<UpdateIn>(req)?.parse().map_err(Problem::validation)?;
            Ok(json(
                StatusCode::OK,
                &AccountOut::from(&app.accounts.update(&id, change).await?),
            ))
        }
        "DELETE /accounts/{id}" => {
            app.accounts.delete(&id()?).await?;
            Ok(no_content())
        }
        "GET /accounts/{id}/jit" => Ok(json(
            StatusCode::OK,
            &JitOut::from(&app.accounts.jit_settings(&id()?).await?),
        )),
        "PUT /accounts/{id}/jit" => {
            let id = id()?;
            let body = json_body::<JitIn>(req)?;
            let settings = app
                .accounts
                .set_jit_settings(&id, |owner| -> Result<JitSettings, Invalid> {
                    JitSettings::parse(
                        owner,
                        body.active,
                        body.description.as_deref(),
                        body.jit_enabled,
                        body.max_duration_seconds,
                        &body.allowed_role_arns,
                    )
                })
                .await?
                .map_err(Problem::validation)?;
            // Each provisioned user's inline policy follows the allowed roles, and the ways into
            // each role that bypass the broker are reported (and kept).
            let (sync, review) = app.users.follow_jit_settings(&id, &settings).await?;
            let mut settings = settings;
            // The shell role's review is kept with the shell settings.
            settings.trust_review = review
                .into_iter()
                .filter(|r| settings.allowed_roles.iter().any(|a| a.as_str() == r.role_arn))
                .collect();
            app.accounts.record_trust_review(&id, &settings).await?;
            let mut out = serde_json::to_value(JitOut::from(&settings)).expect("serializes");
            out["policy_sync"] = dto::policy_sync_out(&sync);
            Ok(json(StatusCode::OK, &out))
        }
        "GET /accounts/{id}/evidence" => {
            let id = id()?;
            // One day by default: today's (UTC), or the single day given.
            let today = app.clock.now().date();
            let to = date_param(req, "to")?;
            let from = date_param(req, "from")?.or(to).unwrap_or(today);
            let report = app.evidence.verify(&id, from, to.unwrap_or(from.max(today))).await?;
            Ok(json(StatusCode::OK, &report))
        }
        "GET /accounts/{id}/shell" => {
            let (settings, preferences) = app.shell.get(&id()?).await?;
            Ok(json(StatusCode::OK, &dto::shell_out(&settings, &preferences)))
        }
        "PUT /accounts/{id}/shell" => {
            let id = id()?;
            let input = json_body::<ShellIn>(req)?.into_input();
            let (mut settings, preferences) = app.shell.set(&id, input).await?.map_err(Problem::validation)?;
            // Provisioned users' policies follow the shell role as they follow JIT roles, and
            // the role's trust policy is reviewed the same way.
            let jit = app.accounts.jit_settings(&id).await?;
            let (sync, review) = app.users.follow_jit_settings(&id, &jit).await?;
            settings.trust_review = review
                .into_iter()
                .filter(|r| r.role_arn == settings.role.as_str())
                .collect();
            app.shell.save(&id, &settings).await?;
            let mut out = dto::shell_out(&settings, &preferences);
            out["policy_sync"] = dto::policy_sync_out(&sync);
            Ok(json(StatusCode::OK, &out))
        }
        other if other.contains(" /organizations") => organizations::route(app, other, req).await,
        other => Err(Problem::not_found(format!("no route {other}"))),
    }
}
