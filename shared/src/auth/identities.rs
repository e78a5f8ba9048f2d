//! One e-mail per person: the first token of an (issuer, subject) with an e-mail binds the
//! two, both ways; a later token with the same subject and another e-mail, or the same e-mail
//! and another subject, is refused (403 `identity-conflict`). Where an identity provider lets
//! users edit their e-mail, nobody inherits another user's groups and sessions by taking
//! their address. An admin releases a binding with `DELETE /identities/{email}`.
//!
//! A warm function remembers bindings it confirmed for `REMEMBER`, so most requests make no
//! store call; a binding an admin released may thus be honoured that long by a warm function.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{AuthError, Principal};
use crate::domain::Email;
use crate::ports::{IdentityStore, StoreError};

const REMEMBER: Duration = Duration::from_secs(300);
const REMEMBER_AT_MOST: usize = 10_000;

pub struct Identities {
    store: Arc<dyn IdentityStore>,
    confirmed: Mutex<HashMap<(String, String, Email), Instant>>,
}

impl Identities {
    pub fn new(store: Arc<dyn IdentityStore>) -> Self {
        Identities {
            store,
            confirmed: Mutex::new(HashMap::new()),
        }
    }

    fn remembered(&self, key: &(String, String, Email)) -> bool {
        let confirmed = self.confirmed.lock().unwrap_or_else(|p| p.into_inner());
        confirmed.get(key).is_some_and(|at| at.elapsed() < REMEMBER)
    }

    fn remember(&self, key: (String, String, Email)) {
        let mut confirmed = self.confirmed.lock().unwrap_or_else(|p| p.into_inner());
        if confirmed.len() >= REMEMBER_AT_MOST {
            confirmed.clear();
        }
        confirmed.insert(key, Instant::now());
    }

    /// Accepts `principal` if its e-mail is (or now becomes) bound to its issuer and subject.
    pub async fn check(&self, principal: &Principal) -> Result<(), AuthError> {
        let Some(email) = principal.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
            return Ok(());
        };
        let key = (principal.issuer.clone(), principal.subject.clone(), email);
        if self.remembered(&key) {
            return Ok(());
        }
        let (issuer, subject, email) = (&key.0, &key.1, &key.2);
        // Read first: a person signs in once and comes back many times, so the usual cost is one
        // round trip (two reads in parallel); the conditional bind runs only at first use, and a
        // lost race to it is settled by reading again.
        for attempt in 0..3 {
            if attempt > 0 {
                // Another request's first use may be writing the pair right now.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let (bound_email, bound_identity) = self.store.bindings(issuer, subject, email).await.map_err(|e| {
                tracing::error!(cause = %e, "reading identity bindings failed");
                AuthError::Unavailable
            })?;
            let same_identity = bound_identity
                .as_ref()
                .is_some_and(|(i, s)| i == issuer && s == subject);
            let ours = bound_email.as_ref().is_none_or(|e| e == email) && (bound_identity.is_none() || same_identity);
            match (bound_email, bound_identity.is_some()) {
                (Some(_), true) if ours => {
                    self.remember(key.clone());
                    return Ok(());
                }
                // Half of our own pair: a first use being written (or a release being made);
                // look again rather than call it someone else's.
                (Some(_), false) | (None, true) if ours => continue,
                (None, false) => match self.store.bind(issuer, subject, email).await {
                    Ok(()) => {
                        self.remember(key.clone());
                        return Ok(());
                    }
                    Err(StoreError::Conflict(_)) => continue,
                    Err(StoreError::Unavailable(cause)) => {
                        tracing::error!(cause, "binding an identity failed");
                        return Err(AuthError::Unavailable);
                    }
                },
                (Some(_), _) => {
                    tracing::warn!(subject, "a token's e-mail differs from the one bound to its subject");
                    return Err(AuthError::IdentityConflict(
                        "this sign-in is bound to another e-mail address; an admin can release the binding \
                         (DELETE /identities/{email})"
                            .into(),
                    ));
                }
                (None, true) => {
                    tracing::warn!(subject, "a token's e-mail is bound to another subject");
                    return Err(AuthError::IdentityConflict(
                        "this e-mail address is bound to another sign-in; an admin can release the binding \
                         (DELETE /identities/{email})"
                            .into(),
                    ));
                }
            }
        }
        Err(AuthError::Unavailable)
    }
}
