//! What the web console relies on from outside the browser: the API answers CORS for the
//! console's origin only (as the template configures API Gateway, and as the local gateway
//! plays it), and the console's Content-Security-Policy and CORS settings are the same in the
//! template as in the local runner. The console itself is tested in a real browser
//! (web/tests, run by scripts/test).

use e2e::{CONSOLE_ORIGIN, env};
use serde_yaml::Value as Yaml;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn template() -> Yaml {
    serde_yaml::from_str(&std::fs::read_to_string(format!("{ROOT}/infra/template.yaml")).unwrap()).unwrap()
}

/// Every string under `v`, through CloudFormation's tags (`!If`, `!Sub`).
fn strings(v: &Yaml, out: &mut Vec<String>) {
    match v {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Sequence(items) => items.iter().for_each(|i| strings(i, out)),
        Yaml::Mapping(m) => m.values().for_each(|i| strings(i, out)),
        Yaml::Tagged(t) => strings(&t.value, out),
        _ => {}
    }
}

/// A CSP's directives, with connect-src's hosts left out (they name each place's API and
/// identity provider) but its `'self'` kept.
fn directives(csp: &str) -> Vec<String> {
    csp.split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| match d.strip_prefix("connect-src") {
            Some(sources) => format!(
                "connect-src {}",
                sources
                    .split_whitespace()
                    .filter(|s| s.starts_with('\''))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None => d.to_string(),
        })
        .collect()
}

#[test]
fn the_console_is_served_with_the_same_policy_here_and_in_the_template() {
    let template = template();
    let policy = &template["Resources"]["ConsoleHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
        ["ContentSecurityPolicy"]["ContentSecurityPolicy"];
    let mut deployed = Vec::new();
    strings(policy, &mut deployed);
    let deployed: Vec<&String> = deployed.iter().filter(|s| s.contains("default-src")).collect();
    assert_eq!(deployed.len(), 2, "with and without a token endpoint: {deployed:?}");
    let local = local_runner::console::content_security_policy("http://127.0.0.1:3000", "http://127.0.0.1:3002");
    for csp in deployed {
        assert_eq!(directives(csp), directives(&local), "template: {csp}\nlocal: {local}");
    }
    assert!(local.contains("script-src 'self';") && !local.contains("unsafe"));
}

#[test]
fn the_template_configures_the_cors_the_local_gateway_plays() {
    let template = template();
    let cors = &template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    let list = |k: &str| {
        cors[k]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert_eq!(list("AllowMethods"), local_runner::cors::ALLOW_METHODS);
    assert_eq!(list("AllowHeaders"), local_runner::cors::ALLOW_HEADERS);
    assert_eq!(list("ExposeHeaders"), local_runner::cors::EXPOSE_HEADERS);
    assert_eq!(
        cors["MaxAge"].as_u64(),
        Some(local_runner::cors::MAX_AGE_SECONDS as u64)
    );
    let mut origins = Vec::new();
    strings(&cors["AllowOrigins"], &mut origins);
    assert_eq!(origins, ["https://${ConsoleDistribution.DomainName}"]);
}

#[tokio::test]
async fn the_api_answers_cors_for_the_console_origin_only() {
    let env = env();
    let api = env.client();
    let preflight = |origin: &'static str| {
        let api = api.clone();
        async move {
            api.send_with_headers(
                "OPTIONS",
                "/sessions",
                None,
                None,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "authorization, content-type, idempotency-key",
                    ),
                ],
            )
            .await
        }
    };
    let ok = preflight(CONSOLE_ORIGIN).await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    assert_eq!(ok.headers["access-control-allow-origin"], CONSOLE_ORIGIN);
    assert!(
        ok.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("idempotency-key")
    );
    let other = preflight("https://elsewhere.example").await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
    // An answer, error or not, carries the origin for the console (so it can read the problem).
    let me = api
        .send_with_headers("GET", "/me", Some(&env.admin()), None, &[("origin", CONSOLE_ORIGIN)])
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.headers["access-control-allow-origin"], CONSOLE_ORIGIN);
    let denied = api
        .send_with_headers("GET", "/accounts", None, None, &[("origin", CONSOLE_ORIGIN)])
        .await;
    assert_eq!(denied.status, 401);
    assert_eq!(denied.headers["access-control-allow-origin"], CONSOLE_ORIGIN);
    let foreign = api
        .send_with_headers(
            "GET",
            "/me",
            Some(&env.admin()),
            None,
            &[("origin", "https://elsewhere.example")],
        )
        .await;
    assert!(foreign.headers.get("access-control-allow-origin").is_none());
}
