//! Cloud IAM Broker's shared library, used by every Lambda function and the local runner.
//!
//! - `domain`: the validated types of the product (no AWS types);
//! - `ports`: narrow traits for storage, cloud, key service and clock;
//! - `services`: the use cases, one error enum per operation;
//! - `adapters`: the ports on AWS (DynamoDB, STS, KMS);
//! - `auth`: bearer tokens into a `Principal`;
//! - `http`: problem+json errors, request parsing, the request envelope;
//! - `routes`: the route table; `config`/`app`: environment and wiring; `telemetry`: logs.

pub mod adapters;
pub mod app;
pub mod auth;
pub mod authz;
pub mod config;
pub mod domain;
pub mod encoding;
pub mod http;
pub mod metrics;
pub mod ports;
pub mod routes;
pub mod services;
pub mod telemetry;

pub use app::App;
