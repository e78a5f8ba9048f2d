//! Access groups and their members (admins): `cib groups …`, `cib members …`.

use serde_json::json;

use crate::args::{Groups, Members};
use crate::client::{Client, Failure};
use crate::output::print;

const GROUP_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("NAME", "/name"),
    ("ACCOUNTS", "/accounts"),
    ("CONSOLE", "/permissions/start_sessions"),
    ("JIT", "/permissions/start_jit_sessions"),
];
const MEMBER_COLUMNS: &[(&str, &str)] = &[("EMAIL", "/email"), ("ADDED", "/added_at")];

pub(crate) async fn groups(api: &Client, cmd: Groups, json: bool) -> Result<(), Failure> {
    match cmd {
        Groups::List => print(&api.call("GET", "/groups", None).await?, json, GROUP_COLUMNS),
        Groups::Get { id } => print(
            &api.call("GET", &format!("/groups/{id}"), None).await?,
            json,
            GROUP_COLUMNS,
        ),
        Groups::Create {
            name,
            description,
            accounts,
            all_accounts,
            console,
            jit,
        } => {
            let scope = if all_accounts { json!("all") } else { json!(accounts) };
            let body = json!({ "name": name, "description": description, "accounts": scope, "permissions": { "start_sessions": console, "start_jit_sessions": jit } });
            print(&api.call("POST", "/groups", Some(body)).await?, json, GROUP_COLUMNS)
        }
        Groups::Delete { id } => {
            api.call("DELETE", &format!("/groups/{id}"), None).await?;
        }
    }
    Ok(())
}

pub(crate) async fn members(api: &Client, cmd: Members, json: bool) -> Result<(), Failure> {
    match cmd {
        Members::List { group } => print(
            &api.call("GET", &format!("/groups/{group}/members"), None).await?,
            json,
            MEMBER_COLUMNS,
        ),
        Members::Add { group, email } => print(
            &api.call("PUT", &format!("/groups/{group}/members/{email}"), None)
                .await?,
            json,
            &[("GROUP", "/group_id"), ("EMAIL", "/email")],
        ),
        Members::Remove { group, email } => {
            api.call("DELETE", &format!("/groups/{group}/members/{email}"), None)
                .await?;
        }
    }
    Ok(())
}
