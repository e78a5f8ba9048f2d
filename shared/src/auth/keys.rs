//! Verification keys: a shared secret, a JWKS file, or an identity provider's JWKS URL.
//!
//! A URL's keys are cached for `TTL`. An unknown `kid` or an expired cache fetches again, but
//! never more than once per `MIN_REFRESH`, whether the last fetch worked or failed: a flood of
//! forged `kid`s, or an identity provider that is down, costs one fetch per 30 s, not one per
//! request. While the provider is down, the last keys it served stay usable for `STALE_LIMIT`
//! past their TTL, then requests fail (503) rather than trust keys that may have been revoked.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::RwLock;

use super::AuthError;
use crate::domain::Secret;

pub const TTL: Duration = Duration::from_secs(600);
pub const MIN_REFRESH: Duration = Duration::from_secs(30);
pub const STALE_LIMIT: Duration = Duration::from_secs(3600);

/// Where verification keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A shared HS256 secret (local runs and tests).
    Secret(Secret),
    /// A JWKS document on disk.
    JwksFile(String),
    /// A JWKS endpoint of the identity provider: https, or http on a loopback host only.
    JwksUrl(String),
}

/// A monotonic clock; tests move it instead of waiting out the JWKS limits.
pub type Monotonic = std::sync::Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Default)]
struct Cache {
    keys: HashMap<String, DecodingKey>,
    /// The last fetch that worked.
    fetched: Option<Instant>,
    /// The last fetch tried: it failed when it is not the last that worked.
    attempted: Option<Instant>,
}

pub struct Keys {
    source: KeySource,
    cache: RwLock<Cache>,
    http: Option<reqwest::Client>,
    pub(super) now: Monotonic,
}

/// Refuses a JWKS URL that is not https: keys fetched in clear text could be swapped on the
/// way. Loopback is excepted for local identity providers and tests.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("JWT_JWKS_URL is not a URL: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("JWT_JWKS_URL must be https (http is allowed on loopback only)".into()),
    }
}

impl Keys {
    pub fn new(source: KeySource) -> Result<Self, String> {
        let mut cache = Cache::default();
        let mut http = None;
        match &source {
            KeySource::Secret(secret) => {
                if secret.expose().len() < 32 {
                    return Err("the JWT HS256 secret must be at least 32 bytes".into());
                }
                cache
                    .keys
                    .insert(String::new(), DecodingKey::from_secret(secret.expose().as_bytes()));
            }
            KeySource::JwksFile(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("reading JWKS file {path}: {e}"))?;
                let set: JwkSet = serde_json::from_str(&text).map_err(|e| format!("parsing JWKS file {path}: {e}"))?;
                cache.keys = keys_of(&set);
            }
            KeySource::JwksUrl(url) => {
                check_url(url)?;
                http = Some(
                    reqwest::Client::builder()
                        .timeout(Duration::from_secs(5))
                        .build()
                        .map_err(|e| format!("building the JWKS client: {e}"))?,
                );
            }
        }
        Ok(Keys {
            source,
            cache: RwLock::new(cache),
            http,
            now: std::sync::Arc::new(Instant::now),
        })
    }

    fn since(&self, t: Instant) -> Duration {
        (self.now)().saturating_duration_since(t)
    }

    fn usable(&self, cache: &Cache, kid: &str, limit: Duration) -> Option<DecodingKey> {
        let fresh = cache.fetched.is_some_and(|t| self.since(t) < limit);
        cache.keys.get(kid).filter(|_| fresh).cloned()
    }

    /// The key a token's `kid` names.
    pub async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        let url = match &self.source {
            KeySource::Secret(_) => {
                return self
                    .cache
                    .read()
                    .await
                    .keys
                    .get("")
                    .cloned()
                    .ok_or(AuthError::KeysUnavailable);
            }
            KeySource::JwksFile(_) => {
                let kid = kid.ok_or_else(|| AuthError::Invalid("token has no kid".into()))?;
                let cache = self.cache.read().await;
                return cache
                    .keys
                    .get(kid)
                    .cloned()
                    .ok_or_else(|| AuthError::Invalid("unknown key id".into()));
            }
            KeySource::JwksUrl(url) => url,
        };
        let kid = kid.ok_or_else(|| AuthError::Invalid("token has no kid".into()))?;
        if let Some(k) = self.usable(&*self.cache.read().await, kid, TTL) {
            return Ok(k);
        }
        let mut cache = self.cache.write().await;
        // Another request may have fetched while this one waited for the lock.
        if let Some(k) = self.usable(&cache, kid, TTL) {
            return Ok(k);
        }
        let may_fetch = cache.attempted.is_none_or(|t| self.since(t) >= MIN_REFRESH);
        if may_fetch {
            cache.attempted = Some((self.now)());
            let Some(http) = &self.http else {
                return Err(AuthError::KeysUnavailable);
            };
            let fetched: Result<JwkSet, reqwest::Error> =
                async { http.get(url).send().await?.error_for_status()?.json().await }.await;
            match fetched {
                Ok(set) => {
                    cache.keys = keys_of(&set);
                    cache.fetched = cache.attempted;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "JWKS fetch failed");
                }
            }
        }
        if let Some(k) = self.usable(&cache, kid, TTL + STALE_LIMIT) {
            return Ok(k);
        }
        let failed = cache.attempted != cache.fetched;
        if failed || cache.keys.contains_key(kid) {
            // Down, or serving only keys too old to trust.
            Err(AuthError::KeysUnavailable)
        } else {
            Err(AuthError::Invalid("unknown key id".into()))
        }
    }
}

fn keys_of(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn jwks_urls_must_be_https_except_on_loopback() {
        assert!(check_url("https://idp.example/keys").is_ok());
        assert!(check_url("http://127.0.0.1:8080/keys").is_ok());
        assert!(check_url("http://localhost/keys").is_ok());
        assert!(check_url("http://[::1]/keys").is_ok());
        assert!(check_url("http://idp.example/keys").is_err());
        assert!(check_url("http://127.0.0.1.nip.io/keys").is_err());
        assert!(check_url("ftp://idp.example/keys").is_err());
        assert!(check_url("not a url").is_err());
    }
}
