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
Exit codes: 0 ok, 1 refused by the API, 2 usage, 3 not authenticated/allowed, 4 API or network failure.";

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
    /// IAM users in an account (admins)
    #[command(subcommand)]
    Users(Users),
    /// Access groups (admins)
    #[command(subcommand)]
    Groups(Groups),
    /// Members of an access group (admins)
    #[command(subcommand)]
    Members(Members),
    /// Your sessions
    #[command(subcommand)]
    Sessions(Sessions),
    /// Start a JIT session and print (or open) its console sign-in URL
    Console {
        #[command(flatten)]
        jit: JitArgs,
        /// Open the URL in a browser where one is available
        #[arg(long)]
        open: bool,
    },
    /// For the AWS CLI's credential_process: JIT credentials as JSON, reused from a local
    /// cache until five minutes before they expire
    CredentialProcess {
        #[command(flatten)]
        jit: JitArgs,
    },
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
    /// Register with an access key (secret read from standard input) or a role + ExternalId
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
    /// Start a JIT session (--role) or a console session (--console)
    Start {
        #[arg(long)]
        account: String,
        #[arg(long, required_unless_present = "console")]
        role: Option<String>,
        #[arg(long, conflicts_with = "role")]
        console: bool,
        #[arg(long, default_value = "1h")]
        duration: String,
        #[arg(long)]
        reason: String,
    },
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        account: Option<String>,
    },
    Show {
        id: String,
    },
    End {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// The session's S3 log, with its hash chain verified
    Log {
        id: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

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
}
