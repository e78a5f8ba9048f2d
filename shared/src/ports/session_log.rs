//! Ports where a session's transitions go: its tamper-evident log (S3) and, after each line,
//! the event bus.

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("session log unavailable: {0}")]
    Unavailable(String),
    #[error("session log is not intact: {0}")]
    Tampered(String),
}

/// The tamper-evident session logs (S3): JSON lines, each carrying the SHA-256 of the one
/// before.
#[async_trait]
pub trait SessionLog: Send + Sync {
    /// Appends `event` (which must carry a unique `event_id`) unless an event with that id is
    /// already there; returns the hash of the last line.
    async fn append(&self, key: &str, event: serde_json::Value) -> Result<String, LogError>;
    /// `append`, only onto a log that ends at `head` (or already holds the event):
    /// `LogError::Tampered` otherwise, and nothing is written. For writers that must not carry
    /// a log replaced since its session recorded `head` forward as their own.
    async fn append_after(&self, key: &str, head: &str, event: serde_json::Value) -> Result<String, LogError>;
    async fn read(&self, key: &str) -> Result<Option<String>, LogError>;

    /// Writes `event` as the first line of a new log (a fresh key), without reading first;
    /// returns what the writer now knows of it, to append to with `append_to`.
    async fn begin(&self, key: &str, event: serde_json::Value) -> Result<LogTail, LogError> {
        let head = self.append(key, event).await?;
        Ok(LogTail { head, known: None })
    }

    /// The log as it stands, to append to later with `append_over` without reading it then
    /// (`None`: no such log, one that does not verify, or a store that keeps no version
    /// tags). No default, nor for `append_over`: a wrapper that forgot them would quietly
    /// read the log twice.
    async fn read_tail(&self, key: &str) -> Result<Option<LogTail>, LogError>;

    /// `append`, written without a read where the log is still as `tail` saw it (read
    /// earlier, beside other work); a log changed since (or no tail) is read and appended to.
    async fn append_over(
        &self,
        key: &str,
        tail: Option<&LogTail>,
        event: serde_json::Value,
    ) -> Result<String, LogError>;

    /// Appends `event` to the log as this writer left it (`tail`), without reading it back;
    /// a log changed since is appended to as `append_after(tail.head)` would.
    async fn append_to(&self, key: &str, tail: &LogTail, event: serde_json::Value) -> Result<LogTail, LogError> {
        let head = self.append_after(key, &tail.head, event).await?;
        Ok(LogTail { head, known: None })
    }
}

/// A session log as its writer just left it: the hash of its last line and, where the store
/// gave one, its whole content with the store's version tag, so the next line can be written
/// without reading the log back (and only over that version).
#[derive(Debug, Clone)]
pub struct LogTail {
    pub head: String,
    /// The content and the version tag (S3's ETag) it was written as.
    pub known: Option<(String, String)>,
}

/// The event bus (EventBridge) every session transition is put on, after its log line.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, detail_type: &str, detail: &serde_json::Value) -> Result<(), String>;

    /// Several events in one call where the bus takes them so (EventBridge: up to 10).
    async fn publish_all(&self, events: &[(&str, &serde_json::Value)]) -> Result<(), String> {
        for (detail_type, detail) in events {
            self.publish(detail_type, detail).await?;
        }
        Ok(())
    }
}

/// No bus configured: events are only in the session logs.
pub struct NoEvents;

#[async_trait]
impl EventPublisher for NoEvents {
    async fn publish(&self, _: &str, _: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}
