//! Sessions from the command line: start (waiting for approval where it is needed, `approval`),
//! extend, list, show, end, the log, shell sessions' transcripts, and the console; how granted
//! credentials are printed. The AWS CLI's `credential_process` is in `credential_process`, `cib
//! shell` in `shell`; ending a session clears its cache.

use std::path::{Path, PathBuf};
use std::process::Stdio;

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
    ("ACCESS", "/_access"),
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

/// Sessions as a table for people (with what each grants); the API's own JSON, untouched, for
/// scripts.
fn show(value: &Value, json: bool) {
    if json {
        print(value, true, &[]);
    } else {
        print(&output::with_access(value), false, SESSION_COLUMNS);
    }
}

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
    output::table(&[&output::with_access(&started["session"])], SESSION_COLUMNS);
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
    if let Some(ic) = started.get("identity_center").filter(|c| c.is_object()) {
        // No credential: the user signs in through the access portal, or the AWS CLI through it.
        let profile = ic["cli_profile"].as_str().unwrap_or("");
        let name = profile
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("[profile "))
            .and_then(|l| l.strip_suffix(']'))
            .unwrap_or("");
        println!("\nAccess portal: {}", ic["portal_url"].as_str().unwrap_or(""));
        println!("\nAWS CLI (add to ~/.aws/config, then `aws sso login --profile {name}`):\n{profile}");
        if let Some(outside) = ic["outside"].as_str() {
            println!("Note: {outside}");
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
    output::table(&[&output::with_access(session)], SESSION_COLUMNS);
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
            permission_set,
            duration,
            reason,
            break_glass,
            wait,
        } => {
            let mut body = match (role, console, permission_set) {
                (Some(role), false, None) => {
                    json!({ "account_id": account, "type": "jit", "role_arn": role, "duration_seconds": seconds(&duration)?, "reason": reason })
                }
                (None, true, None) => {
                    json!({ "account_id": account, "type": "console", "duration_seconds": seconds(&duration)?, "reason": reason })
                }
                (None, false, Some(set)) => {
                    json!({ "account_id": account, "type": "identity_center", "permission_set_arn": set, "duration_seconds": seconds(&duration)?, "reason": reason })
                }
                _ => {
                    return Err(Failure::usage(
                        "give --role (JIT), --console or --permission-set (Identity Center)",
                    ));
                }
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
            show(&api.call("GET", &path, None).await?, json)
        }
        Sessions::Show { id } => {
            let session = api.call("GET", &format!("/sessions/{id}"), None).await?;
            if session["granted"].is_object() {
                // Approved since it was asked: the credentials, handed out this once.
                print_started(&approval::as_started(&session), json);
            } else {
                show(&session, json);
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
            show(&ended?, json)
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
        Sessions::Transcript {
            id,
            ssm_session_id,
            raw,
        } => shell::transcript(api, &id, &ssm_session_id, raw, json).await?,
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

/// Opens a console sign-in URL with the desktop's opener, if there is one. Never the URL itself:
/// an opener's command line is in `ps` for every user of the machine, and the URL carries a
/// sign-in token. The opener gets a page that sends the browser on to it (`redirect_page`), which
/// only this user can read.
fn opened(url: &str) -> bool {
    if url.is_empty() {
        return false;
    }
    let page = match redirect_page(url) {
        Ok(page) => page,
        Err(e) => {
            // The error names no URL.
            eprintln!("cib: the page that opens the console was not written: {e}");
            return false;
        }
    };
    let opened = ["xdg-open", "open"].iter().any(|cmd| {
        std::process::Command::new(cmd)
            .arg(&page)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if opened {
        remove_later(&page);
    } else if let Some(dir) = page.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
    opened
}

/// A page that sends the browser on to `url` at once (a link too, should it not), with no
/// referrer; the URL HTML-escaped.
fn redirect(url: &str) -> String {
    let url = html_escape(url);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta http-equiv=\"refresh\" content=\"0; url={url}\"><title>AWS console</title></head>\n\
         <body><p><a href=\"{url}\">Sign in to the AWS console</a></p></body></html>\n"
    )
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes `redirect(url)` to `console.html` in a new folder under the temporary one: the folder
/// created here 0700 (never one that was there), the file 0600. Returns the file's path.
fn redirect_page(url: &str) -> std::io::Result<PathBuf> {
    use std::hash::BuildHasher;
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let mut folder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    folder.mode(0o700);
    let mut attempt = 0u32;
    let dir = loop {
        // A name nobody guesses ahead; one taken already (`create` never reuses it) gets another.
        let salt = std::hash::RandomState::new().hash_one((std::process::id(), attempt, std::time::SystemTime::now()));
        let dir = std::env::temp_dir().join(format!("cib-console-{salt:016x}"));
        match folder.create(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    let page = dir.join("console.html");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let written = options
        .open(&page)
        .and_then(|mut f| f.write_all(redirect(url).as_bytes()));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(page)
}

/// Removes the page's folder once the browser has surely read it. The opener returns before the
/// browser reads the page (a running browser is handed it, and reads it in its own time), and
/// `cib` exits at once, taking any thread of its own with it: a detached `sh`, deaf to the
/// terminal's hangup, waits 30 s, then removes it. Should that not start, the page stays where
/// only this user can read it, and `cib` says where.
fn remove_later(page: &Path) {
    let Some(dir) = page.parent() else {
        return;
    };
    let spawned = std::process::Command::new("/bin/sh")
        .args([
            "-c",
            "trap '' HUP INT; sleep 30; rm -rf -- \"$1\"",
            "cib-console-cleanup",
        ])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if spawned.is_err() {
        eprintln!(
            "cib: remove {} once the console is open: it holds the sign-in link",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_page_sends_the_browser_on_to_the_url_escaped() {
        let url = "https://signin.aws.amazon.com/federation?Action=login&SigninToken=a\"b<c>'d";
        let page = redirect(url);
        let escaped = "https://signin.aws.amazon.com/federation?Action=login&amp;SigninToken=a&quot;b&lt;c&gt;&#39;d";
        assert!(
            page.contains(&format!("<meta http-equiv=\"refresh\" content=\"0; url={escaped}\">")),
            "{page}"
        );
        assert!(page.contains(&format!("<a href=\"{escaped}\">")), "{page}");
        assert!(!page.contains(url), "only escaped: {page}");
    }

    #[cfg(unix)]
    #[test]
    fn the_console_page_is_private_to_this_user() {
        use std::os::unix::fs::PermissionsExt;
        fn mode(p: &Path) -> u32 {
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        }
        let url = "https://signin.aws.amazon.com/federation?Action=login&SigninToken=t0ken";
        let (one, two) = (redirect_page(url).unwrap(), redirect_page(url).unwrap());
        assert_ne!(one.parent(), two.parent(), "a folder of its own each time");
        for page in [one, two] {
            let dir = page.parent().unwrap().to_path_buf();
            assert_eq!(mode(&page), 0o600, "the page");
            assert_eq!(mode(&dir), 0o700, "its folder");
            assert_eq!(dir.parent(), Some(std::env::temp_dir().as_path()));
            assert_eq!(std::fs::read_to_string(&page).unwrap(), redirect(url));
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
