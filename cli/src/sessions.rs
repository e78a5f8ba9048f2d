//! Sessions from the command line: start (waiting for approval where it is needed, `approval`),
//! extend, list, show, end, the log, shell sessions' transcripts, and the console; how granted
//! credentials are printed. The AWS CLI's `credential_process` is in `credential_process`, `cib
//! shell` in `shell`; ending a session clears its cache.

use serde_json::{Value, json};

use crate::approval::{self, wait_timeout};
use crate::args::{JitArgs, Sessions, WaitArgs};
use crate::cache::Cache;
use crate::client::{Client, Failure, exit};
use crate::output::{self, print};
use crate::{progress, seconds, shell};

const SESSION_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("TYPE", "/type"),
    ("AWS ACCOUNT", "/aws_account_id"),
    ("ROLE", "/role_arn"),
    ("STATUS", "/status"),
    ("EXPIRES", "/expires_at"),
    ("REASON", "/reason"),
];
/// A shell session's Session Manager sessions (`ssm_sessions`).
const SSM_SESSION_COLUMNS: &[(&str, &str)] = &[
    ("SSM SESSION", "/id"),
    ("TARGET", "/target"),
    ("STARTED", "/started_at"),
    ("ENDED", "/ended_at"),
    ("TRANSCRIPT", "/transcript"),
];

/// Starts a JIT session for `cib console` and `cib credential-process`, waiting for approval
/// where it is needed: what `POST /sessions` answers with 201.
pub(crate) async fn start_jit(api: &Client, jit: &JitArgs) -> Result<Value, Failure> {
    let timeout = wait_timeout(&jit.wait_timeout)?;
    let body = json!({ "account_id": jit.account, "type": "jit", "role_arn": jit.role, "duration_seconds": seconds(&jit.duration)?, "reason": jit.reason });
    match api.call_status("POST", "/sessions", Some(body)).await? {
        (202, reply) => approval::await_start(api, &reply["session"], timeout).await,
        (_, started) => Ok(started),
    }
}

/// What a grant hands out, once: a 201's `{session, credentials?, console_url?, console?, shell?}`,
/// or the same read back after approval (`approval::as_started`). Never anywhere but standard
/// output.
pub(crate) fn print_started(started: &Value, json: bool) {
    if json {
        print(started, true, &[]);
        return;
    }
    output::table(&[&started["session"]], SESSION_COLUMNS);
    if let Some(c) = started.get("credentials").filter(|c| c.is_object()) {
        println!(
            "\nexport AWS_ACCESS_KEY_ID={}",
            c["access_key_id"].as_str().unwrap_or("")
        );
        println!(
            "export AWS_SECRET_ACCESS_KEY={}",
            c["secret_access_key"].as_str().unwrap_or("")
        );
        println!("export AWS_SESSION_TOKEN={}", c["session_token"].as_str().unwrap_or(""));
        if let Some(s) = started.get("shell").filter(|s| s.is_object()) {
            // A shell session's: where it goes, and how to open it with the AWS CLI.
            println!("export AWS_REGION={}", s["region"].as_str().unwrap_or(""));
            if let Some(command) = shell::command(s) {
                println!("\n{command}");
            }
        }
        if let Some(link) = started["console_url"].as_str() {
            println!("\nConsole: {link}");
        }
    }
    if let Some(c) = started.get("console").filter(|c| c.is_object()) {
        println!(
            "\nSign in at {}\nuser: {}\npassword: {}",
            c["signin_url"].as_str().unwrap_or(""),
            c["user_name"].as_str().unwrap_or(""),
            c["password"].as_str().unwrap_or("")
        );
    }
}

/// `--no-wait`: the request left waiting, and how to check on it.
fn print_awaiting(reply: &Value, json: bool) {
    if json {
        print(reply, true, &[]);
        return;
    }
    let session = &reply["session"];
    output::table(&[session], SESSION_COLUMNS);
    let id = session["id"].as_str().unwrap_or("?");
    println!(
        "\n{}\ncheck with `cib sessions show {id}`: once approved, it prints the credentials (once); \
         `cib requests cancel {id}` withdraws the request",
        approval::awaiting(session).unwrap_or_else(|| "waiting for approval".into())
    );
}

/// A 202's request: left waiting (`--no-wait`), or waited for and printed as a 201 would be.
async fn granted_or_awaiting(
    api: &Client,
    (status, reply): (u16, Value),
    wait: &WaitArgs,
    json: bool,
    await_extension: bool,
) -> Result<(), Failure> {
    if status != 202 {
        print_started(&reply, json);
        return Ok(());
    }
    if wait.no_wait {
        print_awaiting(&reply, json);
        return Ok(());
    }
    let timeout = wait_timeout(&wait.wait_timeout)?;
    let started = if await_extension {
        approval::await_extension(api, &reply["session"], timeout).await?
    } else {
        approval::await_start(api, &reply["session"], timeout).await?
    };
    print_started(&started, json);
    Ok(())
}

pub(crate) async fn sessions(api: &Client, cmd: Sessions, json: bool) -> Result<(), Failure> {
    match cmd {
        Sessions::Start {
            account,
            role,
            console,
            duration,
            reason,
            break_glass,
            wait,
        } => {
            let mut body = match (role, console) {
                (Some(role), false) => {
                    json!({ "account_id": account, "type": "jit", "role_arn": role, "duration_seconds": seconds(&duration)?, "reason": reason })
                }
                (None, true) => {
                    json!({ "account_id": account, "type": "console", "duration_seconds": seconds(&duration)?, "reason": reason })
                }
                _ => return Err(Failure::usage("give --role (JIT) or --console")),
            };
            if break_glass {
                body["break_glass"] = json!(true);
            }
            progress("starting the session…");
            let answer = api.call_status("POST", "/sessions", Some(body)).await?;
            granted_or_awaiting(api, answer, &wait, json, false).await?;
        }
        Sessions::Extend {
            id,
            duration,
            reason,
            wait,
        } => {
            let body = json!({ "duration_seconds": seconds(&duration)?, "reason": reason });
            progress("extending the session…");
            let answer = api
                .call_status("POST", &format!("/sessions/{id}/extensions"), Some(body))
                .await?;
            granted_or_awaiting(api, answer, &wait, json, true).await?;
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
        Sessions::Show { id } => {
            let session = api.call("GET", &format!("/sessions/{id}"), None).await?;
            if session["granted"].is_object() {
                // Approved since it was asked: the credentials, handed out this once.
                print_started(&approval::as_started(&session), json);
            } else {
                print(&session, json, SESSION_COLUMNS);
                if let Some(line) = approval::awaiting(&session).filter(|_| !json) {
                    println!("\n{line}");
                }
                if !json && let Some(ssm) = session["ssm_sessions"].as_array().filter(|s| !s.is_empty()) {
                    let rows: Vec<&Value> = ssm.iter().collect();
                    println!();
                    output::table(&rows, SSM_SESSION_COLUMNS);
                    println!("\n`cib sessions transcript {id} <SSM SESSION>` prints one's transcript");
                }
            }
        }
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
                        return Err(Failure::new(
                            exit::REFUSED,
                            format!("the log does NOT verify: {}", log["problem"].as_str().unwrap_or("?")),
                        ));
                    }
                }
            }
        }
        Sessions::Transcript { id, ssm_session_id } => shell::transcript(api, &id, &ssm_session_id, json).await?,
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
