//! Reading requests: route, path parameters, pagination and JSON bodies, each checked at the
//! edge so that handlers only see well-formed values.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Problem;
use crate::ports::PageRequest;

/// For PATCH fields: absent → `None`, `null` → `Some(None)`, a value → `Some(Some(v))`, so a
/// body naming no field at all can be told from one whose fields are all null (unchanged).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A nested request object. serde's derived structs also take a JSON array (their fields in
/// order); the contract says object, so this takes only an object.
#[derive(Debug, Clone)]
pub struct Object<T>(pub T);

/// Marks an error from inside an `Object` as `<NESTED>path<NESTED>message`, so `json_body`
/// can name the nested field.
const NESTED: char = '\u{1}';

impl<'de, T: DeserializeOwned> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        serde_path_to_error::deserialize(serde_json::Value::Object(map))
            .map(Object)
            .map_err(|e| serde::de::Error::custom(format!("{NESTED}{}{NESTED}{}", e.path(), e.inner())))
    }
}

/// Deserializes a whole number that JSON may write as `900` or `900.0`: JSON Schema's
/// `integer` (our contract) admits both, so both are accepted; `900.5` is refused.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(de)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        // The value is not repeated: request values may be secrets (see `json_body`).
        _ => Err(serde::de::Error::custom("expected a whole number")),
    }
}

/// `whole_number` for an optional field (absent or null: `None`).
pub fn optional_whole_number<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_number")] i64);
    Ok(Option::<Whole>::deserialize(de)?.map(|w| w.0))
}

/// The largest body any route accepts. Requests here are small JSON documents; a bigger body
/// is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 100;

/// The API Gateway route key (`"GET /accounts/{id}"`) the request matched.
pub fn route_key(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
}

/// `?limit=` (1..=100, default 50) and `?cursor=` (opaque, from a previous page).
pub fn page_request(req: &Request) -> Result<PageRequest, Problem> {
    let query = req.query_string_parameters_ref();
    let limit = match query.and_then(|q| q.first("limit")) {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| Problem::bad_request(format!("limit must be a whole number from 1 to {MAX_PAGE_SIZE}")))?,
    };
    // An empty cursor is the first page (clients often send `cursor=` unconditionally).
    let cursor = query
        .and_then(|q| q.first("cursor"))
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    Ok(PageRequest { limit, cursor })
}

/// A `YYYY-MM-DD` query parameter; absent is `None`, anything else is 400.
pub fn date_param(req: &Request, name: &str) -> Result<Option<time::Date>, Problem> {
    let Some(raw) = req.query_string_parameters_ref().and_then(|q| q.first(name)) else {
        return Ok(None);
    };
    time::Date::parse(raw, time::macros::format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| Problem::bad_request(format!("{name} must be a date, YYYY-MM-DD")))
}

/// Parses a JSON body into `T`. `T` should use `#[serde(deny_unknown_fields)]`: a field the API
/// does not know is refused, never silently ignored (no mass assignment).
///
/// - no body, or not JSON: 400; wrong `Content-Type`: 415; over 64 KiB: 413;
/// - well-formed JSON of the wrong shape (missing, unknown or mistyped fields): 422, naming
///   the field. Messages never repeat the offending value, which may be a secret.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, Problem> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "The request body is too large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::bad_request("a JSON request body is required"));
    }
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(Problem::new(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "The request body must be JSON",
            "send Content-Type: application/json",
        ));
    }
    // Every body of this API is an object; serde would otherwise take an array for a struct,
    // its fields in order (`[null, null]` for a PATCH).
    // (Text that is not JSON at all is answered below, as a malformed body.)
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(Problem::validation(crate::domain::Invalid::field(
            "",
            "the body must be a JSON object",
        )));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(de);
    let err = match result {
        Ok(v) => {
            return Ok(v);
        }
        Err(e) => e,
    };
    let path = err.path().to_string();
    let inner = err.inner();
    if inner.is_data() {
        let raw = inner.to_string();
        let (path, raw) = match raw.strip_prefix(NESTED).and_then(|r| r.split_once(NESTED)) {
            Some((".", message)) => (path, message.to_string()),
            Some((nested, message)) if path == "." => (nested.to_string(), message.to_string()),
            Some((nested, message)) => (format!("{path}.{nested}"), message.to_string()),
            None => (path, raw),
        };
        let message = redact(&raw);
        let mut field = if path == "." { String::new() } else { path };
        // serde reports a missing field against its parent; name the field itself.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            field = if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
        }
        return Err(Problem::validation(crate::domain::Invalid::field(field, message)));
    }
    Err(Problem::bad_request(format!(
        "the body is not valid JSON ({})",
        redact(&inner.to_string())
    )))
}

/// serde reports e.g. ``invalid type: string "AKIA…", expected u32``; keep the kind and the
/// expectation, drop the value.
fn redact(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    for prefix in ["invalid type", "invalid value", "invalid length", "unknown variant"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let expected = rest.find(", expected").map(|i| &rest[i..]).unwrap_or("");
            return format!("{prefix}{expected}");
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::{redact, whole_number};

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        #[derive(serde::Deserialize)]
        struct In {
            #[serde(deserialize_with = "whole_number")]
            n: i64,
        }
        let n = |json: &str| serde_json::from_str::<In>(json).map(|i| i.n);
        assert_eq!(n(r#"{"n": 900}"#).unwrap(), 900);
        assert_eq!(n(r#"{"n": 900.0}"#).unwrap(), 900);
        assert_eq!(n(r#"{"n": -1}"#).unwrap(), -1);
        assert!(n(r#"{"n": 900.5}"#).is_err());
        assert!(n(r#"{"n": 1e300}"#).is_err());
        assert!(n(r#"{"n": "900"}"#).is_err());
    }

    #[test]
    fn never_repeats_values() {
        assert_eq!(
            redact("invalid type: string \"s3cr3t\", expected u32 at line 1 column 9"),
            "invalid type, expected u32"
        );
        assert_eq!(
            redact("unknown variant `hunter2`, expected `access_key` or `assume_role`"),
            "unknown variant, expected `access_key` or `assume_role`"
        );
        assert_eq!(
            redact("missing field `name` at line 1 column 2"),
            "missing field `name`"
        );
    }
}
