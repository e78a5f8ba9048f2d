//! `cib` run as a process against the local system; its credential_process output is used by
//! the real AWS CLI against local AWS.

use std::process::{Command, Output};

use e2e::{env, fixture};
use serde_json::{Value, json};

const CIB: &str = env!("CARGO_BIN_EXE_cib");

/// The token goes in the environment: `cib` refuses it on argv.
fn cib(url: &str, token: &str, cache: &std::path::Path, args: &[&str]) -> Output {
    Command::new(CIB)
        .args(["--url", url])
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env("XDG_CONFIG_HOME", cache)
        .env_remove("CIB_URL")
        .env("CIB_TOKEN", token)
        .env_remove("CIB_PROFILE")
        .output()
        .expect("cib runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "cib failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cib-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn cli_drives_the_api_and_feeds_the_aws_cli() {
    let env = env();
    let f = fixture(env, "cli").await;
    let cache = temp_dir("main");
    let url = env.base_url.as_str();
    let admin = env.admin();

    // Tables for people, JSON for scripts.
    let table = cib(url, &admin, &cache, &["accounts", "get", &f.account]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.starts_with("ID") && text.contains("AWS ACCOUNT") && text.contains(&f.aws_account),
        "{text}"
    );
    let listed = json(&cib(url, &admin, &cache, &["--json", "accounts", "list"]));
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == f.account.as_str())
    );
    let me = json(&cib(url, &f.token, &cache, &["--json", "me"]));
    assert_eq!(me["email"], f.email.as_str());

    // A session from the CLI, its log verified by the CLI.
    let started = json(&cib(
        url,
        &f.token,
        &cache,
        &[
            "--json",
            "sessions",
            "start",
            "--account",
            &f.account,
            "--role",
            &f.role,
            "--duration",
            "15m",
            "--reason",
            "from the cli",
        ],
    ));
    let id = started["session"]["id"].as_str().unwrap().to_string();
    assert!(started["credentials"]["session_token"].is_string());
    let ended = cib(
        url,
        &f.token,
        &cache,
        &["sessions", "end", &id, "--reason", "done from the cli"],
    );
    assert!(ended.status.success(), "{}", String::from_utf8_lossy(&ended.stderr));
    let log = cib(url, &f.token, &cache, &["sessions", "log", &id]);
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("chain verified"),
        "{}",
        String::from_utf8_lossy(&log.stdout)
    );

    // credential_process: the AWS CLI's JSON, reused from the cache while it is fresh.
    let process_args = [
        "credential-process",
        "--account",
        &f.account,
        "--role",
        &f.role,
        "--duration",
        "15m",
        "--reason",
        "aws cli use",
    ];
    let first = json(&cib(url, &f.token, &cache, &process_args));
    assert_eq!(first["Version"], 1);
    for field in ["AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"] {
        assert!(first[field].is_string(), "{field}: {first}");
    }
    let second = json(&cib(url, &f.token, &cache, &process_args));
    assert_eq!(
        first["AccessKeyId"], second["AccessKeyId"],
        "the cached session is reused"
    );
    // Refreshed five minutes before expiry: reused at 301 s left, replaced at 299 s left.
    let dir = cache.join("cloud-iam-broker").join("credentials");
    let cached = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let expire_in = |seconds: i64| {
        let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&cached).unwrap()).unwrap();
        c["credentials"]["Expiration"] = json!(
            (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        );
        std::fs::write(&cached, c.to_string()).unwrap();
    };
    expire_in(301);
    let reused = json(&cib(url, &f.token, &cache, &process_args));
    assert_eq!(
        reused["AccessKeyId"], first["AccessKeyId"],
        "more than five minutes left: reused"
    );
    expire_in(299);
    let refreshed = json(&cib(url, &f.token, &cache, &process_args));
    assert_ne!(
        refreshed["AccessKeyId"], first["AccessKeyId"],
        "under five minutes left: a new session"
    );

    // Ending the session drops its cached credentials, so the AWS CLI below starts a new one
    // rather than being handed revoked credentials.
    let entry: Value = serde_json::from_str(&std::fs::read_to_string(&cached).unwrap()).unwrap();
    let cached_session = entry["session_id"]
        .as_str()
        .expect("the entry names its session")
        .to_string();
    let ended = cib(
        url,
        &f.token,
        &cache,
        &["sessions", "end", &cached_session, "--reason", "done with the aws cli"],
    );
    assert!(ended.status.success(), "{}", String::from_utf8_lossy(&ended.stderr));
    assert!(!cached.exists(), "the ended session's credentials are dropped");

    // The real AWS CLI, with a profile that calls cib; the token reaches cib through the
    // environment the AWS CLI passes on.
    let config = cache.join("aws-config");
    let command = format!(
        "{CIB} --url {url} credential-process --account {} --role {} --duration 15m --reason \"aws cli use\"",
        f.account, f.role
    );
    std::fs::write(
        &config,
        format!("[profile jit]\nregion = us-east-1\ncredential_process = {command}\n"),
    )
    .unwrap();
    let python = std::env::var("LOCAL_AWS_PYTHON").unwrap_or_else(|_| "python3".into());
    let aws = Command::new(python)
        .args([
            "-m",
            "awscli",
            "sts",
            "get-caller-identity",
            "--profile",
            "jit",
            "--output",
            "json",
        ])
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", cache.join("none"))
        .env("AWS_ENDPOINT_URL", &env.aws_endpoint)
        .env("XDG_CACHE_HOME", &cache)
        .env("CIB_TOKEN", &f.token)
        .env_remove("CIB_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the AWS CLI runs (pip install awscli)");
    assert!(
        aws.status.success(),
        "aws failed: {}",
        String::from_utf8_lossy(&aws.stderr)
    );
    let who: Value = serde_json::from_slice(&aws.stdout).unwrap();
    let role_name = f.role.rsplit('/').next().unwrap();
    let arn = who["Arn"].as_str().unwrap();
    assert!(
        arn.starts_with(&format!("arn:aws:sts::{}:assumed-role/{role_name}/cib-", f.aws_account)),
        "{arn}"
    );
}

#[tokio::test]
async fn cli_errors_carry_the_problem_and_documented_exit_codes() {
    let env = env();
    let cache = temp_dir("errors");
    let url = env.base_url.as_str();

    let out = cib(url, "not-a-token", &cache, &["accounts", "list"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = cib(
        url,
        &env.admin(),
        &cache,
        &["accounts", "get", "01ARZ3NDEKTSV4RRFFQ69G5FAV"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Not found"));

    let out = cib(
        url,
        &env.admin(),
        &cache,
        &["sessions", "start", "--account", "x", "--reason", "r"],
    );
    assert_eq!(out.status.code(), Some(2), "usage: neither --role nor --console");

    let out = cib("http://127.0.0.1:9", &env.admin(), &cache, &["me"]);
    assert_eq!(out.status.code(), Some(4));

    let out = Command::new(CIB)
        .args(["me"])
        .env("XDG_CONFIG_HOME", &cache)
        .env("HOME", &cache)
        .env_remove("CIB_URL")
        .env_remove("CIB_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cib configure"));
}

#[tokio::test]
async fn sessions_start_waits_for_approval_and_then_prints_the_credentials() {
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let f = fixture(env, "cliwait").await;
    let approver = "cliwait-approver@example.com";
    let approvers = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "approvers-cliwait", "accounts": [], "permissions": {} }),
        )
        .await
        .ok(201);
    let approvers = approvers["id"].as_str().unwrap().to_string();
    api.put(&format!("/groups/{approvers}/members/{approver}"), &admin, json!({}))
        .await
        .ok(201);
    api.patch(
        &format!("/groups/{}", f.group),
        &admin,
        json!({ "policy": { "approval": { "approvals_required": 1, "approver_group_ids": [approvers] } } }),
    )
    .await
    .ok(200);

    let cache = temp_dir("wait");
    let (url, token, account, role) = (env.base_url.clone(), f.token.clone(), f.account.clone(), f.role.clone());
    let waiting = tokio::task::spawn_blocking(move || {
        cib(
            &url,
            &token,
            &cache,
            &[
                "--json",
                "sessions",
                "start",
                "--account",
                &account,
                "--role",
                &role,
                "--duration",
                "15m",
                "--reason",
                "needs a second pair of eyes",
                "--wait-timeout",
                "2m",
            ],
        )
    });
    // The request appears for the approver (`cib requests list`) while the CLI waits; the
    // approver approves it with `cib requests approve`.
    let approver_token = env.user(approver);
    let approver_cache = temp_dir("approver");
    let url = env.base_url.as_str();
    let mut id = None;
    for _ in 0..200 {
        let listed = json(&cib(
            url,
            &approver_token,
            &approver_cache,
            &["--json", "requests", "list"],
        ));
        if let Some(s) = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["user"] == f.email.as_str())
        {
            id = s["id"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let id = id.expect("the CLI's request is pending");
    assert!(!waiting.is_finished(), "the CLI waits for the approval");
    let table = cib(url, &approver_token, &approver_cache, &["requests", "list"]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("0/1"),
        "{}",
        String::from_utf8_lossy(&table.stdout)
    );
    let approved = cib(
        url,
        &approver_token,
        &approver_cache,
        &["requests", "approve", &id, "--reason", "checked the ticket"],
    );
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let started = json(&waiting.await.unwrap());
    assert_eq!(started["session"]["id"], id.as_str());
    assert_eq!(started["session"]["status"], "active");
    let creds = e2e::session_credentials(&started);
    assert_eq!(env.try_call(&creds).await, Ok(()), "the credentials it printed work");

    // `cib sessions extend` needs approval too: it waits, and prints the fresh credentials.
    let (url2, token2, cache2, id2) = (env.base_url.clone(), f.token.clone(), temp_dir("extend"), id.clone());
    let extending = tokio::task::spawn_blocking(move || {
        cib(
            &url2,
            &token2,
            &cache2,
            &[
                "--json",
                "sessions",
                "extend",
                &id2,
                "--duration",
                "15m",
                "--reason",
                "the migration runs long",
                "--wait-timeout",
                "2m",
            ],
        )
    });
    let mut asked = false;
    for _ in 0..200 {
        let s = api.get(&format!("/sessions/{id}"), &f.token).await.ok(200);
        if s["pending_extension"].is_object() {
            asked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(asked, "the extension waits for approval");
    let approved = cib(url, &approver_token, &approver_cache, &["requests", "approve", &id]);
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let extended = json(&extending.await.unwrap());
    let fresh = e2e::session_credentials(&extended);
    assert_eq!(env.try_call(&fresh).await, Ok(()), "the fresh credentials work");
    assert_eq!(env.try_call(&creds).await, Ok(()), "and the old ones still do: no gap");
    env.client().end_session(&f.token, &id).await.ok(200);
    assert_eq!(env.try_call(&fresh).await, Err("AccessDenied".into()));
}

/// `cib shell` end to end: the request waits for its approval, then (with no Session Manager
/// plugin on PATH) says how to install it and prints what to run, with credentials that open a
/// Session Manager session on the target and on no other.
#[tokio::test]
async fn shell_waits_for_approval_then_prints_what_to_run() {
    use e2e::shell::{aws_as, shell_fixture, start_ssm};
    let env = env();
    let api = env.client();
    let admin = env.admin();
    let s = shell_fixture(env, "clishell").await;
    s.configure(env).await;
    let target = s.managed(env).await;
    let other = s.managed(env).await;
    let approver = "clishell-approver@example.com";
    let approvers = api
        .post(
            "/groups",
            &admin,
            json!({ "name": "approvers-clishell", "accounts": [], "permissions": {} }),
        )
        .await
        .ok(201);
    let approvers = approvers["id"].as_str().unwrap().to_string();
    api.put(&format!("/groups/{approvers}/members/{approver}"), &admin, json!({}))
        .await
        .ok(201);
    api.patch(
        &format!("/groups/{}", s.f.group),
        &admin,
        json!({ "policy": { "approval": { "approvals_required": 1, "approver_group_ids": [approvers] } } }),
    )
    .await
    .ok(200);

    let cache = temp_dir("shell");
    // A PATH with the tools cib needs but no Session Manager plugin.
    let path = std::env::var("PATH").unwrap_or_default();
    let (url, token, account, t) = (
        env.base_url.clone(),
        s.f.token.clone(),
        s.f.account.clone(),
        target.clone(),
    );
    let waiting = tokio::task::spawn_blocking(move || {
        Command::new(CIB)
            .args([
                "--url",
                &url,
                "shell",
                &t,
                "--account",
                &account,
                "--reason",
                "restart the worker",
            ])
            .args(["--duration", "15m", "--wait-timeout", "2m"])
            .env("XDG_CACHE_HOME", &cache)
            .env("XDG_CONFIG_HOME", &cache)
            .env_remove("CIB_URL")
            .env_remove("CIB_PROFILE")
            .env("CIB_TOKEN", &token)
            .env("PATH", path)
            .output()
            .expect("cib runs")
    });
    let mut id = None;
    for _ in 0..200 {
        let listed = api.get("/requests", &env.user(approver)).await.ok(200);
        if let Some(x) = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["type"] == "shell")
        {
            id = x["id"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let id = id.expect("the shell request is pending");
    assert!(!waiting.is_finished(), "cib waits for the approval");
    api.post(&format!("/sessions/{id}/approvals"), &env.user(approver), json!({}))
        .await
        .ok(200);
    let out = waiting.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("session-manager-working-with-install-plugin"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "aws ssm start-session --target {target} --document-name SSM-SessionManagerRunShell --region eu-west-1"
        )),
        "{stdout}"
    );
    let exported = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} in {stdout}"))
            .to_string()
    };
    let creds = aws_credential_types::Credentials::new(
        exported("AWS_ACCESS_KEY_ID"),
        exported("AWS_SECRET_ACCESS_KEY"),
        Some(exported("AWS_SESSION_TOKEN")),
        None,
        "cib shell",
    );
    let user = aws_as(env, creds).await;
    assert!(
        start_ssm(&user, &target).await.is_ok(),
        "the printed credentials reach the target"
    );
    assert_eq!(start_ssm(&user, &other).await, Err("AccessDeniedException".into()));
    // Handed over once: a second read of the session carries no credentials.
    let again = api.get(&format!("/sessions/{id}"), &s.f.token).await.ok(200);
    assert!(
        again.get("credentials").is_none() && again.get("granted").is_none(),
        "{again}"
    );
}

/// An Identity Center session from the CLI: `--permission-set` starts it, the answer prints the
/// access portal link and the AWS CLI profile (no credential), `sessions list` names the
/// permission set, and `sessions end` ends it: the assignment is gone.
#[tokio::test]
async fn identity_center_sessions_from_the_cli() {
    let env = env();
    let _serial = env.serial().await;
    let org = &env.organization;
    let endpoint = &env.aws_endpoint;
    let prod1 = org.account("prod-1").to_string();
    let e2e::identity_center::Granted {
        account,
        permission_set: read,
        email,
    } = e2e::identity_center::granted(env, "cli", &prod1, "ReadOnly", "clio").await;
    let (cache, url, token) = (temp_dir("identity-center"), env.base_url.as_str(), env.user(&email));

    let started = cib(
        url,
        &token,
        &cache,
        &[
            "sessions",
            "start",
            "--account",
            &account,
            "--permission-set",
            &read,
            "--duration",
            "1h",
            "--reason",
            "INC-30 from the cli",
        ],
    );
    let text = String::from_utf8_lossy(&started.stdout).to_string();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    assert!(
        text.contains("Access portal: https://")
            && text.contains(&format!("sso_account_id = {prod1}"))
            && text.contains("sso_role_name = ReadOnly")
            && !text.contains("AWS_SECRET_ACCESS_KEY"),
        "{text}"
    );
    let listed = cib(url, &token, &cache, &["sessions", "list"]);
    let table = String::from_utf8_lossy(&listed.stdout).to_string();
    let header = table.lines().next().unwrap_or_default();
    let row = table
        .lines()
        .find(|l| l.contains("identity_center"))
        .unwrap_or_default();
    assert!(
        header.contains("ACCESS") && row.contains("ReadOnly") && row.contains("active"),
        "{table}"
    );
    let id = row.split_whitespace().next().unwrap().to_string();
    assert_eq!(
        local_runner::identity_center::assignments(endpoint, org, &prod1, &read)
            .await
            .unwrap()
            .len(),
        1,
        "clio's assignment, made by the start"
    );
    let ended = json(&cib(
        url,
        &token,
        &cache,
        &["--json", "sessions", "end", &id, "--reason", "done"],
    ));
    assert_eq!(ended["status"], "ended", "{ended}");
    assert!(
        local_runner::identity_center::assignments(endpoint, org, &prod1, &read)
            .await
            .unwrap()
            .is_empty(),
        "the assignment is deleted"
    );
}
