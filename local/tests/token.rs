//! `local-runner token`: mints tokens for any local person with the running runner's secret,
//! which `scripts/dev` prints how to use.

use std::process::Command;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

fn mint(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_local-runner"))
        .arg("token")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn tokens_for_any_user_role_and_the_local_bot() {
    let dir = std::env::temp_dir().join(format!("cib-token-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".local")).unwrap();
    let secret = "s".repeat(64);
    std::fs::write(
        dir.join(".local/runner.json"),
        serde_json::json!({ "base_url": "http://127.0.0.1:3000", "jwt_secret": secret }).to_string(),
    )
    .unwrap();
    let claims = |out: std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let token = String::from_utf8(out.stdout).unwrap();
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[local_runner::system::AUDIENCE]);
        v.set_issuer(&[local_runner::system::ISSUER]);
        jsonwebtoken::decode::<serde_json::Value>(token.trim(), &DecodingKey::from_secret(secret.as_bytes()), &v)
            .unwrap()
            .claims
    };
    let bob = claims(mint(&dir, &["--email", "bob@example.com", "--role", "user"]));
    assert_eq!(
        (bob["sub"].as_str(), bob["email"].as_str(), bob["role"].as_str()),
        (Some("bob@example.com"), Some("bob@example.com"), Some("user"))
    );
    let admin = claims(mint(&dir, &["--email", "root@example.com", "--role", "admin"]));
    assert_eq!(admin["role"], "admin");
    let bot = claims(mint(&dir, &["--role", "bot"]));
    assert_eq!(
        (bot["sub"].as_str(), bot["role"].as_str()),
        (Some(local_runner::system::LOCAL_BOT), Some("bot"))
    );
    assert!(bot.get("email").is_none());
    // Usage errors are errors.
    assert_eq!(mint(&dir, &["--role", "user"]).status.code(), Some(2));
    assert_eq!(
        mint(&dir, &["--email", "x@example.com", "--role", "root"])
            .status
            .code(),
        Some(2)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
