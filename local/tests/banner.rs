//! `scripts/dev`'s terminal: the banner a newcomer reads, with the logs in `.local/runner.log`
//! rather than JSON lines interleaved with it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn the_banner_is_not_interleaved_with_logs() {
    let dir = std::env::temp_dir().join(format!("cib-banner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut runner = Command::new(env!("CARGO_BIN_EXE_local-runner"))
        .args(["--port", "0", "--expirer-seconds", "1"])
        .current_dir(&dir)
        .env_remove("AWS_ENDPOINT_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = Vec::new();
    for line in BufReader::new(runner.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let last = line.starts_with("Ctrl-C");
        banner.push(line);
        if last {
            break;
        }
    }
    // Let the expirer (every second here) log a few runs.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let _ = runner.kill();
    let _ = runner.wait();
    let log = std::fs::read_to_string(dir.join(".local/runner.log")).unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        banner.iter().any(|l| l.starts_with("Cloud IAM Broker is running on")),
        "{banner:#?}"
    );
    assert!(
        banner.iter().any(|l| l.contains("token --email")),
        "how to mint tokens: {banner:#?}"
    );
    assert!(
        banner.iter().all(|l| !l.trim_start().starts_with('{')),
        "a log line in the banner: {banner:#?}"
    );
    assert!(
        log.lines().any(|l| l.contains("expirer run")),
        "the logs went to the file: {log}"
    );
}
