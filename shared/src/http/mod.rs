//! The HTTP edge shared by every function: RFC 9457 problem responses, request parsing into
//! validated values, JSON responses, and the per-request envelope (authentication and the
//! access log).

pub mod errors;
pub mod handler;
pub mod idempotency;
pub mod problem;
pub mod request;
pub mod response;

pub use handler::{Handled, authenticate, finish, require, serve};
pub use problem::Problem;
pub use request::{MAX_BODY_BYTES, date_param, json_body, page_request, path_param, route_key};
pub use response::{json, no_content};
