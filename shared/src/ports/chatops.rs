//! The chat-ops ports: Slack links, Slack's Web API, the queue of slash commands waiting to be
//! finished, and the answers to them.

use async_trait::async_trait;

use super::{Page, PageRequest, StoreError};
use crate::domain::{SessionId, SlackLink, SlackUserId};

/// Which platform user each Slack member is: linked by admins, acting once the linked user
/// confirms it (`SlackLink::acts`).
#[async_trait]
pub trait ChatLinkStore: Send + Sync {
    /// Stores `link`, replacing the member's link if any.
    async fn link(&self, link: &SlackLink) -> Result<(), StoreError>;
    /// Stores `link` (confirmed) only while the member's stored link still names its e-mail:
    /// `Conflict` when it was removed or re-linked to someone else since it was read.
    async fn confirm(&self, link: &SlackLink) -> Result<(), StoreError>;
    /// `Ok(false)` when there was no link.
    async fn unlink(&self, slack: &SlackUserId) -> Result<bool, StoreError>;
    /// The member's link, pending or confirmed.
    async fn link_of(&self, slack: &SlackUserId) -> Result<Option<SlackLink>, StoreError>;
    async fn links(&self, page: &PageRequest) -> Result<Option<Page<SlackLink>>, StoreError>;
    /// Remembers where a session's approval (or break-glass) message was posted, to update it
    /// with the outcome.
    async fn remember_message(&self, session: &SessionId, channel: &str, ts: &str) -> Result<(), StoreError>;
    async fn message_of(&self, session: &SessionId) -> Result<Option<(String, String)>, StoreError>;
}

/// Slack's Web API, as the approval messages need it (`chat.postMessage`, `chat.update`), and as
/// `/jit confirm` needs it (`users.info`).
#[async_trait]
pub trait ChatNotifier: Send + Sync {
    /// Posts to a channel, or to a member (a DM) by member id; returns (channel, ts).
    async fn post(&self, channel: &str, text: &str, blocks: &serde_json::Value) -> Result<(String, String), String>;
    async fn update(&self, channel: &str, ts: &str, text: &str, blocks: &serde_json::Value) -> Result<(), String>;
    /// The e-mail of a member's Slack profile (`users.info`, scope `users:read.email`); `None`
    /// when Slack shows none (or the member is deactivated).
    async fn member_email(&self, member: &str) -> Result<Option<String>, String>;
}

/// Slash commands waiting to be finished (SQS in AWS).
#[async_trait]
pub trait SlackJobQueue: Send + Sync {
    async fn enqueue(&self, job: &crate::domain::SlackJob) -> Result<(), String>;
}

/// Answers a slash command at its `response_url`.
#[async_trait]
pub trait ChatResponder: Send + Sync {
    async fn respond(&self, response_url: &str, text: &str) -> Result<(), String>;
}
