//! `local-runner`: starts the whole system on localhost and prints how to call it.
//!
//! Usage: `local-runner [--port N] [--aws]`. Starts moto unless `AWS_ENDPOINT_URL` is set
//! (then uses that endpoint) or `--aws` is given (real AWS; see `system::AwsMode`).

use std::time::Duration;

use local_runner::{AwsMode, LocalSystem, Options};
use shared::auth::Role;

#[tokio::main]
async fn main() {
    shared::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut port = 3000u16;
    let mut real = false;
    let mut expirer_seconds = 60u64;
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
    let aws = match (real, std::env::var("AWS_ENDPOINT_URL").ok().filter(|v| !v.is_empty())) {
        (true, _) => AwsMode::RealAws,
        (false, Some(endpoint)) => AwsMode::Endpoint(endpoint),
        (false, None) => AwsMode::Moto {
            targets: 3,
            managed_policies: true,
        },
    };
    let system = match LocalSystem::start(Options {
        port,
        aws,
        overrides: Default::default(),
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local-runner: {e}");
            std::process::exit(1);
        }
    };
    // The expirer runs every minute, as the EventBridge schedule does (`--expirer-seconds N`).
    system.run_expirer_every(Duration::from_secs(expirer_seconds));
    print_welcome(&system);
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("\nstopping (local AWS stops with us)");
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("local-runner: {problem}");
    }
    eprintln!("usage: local-runner [--port N] [--expirer-seconds N] [--aws]");
    std::process::exit(2);
}

fn print_welcome(system: &LocalSystem) {
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
            let dir = std::path::Path::new(".local");
            let _ = std::fs::create_dir_all(dir);
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
    println!("\nTokens (valid 12 h):\n  export ADMIN_TOKEN={admin}\n  export USER_TOKEN={user}\n");
    println!(
        "Try:\n  curl -s -X POST {url}/accounts -H \"Authorization: Bearer $ADMIN_TOKEN\" -H 'Content-Type: application/json' -d @.local/demo-account.json"
    );
    println!("  curl -s {url}/accounts -H \"Authorization: Bearer $ADMIN_TOKEN\"\n");
    println!("Ctrl-C stops everything.");
}
