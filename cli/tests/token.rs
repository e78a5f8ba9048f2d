//! Where `cib` takes its bearer token from, run as a process: never argv (`ps` shows it to every
//! user of the machine); `CIB_TOKEN`, `--token-stdin`, or the config file. Needs no API: a refused
//! token stops before any call, and an accepted one reaches the network, which fails (exit 4) on
//! a closed port.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const CIB: &str = env!("CARGO_BIN_EXE_cib");
/// Nothing listens here: a command that got as far as calling the API exits 4.
const CLOSED: &str = "http://127.0.0.1:9";
const TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.c2VjcmV0";

fn home(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cib-token-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cib` with no token but what the test gives it, and `stdin` on standard input.
fn cib(home: &std::path::Path, env_token: Option<&str>, stdin: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(CIB);
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("XDG_CACHE_HOME", home)
        .env_remove("CIB_URL")
        .env_remove("CIB_PROFILE")
        .env_remove("CIB_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = env_token {
        cmd.env("CIB_TOKEN", t);
    }
    let mut child = cmd.spawn().expect("cib runs");
    // cib may exit before reading: a closed pipe is not the test's failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_token_on_the_command_line_is_refused_with_where_to_put_it() {
    let home = home("argv");
    let with_equals = format!("--token={TOKEN}");
    let process = [
        "--url",
        CLOSED,
        "--token",
        TOKEN,
        "credential-process",
        "--account",
        "a",
        "--role",
        "r",
        "--reason",
        "x",
    ];
    let cases: [&[&str]; 5] = [
        &["--url", CLOSED, "--token", TOKEN, "me"],
        &["--url", CLOSED, "me", with_equals.as_str()],
        &["--url", CLOSED, "me", "--token"],
        &process,
        &["--token", TOKEN, "configure", "--url", CLOSED],
    ];
    for args in cases {
        // Refused even with a good token in the environment too.
        let out = cib(&home, Some(TOKEN), TOKEN, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for hint in ["CIB_TOKEN", "--token-stdin", "config file"] {
            assert!(err.contains(hint), "{args:?}: {err}");
        }
        assert!(!err.contains(TOKEN), "the refusal does not repeat the token: {err}");
    }
    assert!(
        !home.join("cloud-iam-broker").join("config.toml").exists(),
        "configure saved nothing"
    );
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn the_token_comes_from_the_environment_standard_input_or_the_config_file() {
    let home = home("sources");
    let me = ["--url", CLOSED, "me"];

    let out = cib(&home, Some(TOKEN), "", &me);
    assert_eq!(out.status.code(), Some(4), "CIB_TOKEN is used: {}", stderr(&out));

    let stdin = ["--url", CLOSED, "--token-stdin", "me"];
    let out = cib(&home, None, &format!("  {TOKEN}  \nnot the token\n"), &stdin);
    assert_eq!(
        out.status.code(),
        Some(4),
        "one line of standard input is used: {}",
        stderr(&out)
    );
    let out = cib(&home, None, "\n", &stdin);
    assert_eq!(out.status.code(), Some(2), "an empty line is no token");
    assert!(stderr(&out).contains("no token on standard input"), "{}", stderr(&out));

    let out = cib(&home, None, "", &me);
    assert_eq!(out.status.code(), Some(2), "no token anywhere");
    let err = stderr(&out);
    assert!(err.contains("CIB_TOKEN") && err.contains("--token-stdin"), "{err}");

    // `configure` keeps it, privately, for the calls after.
    let out = cib(&home, None, &format!("{TOKEN}\n"), &["configure", "--url", CLOSED]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cib(&home, None, "", &["me"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "the config file's token is used: {}",
        stderr(&out)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(home.join("cloud-iam-broker").join("config.toml")), 0o600);
        assert_eq!(mode(home.join("cloud-iam-broker")), 0o700);
    }
    std::fs::remove_dir_all(&home).unwrap();
}
