//! The command line's shape: every command, subcommand and flag (clap), with its help.

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cib", version, about = "Cloud IAM Broker: just-in-time access to AWS accounts", after_help = AFTER_HELP)]
pub struct Cli {
    /// The broker's API URL [env: CIB_URL]
    #[arg(long, env = "CIB_URL", global = true)]
    pub url: Option<String>,
    /// Refused: a token on the command line is in `ps` and shell history. Parsed only to say so;
    /// the token comes from CIB_TOKEN, --token-stdin or the config file (`config::token`).
    #[arg(long, global = true, hide = true, num_args = 0..=1, default_missing_value = "", value_name = "TOKEN")]
    pub token: Option<String>,
    /// Read the bearer token from one line of standard input (CIB_TOKEN, when set, comes first;
    /// the config file's token is the fallback)
    #[arg(long, global = true)]
    pub token_stdin: bool,
    /// A profile of the config file [env: CIB_PROFILE]
    #[arg(long, env = "CIB_PROFILE", global = true)]
    pub profile: Option<String>,
    /// JSON output, for scripts
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

pub const AFTER_HELP: &str = "The token comes from CIB_TOKEN, --token-stdin or the config file (`cib configure`), never \
from the command line.\n\
Where access needs approval, `sessions start`, `sessions extend`, `console`, `shell` and `credential-process` wait \
for it (progress on standard error, --wait-timeout); approvers decide with `cib requests`.\n\
`cib shell` runs `aws ssm start-session`, which needs the AWS CLI and its Session Manager plugin; without them \
(or with --print) it prints the credentials and the command to run.\n\
Exit codes: 0 ok, 1 refused by the API (or the request denied, cancelled or lapsed), 2 usage, \
3 not authenticated/allowed, 4 API or network failure (or still awaiting approval when the wait timed out, or \
`aws ssm start-session` failed), 5 `cib verify`: the session logs do NOT verify.";

#[derive(Subcommand)]
pub enum Command {
    /// Save the API URL and token in the config file; the token is read from standard input
    Configure {
        #[arg(long)]
        url: String,
    },
    /// Who you are and what you may do where
    Me,
    /// Registered AWS accounts (admins)
    #[command(subcommand)]
    Accounts(Accounts),
    /// An account's JIT settings (admins)
    #[command(subcommand)]
    Jit(Jit),
    /// Verify an account's session logs against their signed hourly digests (admins): counts by
    /// status, each digest or log object that is not valid, then "verified" or "NOT verified"
    /// (exit 5); with --json, the API's report as it is
    #[command(after_help = VERIFY_AFTER_HELP)]
    Verify(VerifyArgs),
    /// IAM users in an account (admins)
    #[command(subcommand)]
    Users(Users),
    /// Access groups (admins)
    #[command(subcommand)]
    Groups(Groups),
    /// Members of an access group (admins)
    #[command(subcommand)]
    Members(Members),
    /// Your sessions: start (waiting for approval where it is needed), extend, end, and shell
    /// sessions' transcripts
    #[command(subcommand)]
    Sessions(Sessions),
    /// Requests you may approve or deny, and break-glass sessions you may review
    #[command(subcommand)]
    Requests(Requests),
    /// Start a JIT session and print (or open) its console sign-in URL (waiting for approval
    /// where it is needed)
    Console {
        #[command(flatten)]
        jit: JitArgs,
        /// Open the URL in a browser where one is available (the browser is handed a private
        /// page that leads to it, never the URL, which `ps` would show)
        #[arg(long)]
        open: bool,
    },
    /// For the AWS CLI's credential_process: JIT credentials as JSON, reused from a local
    /// cache until five minutes before they expire, then from the same session extended by
    /// --duration (a new session when it cannot be); waits for approval where it is needed
    CredentialProcess {
        #[command(flatten)]
        jit: JitArgs,
    },
    /// A shell on an EC2 instance (i-…) or managed node (mi-…) through Session Manager: starts a
    /// shell session (waiting for approval where it is needed), then runs `aws ssm start-session`
    /// with its credentials, which are not shown. With --print, or without the AWS CLI or its
    /// Session Manager plugin, prints the credentials and the command to run instead; with --json,
    /// the whole answer (nothing is run)
    Shell(ShellArgs),
}

#[derive(Args, Clone)]
pub struct JitArgs {
    /// Account id
    #[arg(long)]
    pub account: String,
    /// Role ARN (one of the account's allowed JIT roles)
    #[arg(long)]
    pub role: String,
    /// Seconds, or 30m, 1h, 1h30m
    #[arg(long, default_value = "1h")]
    pub duration: String,
    /// Why you need access (kept in the session log)
    #[arg(long)]
    pub reason: String,
    /// How long to wait for approval when the access needs it: seconds, or 30m, 1h
    #[arg(long, default_value = "1h")]
    pub wait_timeout: String,
}

// `cib shell` (its help is the command's).
#[derive(Args, Clone)]
pub struct ShellArgs {
    /// The EC2 instance (i-…) or managed node (mi-…)
    pub target: String,
    /// Account id
    #[arg(long)]
    pub account: String,
    /// Seconds, or 30m, 1h, 1h30m
    #[arg(long, default_value = "1h")]
    pub duration: String,
    /// Why you need access (kept in the session log)
    #[arg(long)]
    pub reason: String,
    /// Emergency access without approval, where a group allows it (a shorter maximum; the
    /// session is flagged and approvers review it afterwards)
    #[arg(long)]
    pub break_glass: bool,
    /// How long to wait for approval when the access needs it: seconds, or 30m, 1h
    #[arg(long, visible_alias = "wait", default_value = "1h")]
    pub wait_timeout: String,
    /// Print the credentials (`export` lines) and the `aws ssm start-session` command to run,
    /// instead of running it
    #[arg(long)]
    pub print: bool,
}

// `cib verify` (its help is the command's).
#[derive(Args, Clone)]
pub struct VerifyArgs {
    /// Account id
    #[arg(long)]
    pub account: String,
    /// The first day of logs to check, YYYY-MM-DD (UTC, the day in the log's key) [default: --to,
    /// or today]
    #[arg(long, value_parser = day)]
    pub from: Option<String>,
    /// The last day, inclusive, YYYY-MM-DD [default: today, or --from when that is later]; a
    /// range covers at most 31 days
    #[arg(long, value_parser = day)]
    pub to: Option<String>,
}

pub const VERIFY_AFTER_HELP: &str = "The API (GET /accounts/{id}/evidence) reads the account's digests and \
session logs from the bucket and checks each digest's signature and link to the one before it, then each log \
against the newest digest listing it: valid, modified, missing, unlisted, or pending (written within the last \
2 hours, before a digest covers it; pending does not fail); and the end of the chain against the newest digest \
the broker recorded: a digest reported truncated is the broker's newest, gone from the bucket (the newest \
digests, or all of them, deleted). docs/evidence.md says how to check the same offline, where that last check \
cannot be made without the broker's record: only S3 Object Lock in compliance mode keeps every digest's \
version, the newest included, for the bucket to show.\n\
Exit codes: 0 verified, 5 NOT verified (a digest or log object failed); 1 refused by the API (unknown account, \
a bad range, evidence not configured), 2 usage, 3 not authenticated/allowed, 4 API or network failure.";

/// A day as the API takes it, `YYYY-MM-DD`, checked before anything is called.
fn day(s: &str) -> Result<String, String> {
    let bad = || format!("{s} is not a day (YYYY-MM-DD)");
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let shaped = [(y, 4), (m, 2), (d, 2)]
        .iter()
        .all(|(part, len)| part.len() == *len && part.bytes().all(|c| c.is_ascii_digit()));
    if !shaped {
        return Err(bad());
    }
    let month = m
        .parse::<u8>()
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let year: i32 = y.parse().map_err(|_| bad())?;
    let day_of_month: u8 = d.parse().map_err(|_| bad())?;
    time::Date::from_calendar_date(year, month, day_of_month).map_err(|_| bad())?;
    Ok(s.to_string())
}

/// Waiting for approval, where a session or its extension needs it.
#[derive(Args, Clone)]
pub struct WaitArgs {
    /// Do not wait for approval: print the request and how to check on it
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for approval: seconds, or 30m, 1h
    #[arg(long, default_value = "1h")]
    pub wait_timeout: String,
}

#[derive(Subcommand)]
pub enum Accounts {
    List {
        #[arg(long)]
        cursor: Option<String>,
    },
    Get {
        id: String,
    },
    /// Issue an ExternalId (and print the trust policy) for the role a registration will name
    ExternalId,
    /// Register with an access key (secret read from standard input) or a role + the
    /// ExternalId `cib accounts external-id` issued
    Register {
        #[arg(long)]
        name: String,
        #[arg(long)]
        region: String,
        #[arg(long, conflicts_with_all = ["role_arn", "external_id"])]
        access_key_id: Option<String>,
        #[arg(long, requires = "external_id")]
        role_arn: Option<String>,
        #[arg(long)]
        external_id: Option<String>,
    },
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        region: Option<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum Jit {
    Get {
        account: String,
    },
    Set {
        account: String,
        #[arg(long)]
        max_duration: u32,
        /// An allowed role ARN (repeat for several)
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        /// Turn JIT off (it is on otherwise)
        #[arg(long)]
        disabled: bool,
        /// Make the account inactive for all sessions
        #[arg(long)]
        inactive: bool,
    },
}

#[derive(Subcommand)]
pub enum Users {
    List {
        account: String,
    },
    Get {
        account: String,
        name: String,
    },
    Provision {
        account: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        user_name: Option<String>,
        #[arg(long)]
        console: bool,
        #[arg(long)]
        credential: bool,
        #[arg(long = "policy")]
        policies: Vec<String>,
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    Deprovision {
        account: String,
        name: String,
    },
    Rotate {
        account: String,
        name: String,
    },
    Import {
        account: String,
    },
}

#[derive(Subcommand)]
pub enum Groups {
    List,
    Get {
        id: String,
    },
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// An account id (repeat), or none with --all-accounts
        #[arg(long = "account")]
        accounts: Vec<String>,
        #[arg(long)]
        all_accounts: bool,
        /// Members may start console sessions
        #[arg(long)]
        console: bool,
        /// Members may start JIT sessions
        #[arg(long)]
        jit: bool,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum Members {
    List { group: String },
    Add { group: String, email: String },
    Remove { group: String, email: String },
}

#[derive(Subcommand)]
pub enum Sessions {
    /// Start a JIT session (--role), a console session (--console) or an Identity Center session
    /// (--permission-set). Where your group's policy needs approval, waits for it (progress on
    /// standard error), then prints the credentials (Identity Center: the portal link and the
    /// AWS CLI profile to sign in with)
    Start {
        #[arg(long)]
        account: String,
        #[arg(long, required_unless_present_any = ["console", "permission_set"])]
        role: Option<String>,
        #[arg(long, conflicts_with_all = ["role", "permission_set"])]
        console: bool,
        /// An IAM Identity Center permission set's ARN
        #[arg(long, conflicts_with = "role")]
        permission_set: Option<String>,
        /// Seconds, or 30m, 1h, 1h30m
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Why you need access (kept in the session log)
        #[arg(long)]
        reason: String,
        /// Emergency access without approval, where a group allows it (a shorter maximum; the
        /// session is flagged and approvers review it afterwards)
        #[arg(long)]
        break_glass: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Move a live session's end later; a JIT session gets fresh credentials valid until then
    /// (the old ones run out at their own end). Waits for approval where it is needed
    Extend {
        id: String,
        /// How much later: seconds, or 30m, 1h, 1h30m
        #[arg(long)]
        duration: String,
        /// Why you need longer (kept in the session log)
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    List {
        /// active, ending, ended, expired, pending, denied, cancelled or lapsed
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        account: Option<String>,
    },
    /// One session; once approved, it prints the credentials (handed out once)
    Show { id: String },
    End {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// The session's S3 log, with its hash chain verified
    Log { id: String },
    /// What a shell session's Session Manager session recorded, on standard output, its control
    /// characters shown (ESC as ^[) so that none acts on the terminal (`sessions show` lists a
    /// shell session's Session Manager sessions)
    Transcript {
        id: String,
        /// The Session Manager session's id
        ssm_session_id: String,
        /// The recorded bytes as they are, escape sequences included (for a file, not a terminal)
        #[arg(long)]
        raw: bool,
    },
}

#[derive(Subcommand)]
pub enum Requests {
    /// Pending requests (starts and extensions) you may approve or deny
    List {
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Approve a request; the approval that completes the count grants it to its requester
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a request
    Deny {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Withdraw your own pending request (or your session's pending extension)
    Cancel {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Break-glass sessions waiting for your review
    Reviews {
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Review a break-glass session
    Review {
        id: String,
        #[arg(long)]
        note: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command, Requests, Sessions};

    #[test]
    fn the_token_flag_reads_no_environment_and_is_kept_only_to_be_refused() {
        // Were `--token` still `env = "CIB_TOKEN"`, clap could not tell the environment (fine)
        // from argv (refused) apart.
        let cli = Cli::command();
        let token = cli
            .get_arguments()
            .find(|a| a.get_id() == "token")
            .expect("--token is parsed, to be refused with a message");
        assert!(token.get_env().is_none());
        assert!(token.is_hide_set());

        let parsed = Cli::try_parse_from(["cib", "--token", "eyJ.secret.sig", "me"]).unwrap();
        assert_eq!(parsed.token.as_deref(), Some("eyJ.secret.sig"));
        let bare = Cli::try_parse_from(["cib", "me", "--token"]).unwrap();
        assert_eq!(bare.token.as_deref(), Some(""), "a bare --token is refused too");
        let stdin = Cli::try_parse_from(["cib", "--token-stdin", "me"]).unwrap();
        assert!(stdin.token_stdin && stdin.token.is_none());
    }

    #[test]
    fn configure_takes_no_token_on_the_command_line() {
        let parsed = Cli::try_parse_from(["cib", "configure", "--url", "http://x"]).unwrap();
        assert!(matches!(parsed.command, Command::Configure { .. }));
        let configure = Cli::command();
        let configure = configure.find_subcommand("configure").unwrap();
        assert!(
            configure
                .get_arguments()
                .all(|a| a.get_id() != "token" || a.is_global_set())
        );
    }

    #[test]
    fn approvals_are_waited_for_unless_asked_not_to() {
        fn start(extra: &[&str]) -> (bool, bool, String) {
            let mut args = vec![
                "cib",
                "sessions",
                "start",
                "--account",
                "a",
                "--role",
                "r",
                "--reason",
                "why",
            ];
            args.extend_from_slice(extra);
            match Cli::try_parse_from(args).unwrap().command {
                Command::Sessions(Sessions::Start { break_glass, wait, .. }) => {
                    (break_glass, wait.no_wait, wait.wait_timeout)
                }
                _ => panic!("not a start"),
            }
        }
        assert_eq!(start(&[]), (false, false, "1h".to_string()));
        assert_eq!(
            start(&["--break-glass", "--no-wait", "--wait-timeout", "10m"]),
            (true, true, "10m".to_string())
        );

        let extend = Cli::try_parse_from([
            "cib",
            "sessions",
            "extend",
            "01JS",
            "--duration",
            "30m",
            "--reason",
            "more",
        ]);
        assert!(matches!(extend.unwrap().command, Command::Sessions(Sessions::Extend { wait, .. }) if !wait.no_wait));
        assert!(
            Cli::try_parse_from(["cib", "sessions", "extend", "01JS", "--reason", "more"]).is_err(),
            "how much longer is not guessed"
        );
    }

    #[test]
    fn a_denial_says_why_and_a_review_has_a_note() {
        assert!(Cli::try_parse_from(["cib", "requests", "deny", "01JS"]).is_err());
        assert!(Cli::try_parse_from(["cib", "requests", "review", "01JS"]).is_err());
        let approve = Cli::try_parse_from(["cib", "requests", "approve", "01JS"]).unwrap();
        assert!(matches!(
            approve.command,
            Command::Requests(Requests::Approve { reason: None, .. })
        ));
        let listed = Cli::try_parse_from(["cib", "requests", "list", "--limit", "5"]).unwrap();
        assert!(matches!(
            listed.command,
            Command::Requests(Requests::List {
                limit: Some(5),
                cursor: None
            })
        ));
    }
}
