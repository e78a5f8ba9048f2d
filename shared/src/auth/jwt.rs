//! JWT validation: the algorithm is pinned by configuration (a token cannot choose it), `iss`,
//! `aud`, `exp` and `nbf` are always checked, keys come from `keys`, the claims become a
//! principal through the configured `ClaimMapping`, and (when a store is attached) the
//! person is bound by issuer and subject to one e-mail (`identities`).

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::Principal;
use super::bots::Bots;
use super::claims::ClaimMapping;
use super::identities::Identities;
use super::keys::{KeySource, Keys, Monotonic};
use crate::ports::IdentityStore;

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub algorithm: Algorithm,
    pub keys: KeySource,
    /// Clock skew tolerated on `exp`/`nbf`.
    pub leeway_seconds: u64,
    pub claims: ClaimMapping,
    pub bots: Bots,
}

/// Why a request is not authenticated. The message is safe to return: it never includes the
/// token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send Authorization: Bearer <token>")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    /// A valid token this deployment does not accept (an unlisted bot).
    #[error("{0}")]
    Forbidden(String),
    /// The token's subject and e-mail disagree with the binding made at first use.
    #[error("{0}")]
    IdentityConflict(String),
    #[error("the identity provider's keys could not be fetched")]
    KeysUnavailable,
    #[error("identities could not be read")]
    Unavailable,
}

pub struct Authenticator {
    config: JwtConfig,
    validation: Validation,
    keys: Keys,
    identities: Option<Identities>,
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
        Ok(Authenticator {
            keys: Keys::new(config.keys.clone())?,
            config,
            validation,
            identities: None,
        })
    }

    /// Replaces the clock the JWKS cache's limits are measured with.
    pub fn with_clock(mut self, now: Monotonic) -> Self {
        self.keys.now = now;
        self
    }

    /// Binds each person (issuer, subject) to one e-mail at first use, in `store`.
    pub fn with_identities(mut self, store: Arc<dyn IdentityStore>) -> Self {
        self.identities = Some(Identities::new(store));
        self
    }

    /// Authenticates an `Authorization` header value.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, super::AuthError> {
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
        let key = self.keys.key_for(head.kid.as_deref()).await?;
        let claims = decode::<Map<String, Value>>(token, &key, &self.validation)
            .map_err(|e| AuthError::Invalid(reason(&e)))?
            .claims;
        let principal = self
            .config
            .claims
            .principal(&self.config.issuer, &claims, &self.config.bots)?;
        if let Some(identities) = &self.identities {
            identities.check(&principal).await?;
        }
        Ok(principal)
    }
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
