//! `cib verify` run as a process against the local system: an account's session log, pending,
//! then vouched for by the digest the expirer signs, then deleted from the bucket as someone
//! with write access to it would. A binary of its own: it moves the broker's clock two hours
//! ahead (so the writes fall in a finished hour), which the other CLI tests, running in
//! parallel in theirs, must not see.

use std::process::{Command, Output};
use std::time::Duration;

use e2e::{env, fixture};
use serde_json::{Value, json};

const CIB: &str = env!("CARGO_BIN_EXE_cib");

/// The token goes in the environment: `cib` refuses it on argv.
fn cib(url: &str, token: &str, home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(CIB)
        .args(["--url", url])
        .args(args)
        .env("XDG_CACHE_HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("CIB_URL")
        .env("CIB_TOKEN", token)
        .env_remove("CIB_PROFILE")
        .output()
        .expect("cib runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `--json`'s report, whatever the exit code.
fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", text(&out.stdout), text(&out.stderr)))
}

/// The last line of the human output: the verdict.
fn verdict(out: &Output) -> String {
    text(&out.stdout).lines().last().unwrap_or_default().to_string()
}

#[tokio::test]
async fn verify_says_verified_until_a_log_is_deleted_from_the_bucket() {
    let env = env();
    let _serial = env.serial().await;
    let f = fixture(env, "cliverify").await;
    let home = std::env::temp_dir().join(format!("cib-test-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let url = env.base_url.as_str();
    // The log's key carries the day of the request (UTC); the range covers it whatever the
    // clock does below.
    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = (
        today.previous_day().unwrap().to_string(),
        today.next_day().unwrap().to_string(),
    );
    // A fresh admin token each time: the broker's clock moves.
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--account",
            f.account.as_str(),
            "--from",
            from.as_str(),
            "--to",
            to.as_str(),
        ];
        args.extend_from_slice(extra);
        cib(url, &env.admin(), &home, &args)
    };

    // A bad day is a usage error, before anything is called.
    let out = cib(
        url,
        &env.admin(),
        &home,
        &["verify", "--account", &f.account, "--from", "yesterday"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let api = env.client();
    let body = json!({ "account_id": f.account, "type": "jit", "role_arn": f.role, "duration_seconds": 900, "reason": "INC-7" });
    let started = api.post("/sessions", &f.token, body).await.ok(201);
    let session = started["session"]["id"].as_str().unwrap().to_string();
    api.end_session(&f.token, &session).await.ok(200);

    // Within its hour no digest covers the log yet: pending, which is not a failure.
    let out = verify(&["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pending = report(&out);
    assert_eq!(pending["valid"], true, "{pending:#}");
    assert_eq!(pending["digest_counts"], json!({}));
    assert_eq!(pending["object_counts"], json!({ "pending": 1 }));
    let log = pending["objects"][0]["key"].as_str().unwrap().to_string();
    assert!(log.ends_with(&format!("/{session}.jsonl")), "{log}");
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.starts_with("digests: none\nobjects: 1 pending\n"), "{printed}");
    assert!(
        printed.lines().any(|l| l.starts_with("pending") && l.contains(&log)),
        "a pending object is listed: {printed}"
    );
    assert_eq!(verdict(&out), "verified");

    // The hour is over: the expirer signs its digest, which vouches for the log.
    env.clock.advance(Duration::from_secs(2 * 3600));
    env.run_expirer().await;
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert_eq!(printed, "digests: 1 valid\nobjects: 1 valid\n\nverified\n");
    let vouched = report(&verify(&["--json"]));
    assert_eq!(vouched["valid"], true, "{vouched:#}");
    assert_eq!(vouched["digest_counts"], json!({ "valid": 1 }));
    assert_eq!(vouched["object_counts"], json!({ "valid": 1 }));
    let digest = vouched["digests"][0]["key"].as_str().unwrap().to_string();
    assert!(digest.starts_with(&format!("digests/{}/", f.account)), "{digest}");
    assert_eq!(vouched["objects"][0]["digest"], digest.as_str());

    // Deleted from the bucket: missing, NOT verified, exit 5, in both forms.
    env.delete_from_log_bucket(&log).await;
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.starts_with("digests: 1 valid\nobjects: 1 missing\n"),
        "{printed}"
    );
    assert!(
        printed
            .lines()
            .any(|l| l.starts_with("missing") && l.contains(&log) && l.contains("not in the bucket")),
        "{printed}"
    );
    assert_eq!(verdict(&out), "NOT verified");
    assert!(text(&out.stderr).contains("do NOT verify"), "{}", text(&out.stderr));
    let out = verify(&["--json"]);
    assert_eq!(out.status.code(), Some(5));
    let missing = report(&out);
    assert_eq!(missing["valid"], false);
    assert_eq!(missing["object_counts"], json!({ "missing": 1 }));
    assert_eq!(missing["objects"][0]["key"], log.as_str());
    assert_eq!(missing["objects"][0]["status"], "missing");

    // API errors keep their codes: an unknown account is refused (1).
    let out = cib(
        url,
        &env.admin(),
        &home,
        &["verify", "--account", "01ARZ3NDEKTSV4RRFFQ69G5FAV"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Not found"), "{}", text(&out.stderr));
}
