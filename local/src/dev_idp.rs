//! The development sign-in: a local stand-in for an OIDC identity provider, so that the web
//! console signs in locally exactly as it does in a deployment (authorization code with PKCE,
//! S256), on its own origin. Its page lets anyone pick any e-mail and role, and says so; the
//! tokens come from the runner's minter, so the API validates them as any other local token.
//! It exists only in the local runner: a deployment names its real identity provider.
//!
//! Refresh tokens rotate as the OAuth 2.0 Security BCP asks of a public client (RFC 9700
//! §4.14.2): each is used once and answered with a new one; a used one presented again revokes
//! the whole sign-in (its family), since only a thief would present it. A sign-in lasts the
//! working day (`SIGN_IN_TTL`), however often it is refreshed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};
use shared::auth::Role;

use crate::system::Minter;

/// The console's client id at the development sign-in.
pub const CLIENT_ID: &str = "cib-console-local";
/// How long a code may wait for its exchange.
const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a token lives unless the runner is told otherwise (`--console-token-seconds`).
pub const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// How long a sign-in may be refreshed: a working day.
const SIGN_IN_TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(Clone)]
pub struct DevIdp {
    minter: Minter,
    /// The console's origin: its redirect URI is `{origin}/`, and only it may exchange codes.
    console_origin: String,
    token_ttl: Duration,
    codes: Arc<Mutex<HashMap<String, Pending>>>,
    refresh: Arc<Mutex<Refresh>>,
}

/// The refresh tokens handed out: live ones, and used ones kept to catch a replay.
#[derive(Default)]
struct Refresh {
    live: HashMap<String, SignIn>,
    /// A used token -> its family.
    used: HashMap<String, u128>,
    revoked: HashSet<u128>,
}

#[derive(Clone, Debug)]
struct SignIn {
    email: String,
    role: Role,
    family: u128,
    /// The end of the sign-in, not of this token: rotation does not extend it.
    until: Instant,
}

struct Pending {
    email: String,
    role: Role,
    challenge: String,
    redirect_uri: String,
    expires: Instant,
}

/// What the authorization request carries (RFC 6749 §4.1.1, RFC 7636 §4.3).
#[derive(serde::Deserialize)]
pub struct Authorize {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    /// The person picked on the page (the form's answer only).
    email: Option<String>,
    role: Option<String>,
}

/// The token request (RFC 6749 §4.1.3, RFC 7636 §4.5).
#[derive(serde::Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    code_verifier: String,
    #[serde(default)]
    refresh_token: String,
}

impl DevIdp {
    /// Starts on a free loopback port; returns its base URL.
    pub async fn start(minter: Minter, console_origin: String, token_ttl: Duration) -> Result<String, String> {
        let idp = DevIdp {
            minter,
            console_origin,
            token_ttl,
            codes: Default::default(),
            refresh: Default::default(),
        };
        let router = axum::Router::new()
            .route("/authorize", axum::routing::get(page).post(decide))
            .route("/token", axum::routing::post(token))
            .with_state(idp.clone());
        let addr = crate::serve_on_loopback(0, router).await?;
        Ok(format!("http://{addr}"))
    }

    fn redirect_uri(&self) -> String {
        format!("{}/", self.console_origin)
    }

    /// The checks both the page and its answer make.
    fn check(&self, a: &Authorize) -> Result<(), String> {
        if a.response_type != "code" {
            return Err("response_type must be code".into());
        }
        if a.client_id != CLIENT_ID {
            return Err(format!("unknown client_id (this sign-in knows {CLIENT_ID})"));
        }
        if a.redirect_uri != self.redirect_uri() {
            return Err("redirect_uri is not the console's".into());
        }
        if a.code_challenge_method != "S256" || !(43..=128).contains(&a.code_challenge.len()) {
            return Err("PKCE is required: code_challenge with code_challenge_method=S256".into());
        }
        Ok(())
    }
}

fn bad_request(detail: String) -> Response {
    (StatusCode::BAD_REQUEST, detail).into_response()
}

/// Text for an HTML attribute or element.
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

async fn page(State(idp): State<DevIdp>, Query(a): Query<Authorize>) -> Response {
    if let Err(e) = idp.check(&a) {
        return bad_request(e);
    }
    let hidden: String = [
        ("response_type", &a.response_type),
        ("client_id", &a.client_id),
        ("redirect_uri", &a.redirect_uri),
        ("state", &a.state),
        ("code_challenge", &a.code_challenge),
        ("code_challenge_method", &a.code_challenge_method),
    ]
    .iter()
    .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, escape(v)))
    .collect();
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Development sign-in — Cloud IAM Broker</title></head>
<body>
<main>
<h1>Development sign-in</h1>
<p><strong>For scripts/dev only.</strong> Anyone can sign in here as anyone, with any role. A deployment
signs in with your identity provider instead.</p>
<form method="post" action="/authorize">
{hidden}
<p><label for="email">E-mail</label><br><input id="email" name="email" type="email" required value="alice@example.com"></p>
<p><label for="role">Role</label><br><select id="role" name="role">
<option value="user">user</option><option value="admin">admin</option><option value="auditor">auditor</option>
</select></p>
<p><button type="submit">Sign in</button></p>
</form>
</main>
</body></html>"#
    );
    let mut resp = axum::response::Html(html).into_response();
    let csp = format!(
        "default-src 'none'; form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'",
        idp.console_origin
    );
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&csp).expect("a loopback origin is header-safe"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn decide(State(idp): State<DevIdp>, Form(a): Form<Authorize>) -> Response {
    if let Err(e) = idp.check(&a) {
        return bad_request(e);
    }
    let email = a.email.clone().unwrap_or_default();
    if !shared::domain::looks_like_email(&email) {
        return bad_request("an e-mail address is required".into());
    }
    let role = match a.role.as_deref().and_then(Role::parse) {
        Some(r @ (Role::User | Role::Admin | Role::Auditor)) => r,
        _ => return bad_request("role must be user, admin or auditor".into()),
    };
    let code = format!("{:x}", rand::random::<u128>());
    let mut codes = idp.codes.lock().unwrap();
    codes.retain(|_, p| p.expires > Instant::now());
    codes.insert(
        code.clone(),
        Pending {
            email,
            role,
            challenge: a.code_challenge.clone(),
            redirect_uri: a.redirect_uri.clone(),
            expires: Instant::now() + CODE_TTL,
        },
    );
    let location = format!(
        "{}?code={code}&state={}",
        a.redirect_uri,
        shared::encoding::percent_encode(&a.state)
    );
    let mut resp = StatusCode::SEE_OTHER.into_response();
    resp.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/")),
    );
    resp
}

/// RFC 6749 §5.2's error answer.
fn token_error(idp: &DevIdp, error: &str, description: &str) -> Response {
    let mut resp = (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response();
    cors(idp, &mut resp);
    resp
}

/// Identity providers let a single-page app's origin read the token answer.
fn cors(idp: &DevIdp, resp: &mut Response) {
    if let Ok(origin) = HeaderValue::from_str(&idp.console_origin) {
        resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The S256 challenge of a verifier (RFC 7636 §4.2).
pub fn challenge_of(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn token(State(idp): State<DevIdp>, Form(t): Form<TokenRequest>) -> Response {
    if t.client_id != CLIENT_ID {
        return token_error(&idp, "invalid_client", "unknown client_id");
    }
    let sign_in = match t.grant_type.as_str() {
        "authorization_code" => match exchange(&idp, &t) {
            Ok(p) => SignIn {
                email: p.email,
                role: p.role,
                family: rand::random(),
                until: Instant::now() + SIGN_IN_TTL,
            },
            Err(e) => return token_error(&idp, "invalid_grant", e),
        },
        "refresh_token" => match idp.refresh.lock().unwrap().redeem(&t.refresh_token) {
            Ok(s) => s,
            Err(e) => return token_error(&idp, "invalid_grant", e),
        },
        _ => return token_error(&idp, "unsupported_grant_type", "authorization_code or refresh_token"),
    };
    // Never past the sign-in's own end.
    let ttl = idp
        .token_ttl
        .min(sign_in.until.saturating_duration_since(Instant::now()));
    let jwt = idp
        .minter
        .token(sign_in.role, &sign_in.email, Some(&sign_in.email), ttl);
    let refresh_token = format!("{:x}{:x}", rand::random::<u128>(), rand::random::<u128>());
    idp.refresh.lock().unwrap().live.insert(refresh_token.clone(), sign_in);
    let mut resp = axum::Json(serde_json::json!({
        "access_token": jwt,
        "id_token": jwt,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
        "refresh_token": refresh_token,
    }))
    .into_response();
    cors(&idp, &mut resp);
    resp
}

/// The authorization code's checks (RFC 6749 §4.1.3, RFC 7636 §4.6).
fn exchange(idp: &DevIdp, t: &TokenRequest) -> Result<Pending, &'static str> {
    // A code is used once, whatever the outcome.
    let pending = idp
        .codes
        .lock()
        .unwrap()
        .remove(&t.code)
        .ok_or("unknown or used code")?;
    if pending.expires <= Instant::now() {
        return Err("the code expired");
    }
    if pending.redirect_uri != t.redirect_uri {
        return Err("redirect_uri differs from the authorization request's");
    }
    if challenge_of(&t.code_verifier) != pending.challenge {
        return Err("code_verifier does not match the code_challenge");
    }
    Ok(pending)
}

impl Refresh {
    /// Uses `token` once; a replay revokes its family (RFC 9700 §4.14.2).
    fn redeem(&mut self, token: &str) -> Result<SignIn, &'static str> {
        if let Some(family) = self.used.get(token).copied() {
            self.revoked.insert(family);
            self.live.retain(|_, s| s.family != family);
            return Err("the refresh token was used before: the sign-in is revoked");
        }
        let sign_in = self.live.remove(token).ok_or("unknown refresh token")?;
        self.used.insert(token.to_string(), sign_in.family);
        if self.revoked.contains(&sign_in.family) || sign_in.until <= Instant::now() {
            return Err("the sign-in ended: sign in again");
        }
        Ok(sign_in)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_challenge_is_rfc_7636s() {
        // RFC 7636, Appendix B.
        assert_eq!(
            super::challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_refresh_token_is_used_once_and_its_replay_ends_the_sign_in() {
        let mut r = super::Refresh::default();
        let sign_in = super::SignIn {
            email: "a@example.com".into(),
            role: shared::auth::Role::User,
            family: 7,
            until: std::time::Instant::now() + std::time::Duration::from_secs(60),
        };
        r.live.insert("first".into(), sign_in.clone());
        assert!(r.redeem("first").is_ok());
        // The rotation's new token, then the old one replayed: both end.
        r.live.insert("second".into(), sign_in);
        assert!(r.redeem("first").unwrap_err().contains("revoked"));
        assert!(r.redeem("second").is_err());
    }

    #[test]
    fn page_values_are_escaped() {
        assert_eq!(super::escape(r#""><script>"#), "&quot;&gt;&lt;script&gt;");
    }
}
