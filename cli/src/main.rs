//! `cib`: the Cloud IAM Broker command line. It talks only to the HTTP API (and, for `cib shell`,
//! runs the AWS CLI's `aws ssm start-session`). This file is the wiring: where the token comes
//! from, then one module per command group (`accounts`, `users`, `groups`, `sessions`, `requests`,
//! `credential_process`, `shell`, `verify`), with the command line's shape in `args` and waiting
//! for approvals in `approval`.
//!
//! Exit codes: 0 success; 1 the API refused the request (or an awaited approval was denied,
//! cancelled or lapsed); 2 bad usage; 3 not authenticated or not allowed; 4 the API or network
//! failed, or a wait for approval timed out with the request still pending (retry may help), or
//! the shell `cib shell` ran (`aws ssm start-session`) failed; 5 `cib verify` got its report, and
//! the session logs do not verify.

mod accounts;
mod approval;
mod args;
mod cache;
mod client;
mod config;
mod credential_process;
mod groups;
mod output;
mod requests;
mod sessions;
mod shell;
mod users;
mod verify;

use std::io::{BufRead, IsTerminal, Read};

use accounts::{accounts, jit};
use args::{Cli, Command};
use clap::Parser;
use serde_json::Value;

use client::{Client, Failure, exit};
use credential_process::credential_process;
use groups::{groups, members};
use output::print;
use requests::requests;
use sessions::{console, sessions};
use shell::shell;
use users::users;
use verify::verify;

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
    let token_on_argv = cli.token.is_some();
    if let Command::Configure { url } = &cli.command {
        // The token to save comes from standard input only: not CIB_TOKEN (it may be a
        // short-lived one for this shell), and never argv.
        let token = config::token(token_on_argv, None, true, || read_stdin("token").map_err(|f| f.message))
            .map_err(Failure::usage)?
            .unwrap_or_default();
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
    let token = config::token(
        token_on_argv,
        std::env::var(config::TOKEN_ENV).ok(),
        cli.token_stdin,
        || read_line("token"),
    )
    .map_err(Failure::usage)?;
    let (url, token) = config::resolve(cli.url.clone(), token, cli.profile.as_deref()).map_err(Failure::usage)?;
    let api = Client::new(url.clone(), token.clone());
    let json = cli.json;
    match cli.command {
        Command::Configure { .. } => unreachable!("handled above"),
        Command::Me => me(&api, json).await?,
        Command::Accounts(cmd) => accounts(&api, cmd, json).await?,
        Command::Jit(cmd) => jit(&api, cmd, json).await?,
        Command::Verify(verify_args) => verify(&api, &verify_args, json).await?,
        Command::Users(cmd) => users(&api, cmd, json).await?,
        Command::Groups(cmd) => groups(&api, cmd, json).await?,
        Command::Members(cmd) => members(&api, cmd, json).await?,
        Command::Sessions(cmd) => sessions(&api, cmd, json).await?,
        Command::Requests(cmd) => requests(&api, cmd, json).await?,
        Command::Console { jit, open } => console(&api, &jit, open, json).await?,
        Command::CredentialProcess { jit } => {
            credential_process(&api, cli.profile.as_deref(), &url, &token, &jit).await?
        }
        Command::Shell(shell_args) => shell(&api, &shell_args, json).await?,
    }
    Ok(())
}

async fn me(api: &Client, json: bool) -> Result<(), Failure> {
    let me = api.call("GET", "/me", None).await?;
    if json {
        print(&me, true, &[]);
        return Ok(());
    }
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
    Ok(())
}

/// All of standard input, trimmed: a secret the command line must not carry.
pub(crate) fn read_stdin(what: &str) -> Result<String, Failure> {
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

/// One line of standard input, trimmed (`--token-stdin`): the rest is left to the command, such
/// as the secret key `accounts register` reads after it.
fn read_line(what: &str) -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        eprint!("{what}: ");
    }
    let mut s = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut s)
        .map_err(|e| format!("reading the {what}: {e}"))?;
    match s.trim() {
        "" => Err(format!("no {what} on standard input")),
        line => Ok(line.to_string()),
    }
}
