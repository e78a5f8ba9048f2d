//! `EventPublisher` on EventBridge: one PutEvents per transition (an end's two events in one),
//! on the broker's bus.

use async_trait::async_trait;

use super::{LazyClient, describe};
use crate::ports::EventPublisher;

/// Every event's `source`, for rules to match on.
pub const SOURCE: &str = "cloud-iam-broker";

pub struct EventBridgePublisher {
    client: LazyClient<aws_sdk_eventbridge::Client>,
    bus: String,
}

impl EventBridgePublisher {
    pub fn lazy(sdk: &aws_config::SdkConfig, bus: &str) -> Self {
        let sdk = sdk.clone();
        EventBridgePublisher {
            client: LazyClient::new(move || aws_sdk_eventbridge::Client::new(&sdk)),
            bus: bus.to_string(),
        }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, detail_type: &str, detail: &serde_json::Value) -> Result<(), String> {
        self.publish_all(&[(detail_type, detail)]).await
    }

    async fn publish_all(&self, events: &[(&str, &serde_json::Value)]) -> Result<(), String> {
        let entries = events.iter().map(|(detail_type, detail)| {
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(&self.bus)
                .source(SOURCE)
                .detail_type(*detail_type)
                .detail(detail.to_string())
                .build()
        });
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .map_err(|e| describe(&e))?;
        // PutEvents answers 200 with per-entry failures.
        match out.entries().iter().find_map(|e| e.error_code()) {
            Some(code) => Err(format!("PutEvents refused an event: {code}")),
            None => Ok(()),
        }
    }
}

/// The bus, for `Overrides::events` (see `App::on_aws`).
pub fn publisher(sdk: &aws_config::SdkConfig, bus: &str) -> std::sync::Arc<dyn EventPublisher> {
    std::sync::Arc::new(EventBridgePublisher::lazy(sdk, bus))
}
