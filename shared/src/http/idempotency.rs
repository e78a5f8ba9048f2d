//! `Idempotency-Key` handling: the first request with a key runs; a repeat with the same key
//! and the same request gets the first answer (marked `Idempotent-Replayed: true`); the same key
//! with another request is refused. Keys are scoped to the caller.

use std::future::Future;

use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use super::{Handled, Problem, route_key};
use crate::auth::Principal;
use crate::domain::{Sealed, Secret};
use crate::ports::{IdempotencyClaim, IdempotencyStore, SealContext, SecretSealer, StoredResponse};
use base64::Engine;

const SEALED_PREFIX: &str = "sealed:";

pub const HEADER: &str = "idempotency-key";

fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Runs `run` at most once per (caller, key). Without the header it just runs. With a
/// `sealer`, the remembered body is sealed (responses carrying one-time credentials).
pub async fn idempotent<F, Fut>(
    store: &dyn IdempotencyStore,
    sealer: Option<&dyn SecretSealer>,
    now: time::OffsetDateTime,
    principal: &Principal,
    req: &Request,
    run: F,
) -> Handled
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Handled>,
{
    let Some(raw) = req.headers().get(HEADER) else {
        return run().await;
    };
    let key = raw
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| Problem::bad_request("Idempotency-Key must be 1 to 255 printable ASCII characters"))?;
    let mut hash = Sha256::new();
    hash.update(route_key(req).as_bytes());
    hash.update([0]);
    hash.update(req.uri().path().as_bytes());
    hash.update([0]);
    hash.update(body_bytes(req.body()));
    let fingerprint: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let scope = &principal.scope();
    let claim = store.claim(scope, key, &fingerprint, now).await.map_err(|e| {
        tracing::error!(cause = %e, "idempotency store failed");
        Problem::unavailable()
    })?;
    match claim {
        IdempotencyClaim::Replay(mut stored) => {
            if let Some(sealed) = stored.body.strip_prefix(SEALED_PREFIX) {
                let sealer = sealer.ok_or_else(Problem::unavailable)?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(sealed)
                    .map_err(|_| Problem::unavailable())?;
                let plain = sealer
                    .open(&Sealed(bytes), &SealContext::idempotency(scope, key))
                    .await
                    .map_err(|_| Problem::unavailable())?;
                stored.body = plain.expose().to_string();
            }
            Ok(replay(stored))
        }
        IdempotencyClaim::InProgress => Err(Problem::conflict(
            "idempotency-in-progress",
            "a request with this Idempotency-Key is still being processed; retry shortly",
        )),
        IdempotencyClaim::Mismatch => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used for a different request",
        )),
        IdempotencyClaim::Claimed => {
            let resp = run().await.unwrap_or_else(Problem::into_response);
            let status = resp.status().as_u16();
            // A server error may not recur: forget the key so a retry runs again.
            if status >= 500 {
                if let Err(e) = store.release(scope, key).await {
                    tracing::warn!(error = %e, "releasing an idempotency key failed; it expires on its own");
                }
            } else {
                let mut body = String::from_utf8_lossy(body_bytes(resp.body())).into_owned();
                if let Some(sealer) = sealer {
                    match sealer
                        .seal(&Secret::new(body), &SealContext::idempotency(scope, key))
                        .await
                    {
                        Ok(sealed) => {
                            body = format!(
                                "{SEALED_PREFIX}{}",
                                base64::engine::general_purpose::STANDARD.encode(sealed.0)
                            )
                        }
                        Err(e) => {
                            // Never store one-time credentials in the clear: forget the key instead.
                            tracing::warn!(error = %e, "sealing an idempotent response failed");
                            let _ = store.release(scope, key).await;
                            return Ok(resp);
                        }
                    }
                }
                if let Err(e) = store.complete(scope, key, &StoredResponse { status, body }).await {
                    tracing::warn!(error = %e, "recording an idempotent response failed");
                }
            }
            Ok(resp)
        }
    }
}

fn replay(stored: StoredResponse) -> Response<Body> {
    let mut resp = Response::new(Body::Text(stored.body));
    *resp.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let content_type = if stored.status >= 400 {
        "application/problem+json"
    } else {
        "application/json"
    };
    let h = resp.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}
