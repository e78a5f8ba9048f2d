//! Use cases: each public method is one operation of the API, with its own error enum that
//! the HTTP layer maps to a status exactly once (`crate::http::problem`).

pub mod accounts;
pub mod chatops;
pub mod evidence;
pub mod groups;
pub mod organizations;
pub mod passwords;
pub mod revocation;
pub mod sessions;
pub mod shell_settings;
pub mod target;
pub mod users;
