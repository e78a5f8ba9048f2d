//! `cib`: the Cloud IAM Broker command line. It talks only to the HTTP API.
//!
//! Exit codes: 0 success; 1 the API refused the request; 2 bad usage; 3 not authenticated or
//! not allowed; 4 the API or network failed (retry may help).

mod args;
mod client;
mod config;
mod output;
mod sessions;

use std::io::{IsTerminal, Read};

use args::{Accounts, Cli, Command, Groups, Jit, Members, Users};
use clap::Parser;
use serde_json::{Value, json};

use client::{Client, Failure, exit};
use output::print;
use sessions::{credential_process, sessions, start_jit};

/// `900`, `900s`, `30m`, `1h`, `1h30m`.
pub(crate) fn seconds(s: &str) -> Result<i64, Failure> {
    let bad = || Failure::usage(format!("{s} is not a duration (try 900, 30m or 1h)"));
    if let Ok(n) = s.parse() {
        return Ok(n);
    }
    let (mut total, mut number) = (0i64, String::new());
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
    }
    if number.is_empty() && total > 0 {
        Ok(total)
    } else {
        Err(bad())
    }
}

/// A progress note on standard error, for people (not for scripts or the AWS CLI).
pub(crate) fn progress(msg: &str) {
    if std::io::stderr().is_terminal() {
        eprintln!("{msg}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let code = match run(cli).await {
        Ok(()) => exit::OK,
        Err(f) => {
            eprintln!("cib: {}", f.message);
            f.code
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Configure { url, token } = &cli.command {
        let token = match token {
            Some(t) => t.clone(),
            None => read_stdin("token")?,
        };
        let path = config::save(
            cli.profile.as_deref(),
            config::Profile {
                url: Some(url.clone()),
                token: Some(token),
            },
        )
        .map_err(Failure::usage)?;
        eprintln!("saved to {}", path.display());
        return Ok(());
    }
    let (url, token) =
        config::resolve(cli.url.clone(), cli.token.clone(), cli.profile.as_deref()).map_err(Failure::usage)?;
    let api = Client::new(url.clone(), token);
    let json = cli.json;
    match cli.command {
        Command::Configure { .. } => unreachable!("handled above"),
        Command::Me => {
            let me = api.call("GET", "/me", None).await?;
            if json {
                print(&me, true, &[]);
            } else {
                println!(
                    "{} ({})",
                    me["email"].as_str().unwrap_or(""),
                    me["role"].as_str().unwrap_or("")
                );
                let accounts: Vec<&Value> = me["accounts"]
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                output::table(
                    &accounts,
                    &[
                        ("ACCOUNT", "/account_id"),
                        ("NAME", "/name"),
                        ("AWS", "/aws_account_id"),
                        ("CONSOLE", "/permissions/start_sessions"),
                        ("JIT", "/permissions/start_jit_sessions"),
                        ("IAM USER", "/iam_user/user_name"),
                    ],
                );
            }
        }
        Command::Accounts(cmd) => accounts(&api, cmd, json).await?,
        Command::Jit(Jit::Get { account }) => print(
            &api.call("GET", &format!("/accounts/{account}/jit"), None).await?,
            json,
            JIT_COLUMNS,
        ),
        Command::Jit(Jit::Set {
            account,
            max_duration,
            roles,
            description,
            disabled,
            inactive,
        }) => {
            let body = json!({ "active": !inactive, "jit_enabled": !disabled, "max_duration_seconds": max_duration, "allowed_role_arns": roles, "description": description });
            print(
                &api.call("PUT", &format!("/accounts/{account}/jit"), Some(body)).await?,
                json,
                JIT_COLUMNS,
            )
        }
        Command::Users(cmd) => users(&api, cmd, json).await?,
        Command::Groups(cmd) => groups(&api, cmd, json).await?,
        Command::Members(Members::List { group }) => print(
            &api.call("GET", &format!("/groups/{group}/members"), None).await?,
            json,
            &[("EMAIL", "/email"), ("ADDED", "/added_at")],
        ),
        Command::Members(Members::Add { group, email }) => print(
            &api.call("PUT", &format!("/groups/{group}/members/{email}"), None)
                .await?,
            json,
            &[("GROUP", "/group_id"), ("EMAIL", "/email")],
        ),
        Command::Members(Members::Remove { group, email }) => {
            api.call("DELETE", &format!("/groups/{group}/members/{email}"), None)
                .await?;
        }
        Command::Sessions(cmd) => sessions(&api, cmd, json).await?,
        Command::Console { jit, open } => {
            progress("starting a JIT session…");
            let started = start_jit(&api, &jit).await?;
            let link = started["console_url"].as_str().unwrap_or_default().to_string();
            if json {
                print(
                    &json!({ "session": started["session"], "console_url": link }),
                    true,
                    &[],
                );
            } else {
                println!("{link}");
            }
            if open && !opened(&link) {
                eprintln!("no browser found; open the URL above");
            }
        }
        Command::CredentialProcess { jit } => credential_process(&api, &url, &jit).await?,
    }
    Ok(())
}

fn read_stdin(what: &str) -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        eprint!("{what}: ");
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Failure::usage(format!("reading the {what}: {e}")))?;
    let s = s.trim().to_string();
    if s.is_empty() {
        Err(Failure::usage(format!("no {what} on standard input")))
    } else {
        Ok(s)
    }
}

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
const USER_COLUMNS: &[(&str, &str)] = &[
    ("USER", "/user_name"),
    ("EMAIL", "/email"),
    ("STATUS", "/status"),
    ("CONSOLE", "/console_access"),
    ("KEY", "/credential/access_key_id"),
];
const GROUP_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("NAME", "/name"),
    ("ACCOUNTS", "/accounts"),
    ("CONSOLE", "/permissions/start_sessions"),
    ("JIT", "/permissions/start_jit_sessions"),
];
pub(crate) const SESSION_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("TYPE", "/type"),
    ("AWS ACCOUNT", "/aws_account_id"),
    ("ROLE", "/role_arn"),
    ("STATUS", "/status"),
    ("EXPIRES", "/expires_at"),
    ("REASON", "/reason"),
];

async fn accounts(api: &Client, cmd: Accounts, json: bool) -> Result<(), Failure> {
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

async fn users(api: &Client, cmd: Users, json: bool) -> Result<(), Failure> {
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

async fn groups(api: &Client, cmd: Groups, json: bool) -> Result<(), Failure> {
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

/// Opens a URL with the desktop's opener, if there is one.
fn opened(url: &str) -> bool {
    ["xdg-open", "open"].iter().any(|cmd| {
        std::process::Command::new(cmd)
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}
