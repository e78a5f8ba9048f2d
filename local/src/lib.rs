//! The local runner: Cloud IAM Broker on localhost, with no Docker and no real AWS.
//!
//! - `local_aws`: starts and seeds moto (authenticated mode);
//! - `federation`: a stand-in for AWS's sign-in federation endpoint;
//! - `gateway`: routes requests to the function handlers as API Gateway v2 events;
//! - `slack`: a stand-in for Slack's response URLs and the Slack jobs queue's poller;
//! - `system`: wires both with the broker's configuration and mints local tokens.
//!
//! The end-to-end tests start the same system, so what a developer runs is what is tested.

pub mod federation;
pub mod gateway;
pub mod local_aws;
pub mod slack;
pub mod system;

pub use system::{AwsMode, LocalSystem, Options};
