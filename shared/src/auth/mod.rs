//! Who is calling: bearer-token authentication into a `Principal`.
//!
//! Authorization (what a principal may do) lives beside it in `authz` once users and groups
//! exist; for accounts the rule is simply "admins only".

pub mod jwt;
pub mod principal;

pub use jwt::{AuthError, Authenticator, JwtConfig, KeySource};
pub use principal::{Principal, Role};
