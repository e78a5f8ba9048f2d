//! `SessionLog` on S3: one JSON-lines object per session, rewritten with each event (S3
//! objects are immutable; the bucket's versioning keeps every earlier state). Only the writer
//! that won the session's state transition in DynamoDB appends, so writes do not race.
//! The same bucket seen whole (`LogArchive`: listed, read with metadata, digests written) is in
//! `s3_archive`, on this adapter's client.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use super::describe;
use crate::domain::log_chain;
use crate::ports::{LogArchive, LogError, SessionLog};

pub struct S3SessionLog {
    pub(super) client: super::LazyClient<aws_sdk_s3::Client>,
    pub(super) bucket: String,
}

impl S3SessionLog {
    /// Path-style addressing, which S3-compatible local endpoints need and AWS accepts. The
    /// client is created on the first call (see `LazyClient`).
    pub fn new(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(true);
        S3SessionLog {
            client: super::LazyClient::new(move || aws_sdk_s3::Client::from_conf(config.clone().build())),
            bucket: bucket.into(),
        }
    }
}

impl S3SessionLog {
    /// One read, one write: the chain is verified, an event already there is not written again
    /// (whatever the head: it may be this writer's own earlier try), and with `after` the log
    /// must end there.
    async fn append_checked(
        &self,
        key: &str,
        after: Option<&str>,
        event: serde_json::Value,
    ) -> Result<String, LogError> {
        let existing = self.read(key).await?.unwrap_or_default();
        let (events, head) = log_chain::verify(key, &existing).map_err(LogError::Tampered)?;
        if events.iter().any(|e| e["event_id"] == event["event_id"]) {
            return Ok(head);
        }
        if after.is_some_and(|after| after != head) {
            return Err(LogError::Tampered(
                "the log does not end where its session's record says".into(),
            ));
        }
        let (line, new_head) = log_chain::chain(event, &head);
        let body = format!("{existing}{line}\n");
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .map_err(|e| LogError::Unavailable(describe(&e)))?;
        Ok(new_head)
    }
}

#[async_trait]
impl SessionLog for S3SessionLog {
    async fn append(&self, key: &str, event: serde_json::Value) -> Result<String, LogError> {
        self.append_checked(key, None, event).await
    }

    async fn append_after(&self, key: &str, head: &str, event: serde_json::Value) -> Result<String, LogError> {
        self.append_checked(key, Some(head), event).await
    }

    async fn read(&self, key: &str) -> Result<Option<String>, LogError> {
        let Some(object) = self.fetch(key).await? else {
            return Ok(None);
        };
        String::from_utf8(object.body)
            .map(Some)
            .map_err(|_| LogError::Tampered("not UTF-8".into()))
    }
}
