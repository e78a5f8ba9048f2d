//! `local-runner`: starts the whole system on localhost and prints how to call it.
//!
//! Usage: `local-runner [--port N] [--aws] [--console-port N] [--console-dist DIR]
//! [--console-token-seconds N] [--clock-ahead-seconds N]`. Starts moto
//! unless `AWS_ENDPOINT_URL` is set (then uses that endpoint) or `--aws` is given (real AWS; see
//! `system::AwsMode`). The web console is served (on the API's port + 1 by default) when
//! `web/dist` holds its build, never with `--aws`. Logs go to `.local/runner.log` (or
//! `$CIB_LOCAL_DIR`), so the terminal keeps the banner.
//!
//! `local-runner token --email E [--role user|admin|bot|auditor] [--subject S]` mints a token for the
//! runner started last in this directory (it keeps its signing secret in `.local/runner.json`,
//! 0600), so one can try groups, ownership and bots as several people.
//!
//! With the local AWS it also readies the seeded AWS Organization for registration: it issues an
//! ExternalId through the API, puts its trust on the organization role and on every member's
//! `CloudIamBrokerAccess` (as the customer's StackSet would), writes the `POST /organizations`
//! body to `.local/organization.json` and the management account admin's key to
//! `.local/organization-admin.json` (0600).
//!
//! With the local AWS it also writes `.local/local-secrets.json` (0600; local secrets, for
//! scripts such as `scripts/fuzz_setup.py`): the local AWS's endpoint, every seeded account's
//! admin key (`demo-account.json` holds only the first), the broker's own key and session-log
//! bucket, and Slack's signing secret, workspace and response-URL prefix, so that a script can
//! act in those accounts, tamper with a log as a test of the evidence, and sign Slack requests.

use std::time::Duration;

use local_runner::{AwsMode, LocalSystem, Options};
use shared::auth::Role;

/// Where the runner keeps its state, log, the demo account's key and `local-secrets.json`:
/// `.local`, or `CIB_LOCAL_DIR` (the browser tests and scripts/fuzz run their own runner beside a
/// developer's).
fn local_dir() -> std::path::PathBuf {
    std::env::var_os("CIB_LOCAL_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| ".local".into(), Into::into)
}

fn state_file() -> std::path::PathBuf {
    local_dir().join("runner.json")
}

fn log_file() -> std::path::PathBuf {
    local_dir().join("runner.log")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("token") {
        token(&args[1..]);
        return;
    }
    let _ = std::fs::create_dir_all(local_dir());
    match std::fs::OpenOptions::new().create(true).append(true).open(log_file()) {
        Ok(file) => {
            // The metrics go where the logs go, not between the banner's lines.
            if let Ok(copy) = file.try_clone() {
                shared::metrics::write_to(copy);
            }
            shared::telemetry::init_to_file(file)
        }
        Err(_) => shared::telemetry::init(),
    }
    let mut port = 3000u16;
    let mut real = false;
    let mut expirer_seconds = 60u64;
    let mut console_port = None;
    let mut console_dist = std::path::PathBuf::from("web/dist");
    let mut console_token_ttl = local_runner::dev_idp::TOKEN_TTL;
    let mut clock_ahead = 0u64;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--port" => {
                port = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage("--port takes a number"))
            }
            "--aws" => real = true,
            "--console-port" => {
                console_port = Some(
                    it.next()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or_else(|| usage("--console-port takes a number")),
                )
            }
            "--console-dist" => {
                console_dist = it
                    .next()
                    .map(Into::into)
                    .unwrap_or_else(|| usage("--console-dist takes a folder"))
            }
            // Short-lived sign-ins, for the console's refresh to be seen (web/tests).
            "--console-token-seconds" => {
                console_token_ttl = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .filter(|s| *s >= 10)
                    .map(std::time::Duration::from_secs)
                    .unwrap_or_else(|| usage("--console-token-seconds takes a number of seconds, at least 10"))
            }
            // The broker's clock may be moved this far ahead of the local AWS's (the wall
            // clock) through a loopback control, so that the session logs written before fall
            // in an hour the broker holds finished and its expirer digests them at once
            // (web/tests: an evidence check of a tampered log; `clock_control`).
            "--clock-ahead-seconds" => {
                clock_ahead = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .filter(|s| *s <= 7 * 24 * 3600)
                    .unwrap_or_else(|| usage("--clock-ahead-seconds takes a number of seconds, at most a week"))
            }
            "--expirer-seconds" => {
                expirer_seconds = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .filter(|s| *s > 0)
                    .unwrap_or_else(|| usage("--expirer-seconds takes a number"))
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if real && clock_ahead > 0 {
        usage("--clock-ahead-seconds is for the local AWS only, never with --aws");
    }
    let aws = match (real, std::env::var("AWS_ENDPOINT_URL").ok().filter(|v| !v.is_empty())) {
        (true, _) => AwsMode::RealAws,
        (false, Some(endpoint)) => AwsMode::Endpoint(endpoint),
        // Five AWS accounts to register: scripts/fuzz uses the first two for generated
        // registrations, the third for sessions, the fourth for settings and the fifth for a
        // deletion (scripts/fuzz_setup.py).
        (false, None) => AwsMode::Moto {
            targets: 5,
            managed_policies: true,
        },
    };
    let clock = (clock_ahead > 0).then(|| std::sync::Arc::new(shared::ports::OffsetClock::default()));
    let system = match LocalSystem::start(Options {
        port,
        aws,
        overrides: shared::app::Overrides {
            clock: clock.clone().map(|c| c as std::sync::Arc<dyn shared::ports::Clock>),
            ..Default::default()
        },
        cors_origins: Vec::new(),
        // The console needs its build (scripts/dev makes it); without one the API runs alone.
        // Never against real AWS: its development sign-in would hand anyone an admin token there.
        console: (!real && console_dist.join("index.html").exists()).then(|| local_runner::system::ConsoleOptions {
            dist: console_dist.clone(),
            port: console_port.unwrap_or(if port == 0 { 0 } else { port.saturating_add(1) }),
            // The default port is a convenience: taken, another is used; asked for, it is not.
            port_may_move: console_port.is_none(),
            token_ttl: console_token_ttl,
        }),
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local-runner: {e}");
            std::process::exit(1);
        }
    };
    // The expirer runs every minute, as the EventBridge schedule does (`--expirer-seconds N`),
    // and the organization sync with it.
    system.run_expirer_every(Duration::from_secs(expirer_seconds));
    save_state(&system);
    save_local_secrets(&system);
    let shell_demo = match system
        .aws
        .as_ref()
        .and_then(|aws| aws.targets.first().map(|t| (aws, t)))
    {
        Some((aws, target)) => match local_runner::demo::shell_target(&aws.endpoint, target, "us-east-1").await {
            Ok(demo) => Some(demo),
            Err(e) => {
                eprintln!("local-runner: the demo shell target could not be made ({e}); shell sessions need one");
                None
            }
        },
        None => None,
    };
    let organization = match &system.aws {
        Some(aws) => match prepare_organization(&system, aws).await {
            Ok(file) => Some(file),
            Err(e) => {
                eprintln!("local-runner: the seeded organization could not be readied for registration ({e})");
                None
            }
        },
        None => None,
    };
    if let Some(clock) = clock {
        match local_runner::clock_control::serve(clock, Duration::from_secs(clock_ahead)).await {
            Ok(url) => println!(
                "Broker clock control: {url} (POST moves the broker's clock {clock_ahead} s ahead of the local AWS's)"
            ),
            Err(e) => {
                eprintln!("local-runner: the clock control could not be served ({e})");
                std::process::exit(1);
            }
        }
    }
    print_welcome(&system, shell_demo.as_ref(), organization.as_deref());
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("\nstopping (local AWS stops with us)");
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("local-runner: {problem}");
    }
    eprintln!(
        "usage: local-runner [--port N] [--expirer-seconds N] [--aws] [--console-port N] [--console-dist DIR] [--console-token-seconds N] [--clock-ahead-seconds N]"
    );
    eprintln!("       local-runner token --email E [--role user|admin|bot|auditor] [--subject S] [--hours N]");
    std::process::exit(2);
}

/// Mints a token with the running runner's secret.
fn token(args: &[String]) {
    let (mut email, mut role, mut subject, mut hours) = (None, "user".to_string(), None, 12u64);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| usage(&format!("{arg} takes a value")))
        };
        match arg.as_str() {
            "--email" => email = Some(value()),
            "--role" => role = value(),
            "--subject" => subject = Some(value()),
            "--hours" => hours = value().parse().unwrap_or_else(|_| usage("--hours takes a number")),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let role = Role::parse(&role).unwrap_or_else(|| usage("--role is user, admin, bot or auditor"));
    let (subject, email) = match (role, subject, email) {
        // A bot acts for others: its subject is what BOTS lists, and it has no e-mail.
        (Role::Bot, subject, _) => (subject.unwrap_or_else(|| local_runner::system::LOCAL_BOT.into()), None),
        (_, subject, Some(email)) => (subject.unwrap_or_else(|| email.clone()), Some(email)),
        (_, _, None) => usage("--email is required for everyone but bots"),
    };
    let state: serde_json::Value = std::fs::read_to_string(state_file())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            usage(&format!(
                "no runner state in {}: start scripts/dev first, in this directory",
                state_file().display()
            ))
        });
    let secret = state["jwt_secret"]
        .as_str()
        .unwrap_or_else(|| usage("the runner state has no secret"));
    let minter = local_runner::system::Minter::with_secret(shared::domain::Secret::new(secret.to_string()));
    println!(
        "{}",
        minter.token(role, &subject, email.as_deref(), Duration::from_secs(hours * 3600))
    );
}

/// Writes `body` to `path` (replacing it), readable by this user only.
fn write_private(path: &std::path::Path, body: &serde_json::Value) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(body.to_string().as_bytes()))
}

/// Keeps what `local-runner token` needs, readable by this user only.
fn save_state(system: &LocalSystem) {
    let state = serde_json::json!({ "base_url": system.base_url, "jwt_secret": system.minter.secret().expose() });
    if let Err(e) = write_private(&state_file(), &state) {
        eprintln!(
            "local-runner: could not write {} ({e}); `local-runner token` will not work",
            state_file().display()
        );
    }
}

/// Keeps what a script needs to act in the seeded AWS accounts and as Slack (see the module
/// doc), readable by this user only. Only with the local AWS: against real AWS there is none.
fn save_local_secrets(system: &LocalSystem) {
    let Some(aws) = &system.aws else { return };
    let accounts: Vec<serde_json::Value> = aws
        .targets
        .iter()
        .map(|t| {
            serde_json::json!({
                "aws_account_id": t.aws_account_id,
                "access_key_id": t.admin.access_key_id,
                "secret_access_key": t.admin.secret_access_key,
            })
        })
        .collect();
    let slack = system.config.slack_signing_secret.as_ref().map(|secret| {
        serde_json::json!({
            "signing_secret": secret.expose(),
            "team_id": system.config.slack.team_id,
            "response_url_prefix": system.config.slack.response_url_prefix,
        })
    });
    // The broker's own principal and its session-log bucket: a test that tampers with a log
    // (to see the evidence check say so) writes there as only the broker could.
    let broker = serde_json::json!({
        "aws_account_id": local_runner::local_aws::BROKER_ACCOUNT,
        "access_key_id": aws.broker.access_key_id,
        "secret_access_key": aws.broker.secret_access_key,
        "session_log_bucket": aws.resources.bucket,
    });
    let body = serde_json::json!({
        "aws_endpoint": aws.endpoint,
        "accounts": accounts,
        "broker": broker,
        "slack": slack,
    });
    let path = local_dir().join("local-secrets.json");
    if let Err(e) = write_private(&path, &body) {
        eprintln!("local-runner: could not write {} ({e})", path.display());
    }
}

/// Readies the seeded organization for `POST /organizations` (see the module doc); returns the
/// file holding the registration body.
async fn prepare_organization(
    system: &LocalSystem,
    aws: &local_runner::local_aws::LocalAws,
) -> Result<std::path::PathBuf, String> {
    let admin = system.minter.token(
        Role::Admin,
        "admin@example.com",
        Some("admin@example.com"),
        Duration::from_secs(300),
    );
    let issued: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/accounts/external-ids", system.base_url))
        .bearer_auth(admin)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("issuing an ExternalId: {e}"))?
        .json()
        .await
        .map_err(|e| format!("reading the issued ExternalId: {e}"))?;
    let external_id = issued["external_id"].as_str().ok_or("no ExternalId was issued")?;
    let trust = issued
        .get("trust_policy")
        .filter(|t| t.is_object())
        .ok_or("the ExternalId came with no trust policy")?;
    let org = &aws.organization;
    local_runner::organization::trust_external_id(&aws.endpoint, org, &trust.to_string()).await?;
    if let Err(e) = local_runner::identity_center::ready_for_dev(&aws.endpoint, org).await {
        eprintln!("local-runner: the organization's Identity Center could not be readied ({e})");
    }
    let dir = local_dir();
    let _ = std::fs::create_dir_all(&dir);
    let keys = serde_json::json!({
        "aws_account_id": org.management_account_id,
        "access_key_id": org.admin.access_key_id,
        "secret_access_key": org.admin.secret_access_key,
    });
    let admin_file = dir.join("organization-admin.json");
    write_private(&admin_file, &keys).map_err(|e| format!("writing {}: {e}", admin_file.display()))?;
    let path = dir.join("organization.json");
    let body = org.registration("local-organization", external_id);
    std::fs::write(&path, serde_json::to_vec_pretty(&body).unwrap_or_default())
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// How to register the seeded organization, scope a group to its Production OU and start a
/// JIT session in one of its accounts (README, "An AWS Organization", has every step).
fn print_organization(system: &LocalSystem, file: &std::path::Path) {
    let Some(aws) = &system.aws else { return };
    let org = &aws.organization;
    let url = &system.base_url;
    let (workloads, production, sandbox) = (org.unit("Workloads"), org.unit("Production"), org.unit("Sandbox"));
    let accounts: Vec<String> = org.accounts.iter().map(|(name, id)| format!("{name} {id}")).collect();
    let auth = "-H \"Authorization: Bearer $ADMIN_TOKEN\"";
    let json = "-H 'Content-Type: application/json'";
    println!(
        "An AWS Organization to register ({}, management account {}): OUs Workloads {workloads}, Production {production} (in Workloads), Sandbox {sandbox}; accounts {}.",
        org.organization_id,
        org.management_account_id,
        accounts.join(", ")
    );
    println!(
        "Its organization role and every member's CloudIamBrokerAccess trust an ExternalId issued for it (single use); the management admin's key: {}",
        local_dir().join("organization-admin.json").display()
    );
    println!(
        "  export ORG={} PROD1={} PRODUCTION={production}",
        org.organization_id,
        org.account("prod-1")
    );
    println!(
        "  curl -s -X POST {url}/organizations {auth} {json} -d @{}",
        file.display()
    );
    println!(
        "  export ACCOUNT=$(curl -s -X POST {url}/organizations/$ORG/accounts/$PROD1/enable {auth} | jq -r .id)   # prod-1"
    );
    println!(
        "  curl -s -X POST {url}/groups {auth} {json} -d '{{\"name\":\"production-oncall\",\"accounts\":[\"'$PRODUCTION'\"],\"permissions\":{{\"start_jit_sessions\":true}}}}'"
    );
    println!(
        "  then JIT settings for $ACCOUNT naming arn:aws:iam::$PROD1:role/OnCall, that role, alice provisioned and in the group (README, \"An AWS Organization\"), and:"
    );
    println!(
        "  curl -s -X POST {url}/sessions -H \"Authorization: Bearer $USER_TOKEN\" {json} -d '{{\"account_id\":\"'$ACCOUNT'\",\"type\":\"jit\",\"role_arn\":\"arn:aws:iam::'$PROD1':role/OnCall\",\"duration_seconds\":900,\"reason\":\"try it\"}}'\n"
    );
    match local_runner::identity_center::dev() {
        Some(ic) => println!(
            "Its IAM Identity Center: permission set ReadOnly, identity-store users alice and bob (README, \"Identity Center sessions\"):\n  export PERMISSION_SET={} AWS_LOCAL={}\n",
            ic.read_only, aws.endpoint
        ),
        None => println!(),
    }
}

fn print_welcome(
    system: &LocalSystem,
    shell_demo: Option<&local_runner::demo::ShellDemo>,
    organization: Option<&std::path::Path>,
) {
    let day = Duration::from_secs(12 * 3600);
    let admin = system
        .minter
        .token(Role::Admin, "admin@example.com", Some("admin@example.com"), day);
    let user = system
        .minter
        .token(Role::User, "alice@example.com", Some("alice@example.com"), day);
    let url = &system.base_url;
    println!("Cloud IAM Broker is running on {url}");
    if let Some(aws) = &system.aws {
        println!("Local AWS (moto): {}", aws.endpoint);
        // The demo account's key goes to a file, not the terminal: it is a (local) secret.
        if let Some(target) = aws.targets.first() {
            let dir = local_dir();
            let _ = std::fs::create_dir_all(&dir);
            let body = serde_json::json!({
                "name": "demo",
                "default_region": "us-east-1",
                "credentials": { "type": "access_key", "access_key_id": target.admin.access_key_id, "secret_access_key": target.admin.secret_access_key },
            });
            let path = dir.join("demo-account.json");
            if std::fs::write(&path, serde_json::to_vec_pretty(&body).unwrap_or_default()).is_ok() {
                println!(
                    "A seeded AWS account ({}) to register: {}",
                    target.aws_account_id,
                    path.display()
                );
            }
        }
    }
    if let Some(demo) = shell_demo {
        println!(
            "For shell sessions, in that account: EC2 instance {} (tag {}={}, SSM Agent {} registered) and transcript bucket {} (docs/shell-sessions.md)",
            demo.instance_id,
            local_runner::demo::DEMO_TAG.0,
            local_runner::demo::DEMO_TAG.1,
            local_runner::demo::DEMO_AGENT_VERSION,
            demo.bucket
        );
    }
    println!("\nTokens (valid 12 h):\n  export ADMIN_TOKEN={admin}\n  export USER_TOKEN={user}\n");
    println!(
        "More people (any e-mail; roles user, admin, auditor, bot — the bot may act for *@example.com):\n  \
         export BOB_TOKEN=$(scripts/dev token --email bob@example.com --role user)\n  \
         export BOT_TOKEN=$(scripts/dev token --role bot)\n"
    );
    match &system.console_url {
        Some(url) => {
            println!("Web console: {url}  (development sign-in: pick any e-mail and role; not for deployments)\n")
        }
        None => {
            println!(
                "Web console: not served (no build in web/dist, which scripts/dev makes when npm is installed; \
                 or real AWS, where its development sign-in would mint admin tokens: deploy it with scripts/deploy-console)\n"
            )
        }
    }
    let log = log_file();
    println!("Logs (JSON lines): {}   (tail -f {})", log.display(), log.display());
    let demo = local_dir().join("demo-account.json");
    let demo = demo.display();
    if let Some(aws) = &system.aws {
        println!(
            "AWS CLI against the local AWS: AWS_ENDPOINT_URL={} with the seeded account's keys from {demo}",
            aws.endpoint
        );
    }
    println!(
        "Try:\n  curl -s -X POST {url}/accounts -H \"Authorization: Bearer $ADMIN_TOKEN\" -H 'Content-Type: application/json' -d @{demo}"
    );
    println!("  curl -s {url}/accounts -H \"Authorization: Bearer $ADMIN_TOKEN\"\n");
    if let Some(file) = organization {
        print_organization(system, file);
    }
    println!("Ctrl-C stops everything.");
}
