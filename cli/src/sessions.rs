//! Sessions from the command line: start, list, end, the log, the console, and the AWS CLI's
//! `credential_process` with its private cache.

use std::time::Duration;

use serde_json::{Value, json};

use crate::args::{JitArgs, Sessions};
use crate::client::{Client, Failure, exit};
use crate::output::{self, print};
use crate::{SESSION_COLUMNS, config, progress, seconds};

pub(crate) async fn start_jit(api: &Client, jit: &JitArgs) -> Result<Value, Failure> {
    let body = json!({ "account_id": jit.account, "type": "jit", "role_arn": jit.role, "duration_seconds": seconds(&jit.duration)?, "reason": jit.reason });
    api.call("POST", "/sessions", Some(body)).await
}

pub(crate) async fn sessions(api: &Client, cmd: Sessions, json: bool) -> Result<(), Failure> {
    match cmd {
        Sessions::Start {
            account,
            role,
            console,
            duration,
            reason,
        } => {
            progress("starting the session…");
            let body = match (role, console) {
                (Some(role), false) => {
                    json!({ "account_id": account, "type": "jit", "role_arn": role, "duration_seconds": seconds(&duration)?, "reason": reason })
                }
                (None, true) => {
                    json!({ "account_id": account, "type": "console", "duration_seconds": seconds(&duration)?, "reason": reason })
                }
                _ => return Err(Failure::usage("give --role (JIT) or --console")),
            };
            let started = api.call("POST", "/sessions", Some(body)).await?;
            if json {
                print(&started, true, &[]);
            } else {
                output::table(&[&started["session"]], SESSION_COLUMNS);
                if let Some(c) = started.get("credentials") {
                    println!(
                        "\nexport AWS_ACCESS_KEY_ID={}",
                        c["access_key_id"].as_str().unwrap_or("")
                    );
                    println!(
                        "export AWS_SECRET_ACCESS_KEY={}",
                        c["secret_access_key"].as_str().unwrap_or("")
                    );
                    println!("export AWS_SESSION_TOKEN={}", c["session_token"].as_str().unwrap_or(""));
                    println!("\nConsole: {}", started["console_url"].as_str().unwrap_or(""));
                }
                if let Some(c) = started.get("console") {
                    println!(
                        "\nSign in at {}\nuser: {}\npassword: {}",
                        c["signin_url"].as_str().unwrap_or(""),
                        c["user_name"].as_str().unwrap_or(""),
                        c["password"].as_str().unwrap_or("")
                    );
                }
            }
        }
        Sessions::List { status, account } => {
            let mut query = Vec::new();
            if let Some(s) = status {
                query.push(format!("status={s}"));
            }
            if let Some(a) = account {
                query.push(format!("account_id={a}"));
            }
            let path = if query.is_empty() {
                "/sessions".into()
            } else {
                format!("/sessions?{}", query.join("&"))
            };
            print(&api.call("GET", &path, None).await?, json, SESSION_COLUMNS)
        }
        Sessions::Show { id } => print(
            &api.call("GET", &format!("/sessions/{id}"), None).await?,
            json,
            SESSION_COLUMNS,
        ),
        Sessions::End { id, reason } => {
            progress("revoking access…");
            print(
                &api.call("DELETE", &format!("/sessions/{id}"), Some(json!({ "reason": reason })))
                    .await?,
                json,
                SESSION_COLUMNS,
            )
        }
        Sessions::Log { id } => {
            let log = api.call("GET", &format!("/sessions/{id}/log"), None).await?;
            if json {
                print(&log, true, &[]);
            } else {
                let events: Vec<&Value> = log["events"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
                output::table(
                    &events,
                    &[
                        ("AT", "/at"),
                        ("EVENT", "/type"),
                        ("BY", "/requested_by"),
                        ("WHY", "/reason"),
                    ],
                );
                match log["verified"].as_bool() {
                    Some(true) => {
                        println!("\nchain verified: every event links to the one before, up to the recorded head")
                    }
                    _ => {
                        return Err(Failure {
                            code: exit::REFUSED,
                            message: format!("the log does NOT verify: {}", log["problem"].as_str().unwrap_or("?")),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// The AWS CLI's credential_process: JSON on standard output, nothing else. A live session's
/// credentials are reused from a private cache until five minutes before they expire.
pub(crate) async fn credential_process(api: &Client, url: &str, jit: &JitArgs) -> Result<(), Failure> {
    use sha2::Digest;
    let duration = seconds(&jit.duration)?;
    let key: String = sha2::Sha256::digest(format!("{url}\n{}\n{}\n{duration}", jit.account, jit.role))
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let cache = config::cache_dir().map(|d| d.join("credentials").join(format!("{key}.json")));
    let now = time::OffsetDateTime::now_utc();
    if let Some(path) = &cache
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(cached) = serde_json::from_str::<Value>(&text)
        && let Some(exp) = cached["Expiration"]
            .as_str()
            .and_then(|e| time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339).ok())
        && exp - now > Duration::from_secs(300)
    {
        println!("{cached}");
        return Ok(());
    }
    let started = start_jit(api, jit).await?;
    let c = &started["credentials"];
    let out = json!({
        "Version": 1,
        "AccessKeyId": c["access_key_id"],
        "SecretAccessKey": c["secret_access_key"],
        "SessionToken": c["session_token"],
        "Expiration": c["expiration"],
    });
    if let Some(path) = &cache {
        // Like the AWS CLI's own cache: private to the user.
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = config::write_private(path, out.to_string().as_bytes()) {
            eprintln!("cib: not caching: {e}");
        }
    }
    println!("{out}");
    Ok(())
}
