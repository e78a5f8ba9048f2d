//! The port to CloudTrail event history in a target account: the management events one lookup
//! attribute finds in one Region and time window, a page at a time.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{AccountAccess, CloudError};
use crate::domain::activity::{LookedUp, Lookup};

/// One LookupEvents call.
#[derive(Debug, Clone)]
pub struct LookupRequest {
    pub lookup: Lookup,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// 1 to `LOOKUP_MAX_RESULTS`.
    pub max_results: u32,
    pub next_token: Option<String>,
}

/// A page of events, newest first, and where the next one starts.
#[derive(Debug, Clone, Default)]
pub struct LookupPage {
    pub events: Vec<LookedUp>,
    pub next_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// Over LookupEvents' rate (two a second per account and Region): try again later.
    #[error("CloudTrail throttled the lookup: {0}")]
    Throttled(String),
    /// The token is not one CloudTrail gave for this lookup.
    #[error("CloudTrail refused the page token: {0}")]
    BadToken(String),
    #[error(transparent)]
    Cloud(#[from] CloudError),
}

/// Opens event history in target accounts.
#[async_trait]
pub trait ActivityConnector: Send + Sync {
    /// Event history of the account in `region`, with the account's registered access.
    async fn connect(&self, access: &AccountAccess, region: &str) -> Result<Box<dyn EventHistory>, CloudError>;
}

/// Event history in one account and Region.
#[async_trait]
pub trait EventHistory: Send + Sync {
    async fn lookup(&self, request: &LookupRequest) -> Result<LookupPage, LookupError>;
}

/// What functions that show no activity are wired with: they do not link CloudTrail's SDK.
pub struct NoActivity;

#[async_trait]
impl ActivityConnector for NoActivity {
    async fn connect(&self, _: &AccountAccess, _: &str) -> Result<Box<dyn EventHistory>, CloudError> {
        Err(CloudError::Unavailable(
            "CloudTrail is not wired into this function".into(),
        ))
    }
}
