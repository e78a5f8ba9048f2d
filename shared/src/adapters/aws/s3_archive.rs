//! `LogArchive` on S3, on the session log's adapter and client: the session-log bucket listed,
//! read with its metadata, and written to (digests), for the evidence digests and their
//! verification.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use time::OffsetDateTime;

use super::describe;
use crate::ports::{ArchivedObject, LogArchive, LogError, StoredObject};

fn when(t: Option<&aws_sdk_s3::primitives::DateTime>) -> OffsetDateTime {
    t.and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[async_trait]
impl LogArchive for super::s3_log::S3SessionLog {
    async fn list(&self, prefix: &str) -> Result<Vec<ArchivedObject>, LogError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| LogError::Unavailable(describe(&e)))?;
            for o in page.contents.unwrap_or_default() {
                if let Some(key) = o.key {
                    objects.push(ArchivedObject {
                        last_modified: when(o.last_modified.as_ref()),
                        key,
                    });
                }
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn fetch(&self, key: &str) -> Result<Option<StoredObject>, LogError> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let metadata = out.metadata.clone().unwrap_or_default();
                let last_modified = when(out.last_modified.as_ref());
                let etag = out.e_tag.clone();
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| LogError::Unavailable(e.to_string()))?
                    .into_bytes()
                    .to_vec();
                Ok(Some(StoredObject {
                    body,
                    etag,
                    metadata,
                    last_modified,
                }))
            }
            Err(e) if super::service_code(&e).as_deref() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(LogError::Unavailable(describe(&e))),
        }
    }

    async fn put_new(&self, key: &str, body: Vec<u8>, metadata: &[(&str, &str)]) -> Result<bool, LogError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .content_type("application/json")
            .body(ByteStream::from(body));
        for (k, v) in metadata {
            req = req.metadata(*k, *v);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            // 412: an object is there; 409: another conditional write to the key is under way
            // ("Add preconditions to S3 operations with conditional requests", S3 User Guide).
            Err(e)
                if matches!(
                    super::service_code(&e).as_deref(),
                    Some("PreconditionFailed" | "ConditionalRequestConflict")
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(LogError::Unavailable(describe(&e))),
        }
    }
}
