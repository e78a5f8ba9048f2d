//! The API's routes and which function serves each: the single list that the local runner
//! routes by, and that tests hold `infra/openapi.yaml` and `infra/template.yaml` to.

use std::collections::HashMap;

pub use crate::encoding::percent_decode;

/// The Lambda functions behind the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Accounts,
    Users,
    Groups,
    Sessions,
    Chatops,
}

impl Function {
    /// The crate, binary and SAM logical-id stem of the function.
    pub fn name(self) -> &'static str {
        match self {
            Function::Accounts => "accounts",
            Function::Users => "users",
            Function::Groups => "groups",
            Function::Sessions => "sessions",
            Function::Chatops => "chatops",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// An API Gateway path template: `{name}` is one path segment.
    pub path: &'static str,
    pub function: Function,
}

impl Route {
    /// The API Gateway route key, e.g. `GET /accounts/{id}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

const fn r(method: &'static str, path: &'static str, function: Function) -> Route {
    Route { method, path, function }
}

pub const ROUTES: &[Route] = &[
    r("POST", "/accounts", Function::Accounts),
    r("POST", "/accounts/external-ids", Function::Accounts),
    r("GET", "/accounts", Function::Accounts),
    r("GET", "/accounts/{id}", Function::Accounts),
    r("PATCH", "/accounts/{id}", Function::Accounts),
    r("DELETE", "/accounts/{id}", Function::Accounts),
    r("GET", "/accounts/{id}/jit", Function::Accounts),
    r("PUT", "/accounts/{id}/jit", Function::Accounts),
    r("GET", "/accounts/{id}/evidence", Function::Accounts),
    r("GET", "/accounts/{id}/shell", Function::Accounts),
    r("PUT", "/accounts/{id}/shell", Function::Accounts),
    r("POST", "/organizations", Function::Accounts),
    r("GET", "/organizations", Function::Accounts),
    r("GET", "/organizations/{id}", Function::Accounts),
    r("DELETE", "/organizations/{id}", Function::Accounts),
    r("POST", "/organizations/{id}/sync", Function::Accounts),
    r("PUT", "/organizations/{id}/identity-center", Function::Accounts),
    r(
        "POST",
        "/organizations/{id}/accounts/{aws_account_id}/enable",
        Function::Accounts,
    ),
    r("POST", "/accounts/{id}/users", Function::Users),
    r("GET", "/accounts/{id}/users", Function::Users),
    r("POST", "/accounts/{id}/user-imports", Function::Users),
    r("GET", "/accounts/{id}/users/{name}", Function::Users),
    r("DELETE", "/accounts/{id}/users/{name}", Function::Users),
    r("POST", "/accounts/{id}/users/{name}/credentials", Function::Users),
    r("DELETE", "/identities/{email}", Function::Users),
    r("POST", "/groups", Function::Groups),
    r("GET", "/groups", Function::Groups),
    r("GET", "/groups/{id}", Function::Groups),
    r("PATCH", "/groups/{id}", Function::Groups),
    r("DELETE", "/groups/{id}", Function::Groups),
    r("GET", "/groups/{id}/members", Function::Groups),
    r("PUT", "/groups/{id}/members/{email}", Function::Groups),
    r("DELETE", "/groups/{id}/members/{email}", Function::Groups),
    r("GET", "/me", Function::Groups),
    r("POST", "/sessions", Function::Sessions),
    r("GET", "/sessions", Function::Sessions),
    r("GET", "/sessions/{id}", Function::Sessions),
    r("DELETE", "/sessions/{id}", Function::Sessions),
    r("GET", "/sessions/{id}/log", Function::Sessions),
    r("GET", "/sessions/{id}/activity", Function::Sessions),
    r("GET", "/sessions/{id}/transcripts/{ssm_session_id}", Function::Sessions),
    r("POST", "/sessions/{id}/approvals", Function::Sessions),
    r("POST", "/sessions/{id}/denials", Function::Sessions),
    r("POST", "/sessions/{id}/cancel", Function::Sessions),
    r("POST", "/sessions/{id}/extensions", Function::Sessions),
    r("POST", "/sessions/{id}/review", Function::Sessions),
    r("GET", "/accounts/{id}/shell/targets", Function::Sessions),
    r("GET", "/requests", Function::Sessions),
    r("GET", "/reviews", Function::Sessions),
    r("POST", "/chatops/slack/commands", Function::Chatops),
    r("POST", "/chatops/slack/interactions", Function::Chatops),
    r("GET", "/chatops/slack/users", Function::Chatops),
    r("PUT", "/chatops/slack/users/{slack_user_id}", Function::Chatops),
    r("DELETE", "/chatops/slack/users/{slack_user_id}", Function::Chatops),
    r(
        "POST",
        "/chatops/slack/users/{slack_user_id}/confirmation",
        Function::Chatops,
    ),
];

/// Matches a request as API Gateway does: exact segments, `{x}` for any one non-empty
/// segment. Returns the route and its path parameters (percent-decoded).
pub fn match_route(method: &str, path: &str) -> Option<(&'static Route, HashMap<String, String>)> {
    // API Gateway prefers literal segments over parameters, method by method. The broker goes
    // one step further: the most literal pattern any method matches names the resource, so
    // `PATCH /accounts/external-ids` is a method that resource lacks (405), not an update of an
    // account whose id is `external-ids` (`http::handler::method_not_allowed` answers the same
    // in AWS, where API Gateway routes it to `PATCH /accounts/{id}`).
    let resource = ROUTES
        .iter()
        .filter_map(|r| params_of(r, path).map(|_| r.path.matches('{').count()))
        .min()?;
    ROUTES
        .iter()
        .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.matches('{').count() == resource)
        .find_map(|r| params_of(r, path).map(|params| (r, params)))
}

/// The path parameters when `path` fits the route's pattern.
fn params_of(route: &Route, path: &str) -> Option<HashMap<String, String>> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let pattern: Vec<&str> = route.path.split('/').collect();
    if pattern.len() != segments.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (p, s) in pattern.iter().zip(&segments) {
        if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if s.is_empty() {
                return None;
            }
            params.insert(name.to_string(), percent_decode(s));
        } else if p != s {
            return None;
        }
    }
    Some(params)
}

/// The methods of the resource this path names (for 405's `Allow`); empty when the path is
/// unknown.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    ["GET", "POST", "PUT", "PATCH", "DELETE"]
        .into_iter()
        .filter(|m| match_route(m, path).is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_api_gateway() {
        let (route, params) = match_route("GET", "/accounts/01J0/jit").unwrap();
        assert_eq!(route.key(), "GET /accounts/{id}/jit");
        assert_eq!(params["id"], "01J0");
        assert_eq!(match_route("GET", "/accounts/").unwrap().0.key(), "GET /accounts");
        assert!(match_route("GET", "/accounts//jit").is_none());
        assert!(match_route("GET", "/nope").is_none());
        assert_eq!(allowed_methods("/accounts/x"), ["GET", "PATCH", "DELETE"]);
        assert_eq!(allowed_methods("/accounts/external-ids"), ["POST"]);
        assert!(match_route("PATCH", "/accounts/external-ids").is_none());
        assert_eq!(
            match_route("PATCH", "/accounts/x").unwrap().0.key(),
            "PATCH /accounts/{id}"
        );
        assert!(allowed_methods("/nope").is_empty());
        assert_eq!(match_route("GET", "/accounts/a%40b").unwrap().1["id"], "a@b");
    }
}
