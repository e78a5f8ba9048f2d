//! `SlackJobQueue` on SQS: the `chatops` function enqueues, the `chatops-worker` function is
//! triggered by the queue (the local runner polls it instead).

use async_trait::async_trait;

use super::{LazyClient, describe};
use crate::domain::SlackJob;
use crate::ports::SlackJobQueue;

pub struct SqsJobQueue {
    client: LazyClient<aws_sdk_sqs::Client>,
    queue_url: String,
}

impl SqsJobQueue {
    pub fn lazy(sdk: &aws_config::SdkConfig, queue_url: &str) -> Self {
        let sdk = sdk.clone();
        SqsJobQueue {
            client: LazyClient::new(move || aws_sdk_sqs::Client::new(&sdk)),
            queue_url: queue_url.to_string(),
        }
    }
}

#[async_trait]
impl SlackJobQueue for SqsJobQueue {
    async fn enqueue(&self, job: &SlackJob) -> Result<(), String> {
        let body = serde_json::to_string(job).map_err(|e| e.to_string())?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| describe(&e))
    }
}
