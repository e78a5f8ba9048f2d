//! `ActivityConnector`/`EventHistory` on CloudTrail's LookupEvents in a target account,
//! reached with the account's registered access in the Region asked.

use async_trait::async_trait;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};

use super::sts::target_credentials;
use super::{describe, service_code};
use crate::domain::activity::{ActivityResource, LookedUp};
use crate::ports::{
    AccountAccess, ActivityConnector, CloudError, EventHistory, LookupError, LookupPage, LookupRequest,
};

/// Session name recorded in the target account's CloudTrail when the broker assumes its role.
const SESSION_NAME: &str = "cloud-iam-broker";

pub struct AwsActivityConnector {
    base: aws_config::SdkConfig,
}

/// The connector as `App` wires it (`crate::app::ActivityFactory`).
pub fn connector(sdk: &aws_config::SdkConfig) -> std::sync::Arc<dyn ActivityConnector> {
    std::sync::Arc::new(AwsActivityConnector { base: sdk.clone() })
}

#[async_trait]
impl ActivityConnector for AwsActivityConnector {
    async fn connect(&self, access: &AccountAccess, region: &str) -> Result<Box<dyn EventHistory>, CloudError> {
        let credentials = target_credentials(&self.base, access, SESSION_NAME).await?;
        let config = aws_sdk_cloudtrail::config::Builder::from(&self.base)
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(credentials)
            // The broker paces and backs off itself (`services::sessions::activity`), so a
            // throttled call comes back at once and the wait is the broker's to choose.
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Ok(Box::new(AwsEventHistory {
            client: aws_sdk_cloudtrail::Client::from_conf(config),
        }))
    }
}

struct AwsEventHistory {
    client: aws_sdk_cloudtrail::Client,
}

fn to_smithy(t: time::OffsetDateTime) -> aws_sdk_cloudtrail::primitives::DateTime {
    aws_sdk_cloudtrail::primitives::DateTime::from_secs(t.unix_timestamp())
}

fn to_time(t: Option<&aws_sdk_cloudtrail::primitives::DateTime>) -> Option<time::OffsetDateTime> {
    t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.secs()).ok())
}

#[async_trait]
impl EventHistory for AwsEventHistory {
    async fn lookup(&self, request: &LookupRequest) -> Result<LookupPage, LookupError> {
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::from(request.lookup.attribute))
            .attribute_value(&request.lookup.value)
            .build()
            .map_err(|e| CloudError::Unavailable(format!("building a request: {e}")))?;
        let out = self
            .client
            .lookup_events()
            .lookup_attributes(attribute)
            .start_time(to_smithy(request.start))
            .end_time(to_smithy(request.end))
            .max_results(request.max_results as i32)
            .set_next_token(request.next_token.clone())
            .send()
            .await
            .map_err(|e| {
                let text = describe(&e);
                match service_code(&e).as_deref() {
                    Some("ThrottlingException" | "Throttling" | "TooManyRequestsException") => {
                        LookupError::Throttled(text)
                    }
                    Some("InvalidNextTokenException") => LookupError::BadToken(text),
                    Some(
                        "AccessDenied"
                        | "AccessDeniedException"
                        | "UnrecognizedClientException"
                        | "InvalidClientTokenId"
                        | "OperationNotPermittedException"
                        | "InvalidLookupAttributesException"
                        | "InvalidTimeRangeException",
                    ) => LookupError::Cloud(CloudError::Refused(text)),
                    _ => LookupError::Cloud(CloudError::Unavailable(text)),
                }
            })?;
        let events = out
            .events()
            .iter()
            .map(|e| LookedUp {
                event_id: e.event_id().unwrap_or_default().to_string(),
                event_name: e.event_name().unwrap_or_default().to_string(),
                event_time: to_time(e.event_time()),
                event_source: e.event_source().unwrap_or_default().to_string(),
                read_only: e.read_only().map(str::to_string),
                access_key_id: e.access_key_id().map(str::to_string),
                username: e.username().map(str::to_string),
                resources: e
                    .resources()
                    .iter()
                    .map(|r| ActivityResource {
                        resource_type: r.resource_type().map(str::to_string),
                        name: r.resource_name().map(str::to_string),
                    })
                    .collect(),
                record: e.cloud_trail_event().map(str::to_string),
            })
            .collect();
        Ok(LookupPage {
            events,
            next_token: out.next_token().map(str::to_string),
        })
    }
}
