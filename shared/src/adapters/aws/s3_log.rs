//! `SessionLog` on S3: one JSON-lines object per session, rewritten with each event (S3
//! objects are immutable; the bucket's versioning keeps every earlier state). Only the writer
//! that won the session's state transition in DynamoDB appends, so writes do not race; a
//! writer that has just written the log (a start) writes its next line without reading it back,
//! over the version it left only (`If-Match`).
//! The same bucket seen whole (`LogArchive`: listed, read with metadata, digests written) is in
//! `s3_archive`, on this adapter's client.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use super::describe;
use crate::domain::log_chain;
use crate::ports::{LogArchive, LogError, LogTail, SessionLog};

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
        let (head, there) = verified(key, &existing, &event)?;
        if there {
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

impl S3SessionLog {
    /// Writes `body` as the object if it is unchanged since `etag` (`If-Match`), or absent
    /// (`If-None-Match: *`) without one: `Ok(None)` when it was not (412), so the caller reads.
    async fn put_if(&self, key: &str, body: String, etag: Option<&str>) -> Result<Option<String>, LogError> {
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .body(ByteStream::from(body.into_bytes()));
        let put = match etag {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(out) => Ok(Some(out.e_tag.unwrap_or_default())),
            // 412: not the version named; 409: a concurrent conditional write to the key.
            Err(e)
                if matches!(
                    super::service_code(&e).as_deref(),
                    Some("PreconditionFailed" | "ConditionalRequestConflict")
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(LogError::Unavailable(describe(&e))),
        }
    }

    fn tail(head: String, body: String, etag: String) -> LogTail {
        LogTail {
            head,
            known: (!etag.is_empty()).then_some((body, etag)),
        }
    }
}

/// Verifies `content` as the log at `key`: its head, and whether `event` is in it already.
fn verified(key: &str, content: &str, event: &serde_json::Value) -> Result<(String, bool), LogError> {
    let (events, head) = log_chain::verify(key, content).map_err(LogError::Tampered)?;
    let there = events.iter().any(|e| e["event_id"] == event["event_id"]);
    Ok((head, there))
}

#[async_trait]
impl SessionLog for S3SessionLog {
    /// One write, no read: the key is fresh. Should it exist after all, it is appended to as
    /// usual.
    async fn begin(&self, key: &str, event: serde_json::Value) -> Result<LogTail, LogError> {
        let (line, head) = log_chain::chain(event.clone(), &log_chain::genesis(key));
        let body = format!("{line}\n");
        match self.put_if(key, body.clone(), None).await? {
            Some(etag) => Ok(Self::tail(head, body, etag)),
            None => Ok(LogTail {
                head: self.append_checked(key, None, event).await?,
                known: None,
            }),
        }
    }

    /// One write, no read, over the version this writer left; any other write since (an end
    /// that won the session meanwhile) makes it the checked append.
    async fn append_to(&self, key: &str, tail: &LogTail, event: serde_json::Value) -> Result<LogTail, LogError> {
        if let Some((known, etag)) = &tail.known {
            let (line, head) = log_chain::chain(event.clone(), &tail.head);
            let body = format!("{known}{line}\n");
            if let Some(etag) = self.put_if(key, body.clone(), Some(etag)).await? {
                return Ok(Self::tail(head, body, etag));
            }
        }
        Ok(LogTail {
            head: self.append_checked(key, Some(&tail.head), event).await?,
            known: None,
        })
    }

    async fn append(&self, key: &str, event: serde_json::Value) -> Result<String, LogError> {
        self.append_checked(key, None, event).await
    }

    async fn read_tail(&self, key: &str) -> Result<Option<LogTail>, LogError> {
        let Some(object) = self.fetch(key).await? else {
            return Ok(None);
        };
        let (Some(etag), Ok(body)) = (object.etag, String::from_utf8(object.body)) else {
            return Ok(None);
        };
        // A log that does not verify is left to `append`, which says so.
        Ok(log_chain::verify(key, &body)
            .ok()
            .map(|(_, head)| Self::tail(head, body, etag)))
    }

    async fn append_over(
        &self,
        key: &str,
        tail: Option<&LogTail>,
        event: serde_json::Value,
    ) -> Result<String, LogError> {
        if let Some(LogTail {
            known: Some((known, etag)),
            ..
        }) = tail
        {
            let (head, there) = verified(key, known, &event)?;
            if there {
                return Ok(head);
            }
            let (line, new_head) = log_chain::chain(event.clone(), &head);
            if self
                .put_if(key, format!("{known}{line}\n"), Some(etag))
                .await?
                .is_some()
            {
                return Ok(new_head);
            }
        }
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

/// The session-log bucket, as the logs and as the archive, for `Overrides::bucket`.
pub fn bucket(
    sdk: &aws_config::SdkConfig,
    bucket: &str,
) -> (std::sync::Arc<dyn SessionLog>, std::sync::Arc<dyn LogArchive>) {
    let b = std::sync::Arc::new(S3SessionLog::new(sdk, bucket));
    (b.clone(), b)
}
