//! JWT validation: the algorithm is pinned by configuration (a token cannot choose it),
//! `iss`, `aud`, `exp` and `nbf` are always checked, and keys come from a shared secret
//! (HS256, local runs) or a JWKS file or URL (RS256/ES256, deployments). A JWKS fetched from a
//! URL is cached and fetched again when a token names an unknown `kid`, at most every 30 s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::RwLock;

use super::{Principal, Role};
use crate::domain::Secret;

/// Where verification keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A shared HS256 secret (local runs and tests).
    Secret(Secret),
    /// A JWKS document on disk.
    JwksFile(String),
    /// A JWKS endpoint of the identity provider.
    JwksUrl(String),
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub algorithm: Algorithm,
    pub keys: KeySource,
    /// Clock skew tolerated on `exp`/`nbf`.
    pub leeway_seconds: u64,
}

/// Why a request is not authenticated. The message is safe to return: it never includes the
/// token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send Authorization: Bearer <token>")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("the identity provider's keys could not be fetched")]
    KeysUnavailable,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    role: String,
}

const JWKS_TTL: Duration = Duration::from_secs(600);
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// A monotonic clock; tests move it instead of waiting out the JWKS refresh limits.
pub type Monotonic = std::sync::Arc<dyn Fn() -> Instant + Send + Sync>;

pub struct Authenticator {
    config: JwtConfig,
    validation: Validation,
    cache: RwLock<KeyCache>,
    http: Option<reqwest::Client>,
    now: Monotonic,
}

impl Authenticator {
    pub fn new(config: JwtConfig) -> Result<Self, String> {
        let family_ok = match (&config.keys, config.algorithm) {
            (KeySource::Secret(_), Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => true,
            (KeySource::Secret(_), _) => false,
            (
                _,
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::PS256,
            ) => true,
            _ => false,
        };
        if !family_ok {
            return Err(format!(
                "JWT algorithm {:?} does not fit the configured key source",
                config.algorithm
            ));
        }
        let mut validation = Validation::new(config.algorithm);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = config.leeway_seconds;
        let mut keys = HashMap::new();
        match &config.keys {
            KeySource::Secret(secret) => {
                if secret.expose().len() < 32 {
                    return Err("the JWT HS256 secret must be at least 32 bytes".into());
                }
                keys.insert(String::new(), DecodingKey::from_secret(secret.expose().as_bytes()));
            }
            KeySource::JwksFile(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("reading JWKS file {path}: {e}"))?;
                let set: JwkSet = serde_json::from_str(&text).map_err(|e| format!("parsing JWKS file {path}: {e}"))?;
                keys = keys_of(&set);
            }
            KeySource::JwksUrl(_) => {}
        }
        let http = matches!(config.keys, KeySource::JwksUrl(_))
            .then(|| reqwest::Client::builder().timeout(Duration::from_secs(5)).build())
            .transpose()
            .map_err(|e| format!("building the JWKS client: {e}"))?;
        Ok(Authenticator {
            config,
            validation,
            cache: RwLock::new(KeyCache { keys, fetched: None }),
            http,
            now: std::sync::Arc::new(Instant::now),
        })
    }

    /// Replaces the clock the JWKS cache's TTL and refresh limit are measured with.
    pub fn with_clock(mut self, now: Monotonic) -> Self {
        self.now = now;
        self
    }

    fn since(&self, t: Instant) -> Duration {
        (self.now)().saturating_duration_since(t)
    }

    /// Authenticates an `Authorization` header value.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let head = decode_header(token).map_err(|_| AuthError::Invalid("malformed token".into()))?;
        if head.alg != self.config.algorithm {
            return Err(AuthError::Invalid(format!(
                "algorithm must be {:?}",
                self.config.algorithm
            )));
        }
        let key = self.key_for(head.kid.as_deref()).await?;
        let data = decode::<Claims>(token, &key, &self.validation).map_err(|e| AuthError::Invalid(reason(&e)))?;
        let claims = data.claims;
        let role =
            Role::parse(&claims.role).ok_or_else(|| AuthError::Invalid("role must be admin, user or bot".into()))?;
        let email = claims.email.filter(|e| looks_like_email(e));
        if role == Role::User && email.is_none() {
            return Err(AuthError::Invalid("user tokens must carry a valid email claim".into()));
        }
        Ok(Principal {
            subject: claims.sub,
            email,
            role,
        })
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        if let KeySource::Secret(_) = self.config.keys {
            return Ok(self.cache.read().await.keys[""].clone());
        }
        let kid = kid.ok_or_else(|| AuthError::Invalid("token has no kid".into()))?;
        {
            let cache = self.cache.read().await;
            let fresh = cache.fetched.is_none_or(|t| self.since(t) < JWKS_TTL);
            if let Some(k) = cache.keys.get(kid).filter(|_| fresh) {
                return Ok(k.clone());
            }
        }
        let KeySource::JwksUrl(url) = &self.config.keys else {
            return Err(AuthError::Invalid("unknown key id".into()));
        };
        let mut cache = self.cache.write().await;
        // Another request may have refreshed while we waited for the lock; and an unknown kid
        // must not let callers hammer the identity provider.
        let recently = cache.fetched.is_some_and(|t| self.since(t) < JWKS_MIN_REFRESH);
        if !recently {
            let http = self.http.as_ref().expect("URL source has a client");
            let fetched: Result<JwkSet, reqwest::Error> =
                async { http.get(url).send().await?.error_for_status()?.json().await }.await;
            match fetched {
                Ok(set) => {
                    cache.keys = keys_of(&set);
                    cache.fetched = Some((self.now)());
                }
                // Stale keys beat no keys while the identity provider is down.
                Err(e) => {
                    tracing::warn!(error = %e, "JWKS fetch failed");
                    return cache.keys.get(kid).cloned().ok_or(AuthError::KeysUnavailable);
                }
            }
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::Invalid("unknown key id".into()))
    }
}

fn keys_of(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
        .collect()
}

fn reason(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "token has expired".into(),
        K::ImmatureSignature => "token is not valid yet".into(),
        K::InvalidIssuer => "wrong issuer".into(),
        K::InvalidAudience => "wrong audience".into(),
        K::InvalidSignature => "bad signature".into(),
        K::MissingRequiredClaim(c) => format!("missing claim {c}"),
        K::InvalidAlgorithm | K::InvalidAlgorithmName => "algorithm not allowed".into(),
        _ => "malformed token".into(),
    }
}

/// A deliberately loose check (one `@`, a dot in the domain, no spaces): the identity provider
/// owns e-mail verification; we only refuse values that cannot be an address.
pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && s.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}
