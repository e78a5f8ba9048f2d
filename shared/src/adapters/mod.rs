//! Adapters: implementations of the ports (`crate::ports`) on real services (AWS, Slack's
//! response URLs), and a fault-injecting wrapper for tests.

pub mod aws;
pub mod fault;
pub mod recording;
pub mod slack;
