//! Sessions from the command line: start, list, end, the log, the console, and the AWS CLI's
//! `credential_process` with its private cache (`cache`), which ending a session clears.

use serde_json::{Value, json};

use crate::args::{JitArgs, Sessions};
use crate::cache::{self, Cache};
use crate::client::{Client, Failure, exit};
use crate::output::{self, print};
use crate::{progress, seconds};

const SESSION_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("TYPE", "/type"),
    ("AWS ACCOUNT", "/aws_account_id"),
    ("ROLE", "/role_arn"),
    ("STATUS", "/status"),
    ("EXPIRES", "/expires_at"),
    ("REASON", "/reason"),
];

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
            let ended = api
                .call("DELETE", &format!("/sessions/{id}"), Some(json!({ "reason": reason })))
                .await;
            // Whatever the API answered (ended now, or already), this session's credentials are
            // not handed to the AWS CLI again.
            if let Some(cache) = Cache::open()
                && let Err(e) = cache.forget_session(&id)
            {
                eprintln!("cib: cached credentials of {id} not dropped: {e}");
            }
            print(&ended?, json, SESSION_COLUMNS)
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

/// `cib console`: a JIT session's console sign-in URL, printed, and opened on request.
pub(crate) async fn console(api: &Client, jit: &JitArgs, open: bool, json: bool) -> Result<(), Failure> {
    progress("starting a JIT session…");
    let started = start_jit(api, jit).await?;
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

/// The AWS CLI's credential_process: JSON on standard output, nothing else. A live session's
/// credentials are reused from a private cache, kept apart per profile, API URL and caller (the
/// token's `iss` and `sub`), until five minutes before they expire.
pub(crate) async fn credential_process(
    api: &Client,
    profile: Option<&str>,
    url: &str,
    token: &str,
    jit: &JitArgs,
) -> Result<(), Failure> {
    let duration = seconds(&jit.duration)?;
    let key = cache::key(profile, url, token, &jit.account, &jit.role, duration);
    let cache = Cache::open();
    if let Some(cache) = &cache
        && let Some(cached) = cache.fresh(&key, time::OffsetDateTime::now_utc())
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
    if let Some(cache) = &cache {
        // An entry `cib sessions end` could not find by its session is not kept.
        let stored = match started["session"]["id"].as_str() {
            Some(session) => cache.store(&key, session, &out),
            None => Err("the API named no session".to_string()),
        };
        if let Err(e) = stored {
            eprintln!("cib: not caching: {e}");
        }
    }
    println!("{out}");
    Ok(())
}
