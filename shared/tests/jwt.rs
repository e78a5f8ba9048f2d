//! JWT validation with asymmetric keys from a JWKS file or URL: algorithm pinning, key
//! confusion, unknown `kid` refresh and its rate limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use shared::auth::{AuthError, Authenticator, JwtConfig, KeySource, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

fn config(algorithm: Algorithm, keys: KeySource) -> JwtConfig {
    JwtConfig {
        issuer: "https://idp.example".into(),
        audience: "cloud-iam-broker".into(),
        algorithm,
        keys,
        leeway_seconds: 0,
        claims: Default::default(),
        bots: Default::default(),
    }
}

fn claims() -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({ "sub": "alice", "email": "alice@example.com", "role": "user", "iss": "https://idp.example", "aud": "cloud-iam-broker", "exp": now + 300, "nbf": now - 5 })
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, &claims(), key).unwrap()
}

fn es_key() -> EncodingKey {
    EncodingKey::from_ec_pem(fixture("test-only-es256.pem").as_bytes()).unwrap()
}

fn rs_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(fixture("test-only-rs256.pem").as_bytes()).unwrap()
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[tokio::test]
async fn es256_from_a_jwks_file() {
    let auth = Authenticator::new(config(
        Algorithm::ES256,
        KeySource::JwksFile(format!("{FIXTURES}/test-only-jwks.json")),
    ))
    .unwrap();
    let p = auth
        .authenticate(Some(&bearer(&sign(Algorithm::ES256, Some("es-1"), &es_key()))))
        .await
        .unwrap();
    assert_eq!(
        (p.subject.as_str(), p.role, p.email.as_deref()),
        ("alice", Role::User, Some("alice@example.com"))
    );

    // RS256 is a valid key of the same JWKS, but the algorithm is pinned to ES256.
    let rs = sign(Algorithm::RS256, Some("rs-1"), &rs_key());
    assert!(matches!(
        auth.authenticate(Some(&bearer(&rs))).await,
        Err(AuthError::Invalid(_))
    ));
    // Unknown and missing kid.
    let unknown = sign(Algorithm::ES256, Some("nope"), &es_key());
    assert_eq!(
        auth.authenticate(Some(&bearer(&unknown))).await,
        Err(AuthError::Invalid("unknown key id".into()))
    );
    let no_kid = sign(Algorithm::ES256, None, &es_key());
    assert!(auth.authenticate(Some(&bearer(&no_kid))).await.is_err());
}

#[tokio::test]
async fn hs_rs_confusion_is_refused() {
    // The classic attack: sign HS256 with the RSA *public* key as the HMAC secret.
    let auth = Authenticator::new(config(
        Algorithm::RS256,
        KeySource::JwksFile(format!("{FIXTURES}/test-only-jwks.json")),
    ))
    .unwrap();
    let public = fixture("test-only-rs256.pub.pem");
    let forged = sign(
        Algorithm::HS256,
        Some("rs-1"),
        &EncodingKey::from_secret(public.as_bytes()),
    );
    assert!(matches!(
        auth.authenticate(Some(&bearer(&forged))).await,
        Err(AuthError::Invalid(_))
    ));
    let good = sign(Algorithm::RS256, Some("rs-1"), &rs_key());
    assert!(auth.authenticate(Some(&bearer(&good))).await.is_ok());
    // Configuration that pairs a shared secret with RS256 is refused at start.
    assert!(
        Authenticator::new(config(
            Algorithm::RS256,
            KeySource::Secret(shared::domain::Secret::new("x".repeat(40)))
        ))
        .is_err()
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let auth = Authenticator::new(config(
        Algorithm::HS256,
        KeySource::Secret(shared::domain::Secret::new("s".repeat(40))),
    ))
    .unwrap();
    use base64::Engine;
    let enc = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!("{}.{}.", enc(json!({ "alg": "none", "typ": "JWT" })), enc(claims()));
    assert!(matches!(
        auth.authenticate(Some(&bearer(&token))).await,
        Err(AuthError::Invalid(_))
    ));
}

/// Serves the fixture JWKS (or only the EC key before `full` is set) and counts fetches.
async fn jwks_server(fetches: Arc<AtomicUsize>, full: Arc<std::sync::atomic::AtomicBool>) -> String {
    jwks_server_that_fails(fetches, full, Arc::new(std::sync::atomic::AtomicBool::new(false))).await
}

/// As `jwks_server`, answering 503 while `down` is set.
async fn jwks_server_that_fails(
    fetches: Arc<AtomicUsize>,
    full: Arc<std::sync::atomic::AtomicBool>,
    down: Arc<std::sync::atomic::AtomicBool>,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let fetches = fetches.clone();
            let full = full.clone();
            let down = down.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                fetches.fetch_add(1, Ordering::SeqCst);
                if down.load(Ordering::SeqCst) {
                    let _ = sock
                        .write_all(
                            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    return;
                }
                let mut jwks: serde_json::Value = serde_json::from_str(&fixture("test-only-jwks.json")).unwrap();
                if !full.load(Ordering::SeqCst) {
                    jwks["keys"].as_array_mut().unwrap().retain(|k| k["kid"] == "es-1");
                }
                let body = jwks.to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/.well-known/jwks.json")
}

/// A clock the test moves: the refresh limit and the cache's TTL are checked, not waited out.
fn moved_clock() -> (Arc<std::sync::atomic::AtomicU64>, shared::auth::Monotonic) {
    let base = std::time::Instant::now();
    let offset = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let o = offset.clone();
    (
        offset,
        Arc::new(move || base + std::time::Duration::from_secs(o.load(Ordering::SeqCst))),
    )
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_the_refresh_limit_passes_and_the_cache_expires() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let full = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = jwks_server(fetches.clone(), full.clone()).await;
    let (offset, clock) = moved_clock();
    let auth = Authenticator::new(config(Algorithm::RS256, KeySource::JwksUrl(url)))
        .unwrap()
        .with_clock(clock);
    // The identity provider serves only es-1: a token signed with rs-1 is refused.
    let rotated = sign(Algorithm::RS256, Some("rs-1"), &rs_key());
    assert!(auth.authenticate(Some(&bearer(&rotated))).await.is_err());
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // It rotates rs-1 in; 29 s after the fetch the limit still holds.
    full.store(true, Ordering::SeqCst);
    offset.store(29, Ordering::SeqCst);
    assert!(auth.authenticate(Some(&bearer(&rotated))).await.is_err());
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "no refresh within 30 s");
    // Past 30 s the unknown kid refreshes the keys, once; then the cache serves.
    offset.store(31, Ordering::SeqCst);
    auth.authenticate(Some(&bearer(&rotated))).await.unwrap();
    auth.authenticate(Some(&bearer(&rotated))).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // After the cache's TTL (10 minutes) even a known kid is fetched again.
    offset.store(31 + 599, Ordering::SeqCst);
    auth.authenticate(Some(&bearer(&rotated))).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "within the TTL");
    offset.store(31 + 601, Ordering::SeqCst);
    auth.authenticate(Some(&bearer(&rotated))).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 3, "past the TTL");
}

#[tokio::test]
async fn jwks_url_is_cached_and_refreshed_for_unknown_kid_at_most_every_30s() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let full = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = jwks_server(fetches.clone(), full.clone()).await;
    let (offset, clock) = moved_clock();
    let auth = Authenticator::new(config(Algorithm::ES256, KeySource::JwksUrl(url)))
        .unwrap()
        .with_clock(clock);
    let token = sign(Algorithm::ES256, Some("es-1"), &es_key());
    for _ in 0..5 {
        auth.authenticate(Some(&bearer(&token))).await.unwrap();
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "cached after the first fetch");

    // A flood of unknown kids within 30 s of a fetch causes no further fetches, even once the
    // identity provider has published the key.
    let unknown = sign(Algorithm::ES256, Some("rotated"), &es_key());
    full.store(true, Ordering::SeqCst);
    for second in [0, 10, 29] {
        offset.store(second, Ordering::SeqCst);
        assert!(auth.authenticate(Some(&bearer(&unknown))).await.is_err());
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "unknown kids are rate-limited");
    // At 30 s one unknown kid refreshes, once; the flood goes on without fetching.
    offset.store(30, Ordering::SeqCst);
    for _ in 0..5 {
        assert!(auth.authenticate(Some(&bearer(&unknown))).await.is_err());
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "one refresh per 30 s");
    // The cache still serves the known key.
    auth.authenticate(Some(&bearer(&token))).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failed_fetch_is_remembered_and_stale_keys_serve_for_a_bounded_time() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let full = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let url = jwks_server_that_fails(fetches.clone(), full, down.clone()).await;
    let (offset, clock) = moved_clock();
    let auth = Authenticator::new(config(Algorithm::ES256, KeySource::JwksUrl(url)))
        .unwrap()
        .with_clock(clock);
    let token = sign(Algorithm::ES256, Some("es-1"), &es_key());
    // Down from the start: refused as unavailable, and the failure is remembered for 30 s.
    for _ in 0..5 {
        assert_eq!(
            auth.authenticate(Some(&bearer(&token))).await,
            Err(AuthError::KeysUnavailable)
        );
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "no refetch on every request while down"
    );
    // Up again after 30 s: keys fetched.
    down.store(false, Ordering::SeqCst);
    offset.store(30, Ordering::SeqCst);
    auth.authenticate(Some(&bearer(&token))).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // Down again. Past the cache's TTL (600 s) the stale keys still serve, with one fetch
    // attempt per 30 s...
    down.store(true, Ordering::SeqCst);
    offset.store(30 + 601, Ordering::SeqCst);
    for _ in 0..3 {
        auth.authenticate(Some(&bearer(&token))).await.unwrap();
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
    // ...until an hour past the TTL; then requests fail rather than trust old keys.
    offset.store(30 + 600 + 3599, Ordering::SeqCst);
    auth.authenticate(Some(&bearer(&token))).await.unwrap();
    offset.store(30 + 600 + 3601, Ordering::SeqCst);
    assert_eq!(
        auth.authenticate(Some(&bearer(&token))).await,
        Err(AuthError::KeysUnavailable)
    );
}

#[test]
fn a_jwks_url_must_be_https() {
    assert!(
        Authenticator::new(config(
            Algorithm::RS256,
            KeySource::JwksUrl("http://idp.example/keys".into())
        ))
        .is_err()
    );
    assert!(
        Authenticator::new(config(
            Algorithm::RS256,
            KeySource::JwksUrl("https://idp.example/keys".into())
        ))
        .is_ok()
    );
}

#[tokio::test]
async fn unknown_kid_triggers_a_refresh() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let full = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let url = jwks_server(fetches.clone(), full).await;
    let auth = Authenticator::new(config(Algorithm::RS256, KeySource::JwksUrl(url))).unwrap();
    // The cache starts empty: the first kid is unknown and fetched.
    let token = sign(Algorithm::RS256, Some("rs-1"), &rs_key());
    auth.authenticate(Some(&bearer(&token))).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unreachable_jwks_is_not_an_authentication_failure() {
    let auth = Authenticator::new(config(
        Algorithm::ES256,
        KeySource::JwksUrl("http://127.0.0.1:9/jwks".into()),
    ))
    .unwrap();
    let token = sign(Algorithm::ES256, Some("es-1"), &es_key());
    assert_eq!(
        auth.authenticate(Some(&bearer(&token))).await,
        Err(AuthError::KeysUnavailable)
    );
}
