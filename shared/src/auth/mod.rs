//! Who is calling: bearer-token authentication into a `Principal`: keys (`keys`), claims to
//! principal (`claims`), allowed bots (`bots`), the person's binding to one e-mail
//! (`identities`), and the validation tying them together (`jwt`).
//!
//! What a principal may do is decided in `authz`.

pub mod bots;
pub mod claims;
pub mod identities;
pub mod jwt;
pub mod keys;
pub mod principal;

pub use bots::{ActsFor, Bots};
pub use claims::ClaimMapping;
pub use jwt::{AuthError, Authenticator, JwtConfig};
pub use keys::{KeySource, Monotonic};
pub use principal::{Principal, Role};
