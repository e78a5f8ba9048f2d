//! Registered AWS accounts and their JIT settings (admins): `cib accounts …`, `cib jit …`.

use serde_json::{Value, json};

use crate::args::{Accounts, Jit};
use crate::client::{Client, Failure};
use crate::output::print;
use crate::{progress, read_stdin};

const ACCOUNT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("NAME", "/name"),
    ("AWS ACCOUNT", "/aws_account_id"),
    ("REGION", "/default_region"),
    ("CREDENTIALS", "/credentials/type"),
];
const JIT_COLUMNS: &[(&str, &str)] = &[
    ("ACTIVE", "/active"),
    ("JIT", "/jit_enabled"),
    ("MAX SECONDS", "/max_duration_seconds"),
    ("ROLES", "/allowed_role_arns"),
];

pub(crate) async fn accounts(api: &Client, cmd: Accounts, json: bool) -> Result<(), Failure> {
    match cmd {
        Accounts::List { cursor } => {
            let path = match cursor {
                Some(c) => format!("/accounts?cursor={c}"),
                None => "/accounts".into(),
            };
            print(&api.call("GET", &path, None).await?, json, ACCOUNT_COLUMNS)
        }
        Accounts::Get { id } => print(
            &api.call("GET", &format!("/accounts/{id}"), None).await?,
            json,
            ACCOUNT_COLUMNS,
        ),
        Accounts::ExternalId => {
            let issued = api.call("POST", "/accounts/external-ids", None).await?;
            if json {
                println!("{issued}");
            } else {
                println!("ExternalId: {}", issued["external_id"].as_str().unwrap_or_default());
                println!(
                    "Register within 7 days (until {}).",
                    issued["expires_at"].as_str().unwrap_or_default()
                );
                let trust = issued.get("trust_policy").unwrap_or(&issued["trust_condition"]);
                println!(
                    "The role's trust policy:\n{}",
                    serde_json::to_string_pretty(trust).unwrap_or_default()
                );
            }
        }
        Accounts::Register {
            name,
            region,
            access_key_id,
            role_arn,
            external_id,
        } => {
            let credentials = match (access_key_id, role_arn, external_id) {
                (Some(key), None, None) => {
                    // The secret never goes on the command line (shell history, process lists).
                    let secret = match std::env::var("CIB_SECRET_ACCESS_KEY") {
                        Ok(s) if !s.is_empty() => s,
                        _ => read_stdin("secret access key")?,
                    };
                    json!({ "type": "access_key", "access_key_id": key, "secret_access_key": secret })
                }
                (None, Some(role), Some(ext)) => json!({ "type": "assume_role", "role_arn": role, "external_id": ext }),
                _ => return Err(Failure::usage("give --access-key-id, or --role-arn with --external-id")),
            };
            progress("checking the credentials with AWS…");
            let body = json!({ "name": name, "default_region": region, "credentials": credentials });
            print(&api.call("POST", "/accounts", Some(body)).await?, json, ACCOUNT_COLUMNS)
        }
        Accounts::Update { id, name, region } => {
            let body = json!({ "name": name, "default_region": region });
            let body: Value = body
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<serde_json::Map<_, _>>()
                .into();
            print(
                &api.call("PATCH", &format!("/accounts/{id}"), Some(body)).await?,
                json,
                ACCOUNT_COLUMNS,
            )
        }
        Accounts::Delete { id } => {
            api.call("DELETE", &format!("/accounts/{id}"), None).await?;
        }
    }
    Ok(())
}

pub(crate) async fn jit(api: &Client, cmd: Jit, json: bool) -> Result<(), Failure> {
    let value = match cmd {
        Jit::Get { account } => api.call("GET", &format!("/accounts/{account}/jit"), None).await?,
        Jit::Set {
            account,
            max_duration,
            roles,
            description,
            disabled,
            inactive,
        } => {
            let body = json!({ "active": !inactive, "jit_enabled": !disabled, "max_duration_seconds": max_duration, "allowed_role_arns": roles, "description": description });
            api.call("PUT", &format!("/accounts/{account}/jit"), Some(body)).await?
        }
    };
    print(&value, json, JIT_COLUMNS);
    Ok(())
}
