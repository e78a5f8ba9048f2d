//! Adapters: implementations of the ports (`crate::ports`) on real services.

pub mod aws;
