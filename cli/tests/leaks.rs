//! What `cib` must not give away, run as a process against a stub API (a thread answering canned
//! JSON on a loopback port; no local system needed): the console sign-in URL on a browser's
//! command line, where `ps` shows it to every user of the machine, and a transcript's recorded
//! escape sequences to the reviewer's terminal, where they can hide what was typed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const CIB: &str = env!("CARGO_BIN_EXE_cib");
/// A console sign-in URL as the API hands it out: its sign-in token is the secret.
const SIGNIN: &str = "https://signin.aws.amazon.com/federation?Action=login&Issuer=cib&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2F&SigninToken=s3cret-sign-in-token";
/// A recorded shell: a command wiped from its line (ESC [2K, then a carriage return), CRLF line
/// ends, an OSC 8 link whose text is not where it goes, a C1 CSI clearing the screen, a bell.
const RECORDED: &str =
    "$ rm -rf /data\x1b[2K\r$ ls\r\nfiles\r\n\x1b]8;;https://evil.example/\x07docs\x1b]8;;\x1b\\\n\u{9b}2J\tdone\x07\n";
/// `RECORDED` as `cib sessions transcript` shows it.
const SHOWN: &str =
    "$ rm -rf /data^[[2K^M$ ls^M\nfiles^M\n^[]8;;https://evil.example/^Gdocs^[]8;;^[\\\n\\u{9b}2J\tdone^G\n";

/// A fresh folder of its own under the system's temporary one.
fn home(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cib-leaks-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stub API on a loopback port: each request, on a connection of its own, gets the status and
/// JSON `answer(method, path)` gives. Returns its URL.
fn stub(answer: fn(&str, &str) -> (u16, Value)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = reply(stream, answer);
        }
    });
    url
}

/// Reads one request (its line, headers and body), answers it and closes the connection.
fn reply(mut stream: TcpStream, answer: fn(&str, &str) -> (u16, Value)) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut length: usize = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, answered) = answer(method, path);
    let answered = answered.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} Stub\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answered}",
        answered.len()
    )?;
    stream.flush()
}

/// `cib` against the stub, its files in `home`, the token in the environment.
fn cib(url: &str, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(CIB);
    cmd.args(["--url", url])
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("XDG_CACHE_HOME", home)
        .env("CIB_TOKEN", "stub-token")
        .env_remove("CIB_URL")
        .env_remove("CIB_PROFILE");
    // The stub is on loopback: no proxy in between.
    for proxy in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        cmd.env_remove(proxy);
    }
    cmd
}

#[cfg(unix)]
#[test]
fn console_open_hands_the_browser_a_private_page_never_the_url() {
    use std::os::unix::fs::PermissionsExt;
    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }
    let home = home("open");
    let url = stub(|method, path| match (method, path) {
        ("POST", "/sessions") => (
            201,
            json!({ "session": { "id": "01JC", "type": "jit", "status": "active" }, "console_url": SIGNIN }),
        ),
        _ => (404, json!({ "title": "Not found", "detail": path })),
    });
    // The opener `cib` tries first, on PATH ahead of any real one: it keeps its arguments, and
    // the page it was given as a browser would read it.
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let opener = bin.join("xdg-open");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{seen}/argv'\ncat \"$1\" > '{seen}/page'\n",
            seen = home.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = home.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let out = cib(
        &url,
        &home,
        &[
            "console",
            "--account",
            "01JA",
            "--role",
            "arn:aws:iam::123456789012:role/OnCall",
            "--reason",
            "look at the console",
            "--open",
        ],
    )
    .env("PATH", path)
    .env("TMPDIR", &tmp)
    .output()
    .expect("cib runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("no browser"), "the opener opened it: {stderr}");
    assert!(!stderr.contains("s3cret-sign-in-token"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        SIGNIN,
        "the URL is printed, as before"
    );

    // The opener's command line: a page's path, not the URL.
    let argv = std::fs::read_to_string(home.join("argv")).expect("the opener ran");
    assert!(
        !argv.contains("s3cret-sign-in-token") && !argv.contains("signin.aws.amazon.com"),
        "the URL is not on the opener's command line: {argv}"
    );
    let args: Vec<&str> = argv.lines().collect();
    assert_eq!(args.len(), 1, "{argv}");
    let page = Path::new(args[0]);
    let dir = page.parent().unwrap();
    assert_eq!(
        dir.parent(),
        Some(tmp.as_path()),
        "a folder of its own under TMPDIR: {argv}"
    );
    assert_eq!(mode(page), 0o600, "the page only this user reads");
    assert_eq!(mode(dir), 0o700, "in a folder only this user enters");

    // The page sends the browser on to the URL (HTML-escaped in it).
    let read = std::fs::read_to_string(home.join("page")).unwrap();
    assert!(read.contains("<meta http-equiv=\"refresh\""), "{read}");
    let target = read
        .split("url=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no refresh: {read}"));
    assert!(!target.contains("&Issuer"), "escaped: {target}");
    assert_eq!(target.replace("&amp;", "&"), SIGNIN, "{read}");
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn a_transcript_shows_its_control_characters_unless_raw() {
    let home = home("transcript");
    let url = stub(|method, path| match (method, path) {
        ("GET", "/sessions/01JS/transcripts/alice-0abc") => (200, json!({ "content": RECORDED, "truncated": false })),
        _ => (404, json!({ "title": "Not found", "detail": path })),
    });
    let transcript = |extra: &[&str]| {
        let mut args = vec!["sessions", "transcript", "01JS", "alice-0abc"];
        args.extend_from_slice(extra);
        let out = cib(&url, &home, &args).output().expect("cib runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };

    let shown = transcript(&[]);
    assert_eq!(String::from_utf8_lossy(&shown), SHOWN);
    assert!(
        !shown.contains(&0x1b) && !shown.contains(&b'\r') && !shown.windows(2).any(|w| w == [0xc2_u8, 0x9b]),
        "no ESC, CR or C1 CSI reaches the terminal"
    );
    assert_eq!(
        transcript(&["--raw"]),
        RECORDED.as_bytes(),
        "--raw: the bytes as they were recorded"
    );
    std::fs::remove_dir_all(&home).unwrap();
}
