//! `cib`: the Cloud IAM Broker command line. It talks only to the HTTP API.
//!
//! Exit codes: 0 success; 1 the API refused the request; 2 bad usage; 3 not authenticated or
//! not allowed; 4 the API or network failed (retry may help).

mod client;
mod config;
mod output;

use std::io::{IsTerminal, Read};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use client::{Client, Failure, exit};
use output::print;

#[derive(Parser)]
#[command(name = "cib", version, about = "Cloud IAM Broker: just-in-time access to AWS accounts", after_help = EXIT_CODES)]
struct Cli {
    /// The broker's API URL [env: CIB_URL]
    #[arg(long, env = "CIB_URL", global = true)]
    url: Option<String>,
    /// A bearer token [env: CIB_TOKEN]
    #[arg(long, env = "CIB_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// A profile of the config file [env: CIB_PROFILE]
    #[arg(long, env = "CIB_PROFILE", global = true)]
    profile: Option<String>,
    /// JSON output, for scripts
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str =
    "Exit codes: 0 ok, 1 refused by the API, 2 usage, 3 not authenticated/allowed, 4 API or network failure.";

#[derive(Subcommand)]
enum Command {
    /// Save the API URL and token in the config file
    Configure {
        #[arg(long)]
        url: String,
        /// Read from standard input when omitted
        #[arg(long)]
        token: Option<String>,
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
struct JitArgs {
    /// Account id
    #[arg(long)]
    account: String,
    /// Role ARN (one of the account's allowed JIT roles)
    #[arg(long)]
    role: String,
    /// Seconds, or 30m, 1h, 1h30m
    #[arg(long, default_value = "1h")]
    duration: String,
    /// Why you need access (kept in the session log)
    #[arg(long)]
    reason: String,
}

#[derive(Subcommand)]
enum Accounts {
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
enum Jit {
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
enum Users {
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
enum Groups {
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
enum Members {
    List { group: String },
    Add { group: String, email: String },
    Remove { group: String, email: String },
}

#[derive(Subcommand)]
enum Sessions {
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

/// `900`, `900s`, `30m`, `1h`, `1h30m`.
fn seconds(s: &str) -> Result<i64, Failure> {
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
fn progress(msg: &str) {
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
const SESSION_COLUMNS: &[(&str, &str)] = &[
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

async fn start_jit(api: &Client, jit: &JitArgs) -> Result<Value, Failure> {
    let body = json!({ "account_id": jit.account, "type": "jit", "role_arn": jit.role, "duration_seconds": seconds(&jit.duration)?, "reason": jit.reason });
    api.call("POST", "/sessions", Some(body)).await
}

async fn sessions(api: &Client, cmd: Sessions, json: bool) -> Result<(), Failure> {
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
async fn credential_process(api: &Client, url: &str, jit: &JitArgs) -> Result<(), Failure> {
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
