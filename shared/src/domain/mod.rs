//! The domain: what the broker manages, as types that can only hold valid values.
//!
//! Everything here is validated at the edge (HTTP bodies, stored records) and then trusted.
//! No AWS SDK type appears in this module; adapters translate at the boundary.

pub mod access;
pub mod account;
pub mod activity;
pub mod chatops;
pub mod evidence;
pub mod iam_policies;
pub mod identity;
pub mod identity_center;
pub mod jit;
pub mod kind;
pub mod log_chain;
pub mod organization;
pub mod policy;
pub mod request;
pub mod revocation;
pub mod secret;
pub mod session;
pub mod shell;
pub mod trust;
pub mod validation;

pub use access::*;
pub use account::*;
pub use chatops::*;
pub use identity::*;
pub use jit::*;
pub use policy::{Approval, GrantPolicy};
pub use request::*;
pub use secret::Secret;
pub use session::*;
pub use validation::{Collector, FieldError, Invalid};
