//! Slack-link items (see the key design in `mod.rs`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{DynamoStore, key, put, s, to_item, tx_put};
use crate::domain::{Email, LinkStatus, SessionId, SlackLink, SlackUserId};
use crate::ports::{ChatLinkStore, Page, PageRequest, StoreError};

const LINKS_PARTITION: &str = "SLACKUSERS";

fn link_pk(id: &SlackUserId) -> String {
    format!("SLACKUSER#{id}")
}

#[derive(Debug, Serialize, Deserialize)]
struct LinkRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    entity: String,
    slack_user_id: String,
    email: String,
    /// `pending` or `confirmed`. Absent on links stored before links needed confirming: those
    /// predate the rule and act (confirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    linked_by: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    linked_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    confirmed_by: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    confirmed_at: Option<OffsetDateTime>,
}

impl LinkRecord {
    fn from_domain(link: &SlackLink) -> Self {
        LinkRecord {
            pk: link_pk(&link.slack_user_id),
            sk: "SLACKUSER".into(),
            gsi1pk: LINKS_PARTITION.into(),
            gsi1sk: link.slack_user_id.to_string(),
            entity: "slack_link".into(),
            slack_user_id: link.slack_user_id.to_string(),
            email: link.email.to_string(),
            status: Some(link.status.as_str().into()),
            linked_by: link.linked_by.clone(),
            linked_at: link.linked_at,
            confirmed_by: link.confirmed_by.clone(),
            confirmed_at: link.confirmed_at,
        }
    }

    fn into_domain(self) -> Result<SlackLink, StoreError> {
        let corrupt = || StoreError::Unavailable("stored Slack link is corrupt".into());
        let status = match self.status.as_deref() {
            Some("pending") => LinkStatus::Pending,
            // No status: stored before links needed confirming; such links act.
            Some("confirmed") | None => LinkStatus::Confirmed,
            Some(_) => return Err(corrupt()),
        };
        Ok(SlackLink {
            slack_user_id: SlackUserId::parse(&self.slack_user_id).map_err(|_| corrupt())?,
            email: Email::parse(&self.email).map_err(|_| corrupt())?,
            status,
            linked_by: self.linked_by,
            linked_at: self.linked_at,
            confirmed_by: self.confirmed_by,
            confirmed_at: self.confirmed_at,
        })
    }
}

#[async_trait]
impl ChatLinkStore for DynamoStore {
    async fn link(&self, link: &SlackLink) -> Result<(), StoreError> {
        let record = LinkRecord::from_domain(link);
        self.transact(vec![tx_put(put(&self.table, to_item(&record), None))])
            .await
    }

    async fn confirm(&self, link: &SlackLink) -> Result<(), StoreError> {
        let record = LinkRecord::from_domain(link);
        // Only the link that was read: one re-linked to someone else (or removed) meanwhile is
        // not confirmed by this person.
        let mut p = put(&self.table, to_item(&record), Some("#email = :email"));
        p.expression_attribute_names = Some([("#email".to_string(), "email".to_string())].into());
        p.expression_attribute_values = Some([(":email".to_string(), s(link.email.as_str()))].into());
        self.transact(vec![tx_put(p)]).await
    }

    async fn unlink(&self, slack: &SlackUserId) -> Result<bool, StoreError> {
        self.delete_existing(link_pk(slack), "SLACKUSER").await
    }

    async fn link_of(&self, slack: &SlackUserId) -> Result<Option<SlackLink>, StoreError> {
        self.get_item::<LinkRecord>(link_pk(slack), "SLACKUSER")
            .await?
            .map(LinkRecord::into_domain)
            .transpose()
    }

    async fn links(&self, page: &PageRequest) -> Result<Option<Page<SlackLink>>, StoreError> {
        let rebuild = |sort: &str| Some(key(link_pk(&SlackUserId::parse(sort).ok()?), "SLACKUSER"));
        self.gsi1_page(LINKS_PARTITION, page, rebuild, LinkRecord::into_domain)
            .await
    }

    async fn remember_message(&self, session: &SessionId, channel: &str, ts: &str) -> Result<(), StoreError> {
        let record = MessageRecord {
            pk: format!("SLACKMSG#{session}"),
            sk: "SLACKMSG".into(),
            entity: "slack_message".into(),
            channel: channel.into(),
            ts: ts.into(),
        };
        self.transact(vec![tx_put(put(&self.table, to_item(&record), None))])
            .await
    }

    async fn message_of(&self, session: &SessionId) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .get_item::<MessageRecord>(format!("SLACKMSG#{session}"), "SLACKMSG")
            .await?
            .map(|m| (m.channel, m.ts)))
    }
}

/// Where a session's approval message is, to update it with the outcome.
#[derive(Debug, Serialize, Deserialize)]
struct MessageRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    channel: String,
    ts: String,
}
