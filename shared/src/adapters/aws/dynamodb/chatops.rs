//! Slack-link items (see the key design in `mod.rs`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{DynamoStore, key, put, to_item, tx_put};
use crate::domain::{Email, SessionId, SlackUserId};
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
}

impl LinkRecord {
    fn into_pair(self) -> Result<(SlackUserId, Email), StoreError> {
        let corrupt = || StoreError::Unavailable("stored Slack link is corrupt".into());
        Ok((
            SlackUserId::parse(&self.slack_user_id).map_err(|_| corrupt())?,
            Email::parse(&self.email).map_err(|_| corrupt())?,
        ))
    }
}

#[async_trait]
impl ChatLinkStore for DynamoStore {
    async fn link(&self, slack: &SlackUserId, email: &Email) -> Result<(), StoreError> {
        let record = LinkRecord {
            pk: link_pk(slack),
            sk: "SLACKUSER".into(),
            gsi1pk: LINKS_PARTITION.into(),
            gsi1sk: slack.to_string(),
            entity: "slack_link".into(),
            slack_user_id: slack.to_string(),
            email: email.to_string(),
        };
        self.transact(vec![tx_put(put(&self.table, to_item(&record), None))])
            .await
    }

    async fn unlink(&self, slack: &SlackUserId) -> Result<bool, StoreError> {
        self.delete_existing(link_pk(slack), "SLACKUSER").await
    }

    async fn email_of(&self, slack: &SlackUserId) -> Result<Option<Email>, StoreError> {
        let Some(r) = self.get_item::<LinkRecord>(link_pk(slack), "SLACKUSER").await? else {
            return Ok(None);
        };
        Ok(Some(r.into_pair()?.1))
    }

    async fn links(&self, page: &PageRequest) -> Result<Option<Page<(SlackUserId, Email)>>, StoreError> {
        let rebuild = |sort: &str| Some(key(link_pk(&SlackUserId::parse(sort).ok()?), "SLACKUSER"));
        self.gsi1_page(LINKS_PARTITION, page, rebuild, LinkRecord::into_pair)
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
