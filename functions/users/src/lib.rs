//! The `users` function: IAM users the broker provisions in registered accounts (admins only).
//!
//! Thin by design: parse into domain values (`dto`), call `shared::services::users`, map the
//! result. Used by `main.rs` in Lambda and by the local runner.

pub mod dto;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::auth::Principal;
use shared::authz::Action;
use shared::domain::{AccountId, IamUserName};
use shared::http::idempotency::idempotent;
use shared::http::{Handled, Problem, json, json_body, page_request, path_param, require, serve};

use dto::{ImportOut, ProvisionIn, UserOut, UserPage};

/// Serves one API Gateway request. Never fails: every error is a problem+json response.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    serve(&app.auth, req, |principal, route| async move {
        route_request(app, &principal, &route, req).await
    })
    .await
}

fn account_id(req: &Request) -> Result<AccountId, Problem> {
    let raw = path_param(req, "id").unwrap_or_default();
    AccountId::parse(&raw).map_err(|_| Problem::not_found(format!("no account {raw}")))
}

/// Releases the binding of an e-mail to a sign-in (issuer and subject), so that a person whose
/// address changed, or a new owner of an address, can sign in with it (see `shared::auth`).
async fn release_identity(app: &App, req: &Request) -> Handled {
    let raw = path_param(req, "email").unwrap_or_default();
    let email = shared::domain::Email::parse(&raw).map_err(|e| Problem::validation(e.under("email")))?;
    match app.identities.unbind(&email).await {
        Ok(true) => Ok(shared::http::no_content()),
        Ok(false) => Err(Problem::not_found(format!("{email} is bound to no sign-in"))),
        Err(e) => {
            tracing::error!(cause = %e, "releasing an identity failed");
            Err(Problem::unavailable())
        }
    }
}

fn user_name(req: &Request) -> Result<IamUserName, Problem> {
    let raw = path_param(req, "name").unwrap_or_default();
    IamUserName::parse(&raw).map_err(|_| Problem::not_found(format!("no user {raw}")))
}

async fn route_request(app: &App, principal: &Principal, route: &str, req: &Request) -> Handled {
    require(principal, Action::ManageUsers)?;
    if route == "DELETE /identities/{email}" {
        return release_identity(app, req).await;
    }
    let account = account_id(req)?;
    match route {
        "POST /accounts/{id}/users" => {
            let spec = json_body::<ProvisionIn>(req)?.parse().map_err(Problem::validation)?;
            idempotent(&*app.idempotency, None, app.clock.now(), principal, req, || async {
                let user = app.users.provision(&account, spec).await?;
                let mut resp = json(StatusCode::CREATED, &UserOut::new(&user));
                let location = format!("/accounts/{account}/users/{}", user.user_name);
                resp.headers_mut()
                    .insert(http::header::LOCATION, location.parse().expect("names are header-safe"));
                Ok(resp)
            })
            .await
        }
        "GET /accounts/{id}/users" => {
            let page = app.users.list(&account, &page_request(req)?).await?;
            Ok(json(
                StatusCode::OK,
                &UserPage {
                    items: page.items.iter().map(UserOut::new).collect(),
                    next_cursor: page.next_cursor,
                },
            ))
        }
        "GET /accounts/{id}/users/{name}" => {
            let user = app.users.get(&account, &user_name(req)?).await?;
            let acct = app.accounts.get(&account).await?;
            let jit = app.accounts.jit_settings(&account).await?;
            Ok(json(
                StatusCode::OK,
                &UserOut::new(&user).with_guide(shared::domain::iam_policies::role_guides(&acct, &user, &jit)),
            ))
        }
        "DELETE /accounts/{id}/users/{name}" => {
            let user = app.users.deprovision(&account, &user_name(req)?).await?;
            Ok(json(StatusCode::OK, &UserOut::new(&user)))
        }
        "POST /accounts/{id}/users/{name}/credentials" => {
            let name = user_name(req)?;
            idempotent(&*app.idempotency, None, app.clock.now(), principal, req, || async {
                let user = app.users.rotate_credential(&account, &name).await?;
                Ok(json(StatusCode::OK, &UserOut::new(&user)))
            })
            .await
        }
        "POST /accounts/{id}/user-imports" => {
            let report = app.users.import(&account).await?;
            Ok(json(StatusCode::OK, &ImportOut::from(&report)))
        }
        other => Err(Problem::not_found(format!("no route {other}"))),
    }
}
