//! IAM users in a registered account (admins): `cib users …`.

use serde_json::json;

use crate::args::Users;
use crate::client::{Client, Failure};
use crate::output::print;
use crate::progress;

const USER_COLUMNS: &[(&str, &str)] = &[
    ("USER", "/user_name"),
    ("EMAIL", "/email"),
    ("STATUS", "/status"),
    ("CONSOLE", "/console_access"),
    ("KEY", "/credential/access_key_id"),
];

pub(crate) async fn users(api: &Client, cmd: Users, json: bool) -> Result<(), Failure> {
    let value = match cmd {
        Users::List { account } => api.call("GET", &format!("/accounts/{account}/users"), None).await?,
        Users::Get { account, name } => {
            api.call("GET", &format!("/accounts/{account}/users/{name}"), None)
                .await?
        }
        Users::Provision {
            account,
            email,
            user_name,
            console,
            credential,
            policies,
            groups,
        } => {
            progress("provisioning in AWS…");
            let body = json!({ "email": email, "user_name": user_name, "console_access": console, "credential": credential, "policy_arns": policies, "groups": groups });
            api.call("POST", &format!("/accounts/{account}/users"), Some(body))
                .await?
        }
        Users::Deprovision { account, name } => {
            api.call("DELETE", &format!("/accounts/{account}/users/{name}"), None)
                .await?
        }
        Users::Rotate { account, name } => {
            api.call("POST", &format!("/accounts/{account}/users/{name}/credentials"), None)
                .await?
        }
        Users::Import { account } => {
            let report = api
                .call("POST", &format!("/accounts/{account}/user-imports"), None)
                .await?;
            if !json {
                eprintln!(
                    "{} imported, {} already known",
                    report["imported"].as_array().map_or(0, Vec::len),
                    report["already_known"]
                );
            }
            json!({ "items": report["imported"] })
        }
    };
    print(&value, json, USER_COLUMNS);
    Ok(())
}
