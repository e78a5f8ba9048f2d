//! `cib verify` (admins): an account's session logs checked against their signed hourly digests
//! by the API (`GET /accounts/{id}/evidence`; docs/evidence.md). For people, the counts by
//! status, each digest or log object that is not valid, and "verified" or "NOT verified"; with
//! `--json`, the report as the API returns it. Either way a report that is not valid exits 5
//! (`exit::NOT_VERIFIED`), so scripts need not read it. The verdict is the API's, which also
//! holds the end of the chain to the newest digest the broker recorded (a `truncated` digest when
//! the bucket's chain ends before it): what verification from the bucket alone cannot see.

use serde_json::Value;

use crate::args::VerifyArgs;
use crate::client::{Client, Failure, exit};
use crate::output::{self, print};
use crate::progress;

/// The statuses in the order they are summed up (the API's `EvidenceReport`; one it adds later
/// comes after these).
const DIGEST_STATUSES: &[&str] = &["valid", "invalid-signature", "unreadable", "broken-link", "truncated"];
const OBJECT_STATUSES: &[&str] = &["valid", "modified", "missing", "unlisted", "pending"];
/// A digest or log object that is not valid.
const CHECK_COLUMNS: &[(&str, &str)] = &[("STATUS", "/status"), ("KEY", "/key"), ("DETAIL", "/detail")];

pub(crate) async fn verify(api: &Client, args: &VerifyArgs, json: bool) -> Result<(), Failure> {
    progress("verifying the session logs against their signed digests…");
    let report = api.call("GET", &path(args), None).await?;
    if json {
        print(&report, true, &[]);
    } else {
        print_report(&report);
    }
    if verified(&report) {
        Ok(())
    } else {
        Err(Failure::new(
            exit::NOT_VERIFIED,
            format!("the session logs of account {} do NOT verify", args.account),
        ))
    }
}

/// The route, with the days given (the API picks the defaults).
fn path(args: &VerifyArgs) -> String {
    let mut query = Vec::new();
    if let Some(from) = &args.from {
        query.push(format!("from={from}"));
    }
    if let Some(to) = &args.to {
        query.push(format!("to={to}"));
    }
    let path = format!("/accounts/{}/evidence", args.account);
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Only an explicit `valid: true` verifies.
fn verified(report: &Value) -> bool {
    report["valid"].as_bool() == Some(true)
}

fn print_report(report: &Value) {
    println!("digests: {}", counts(&report["digest_counts"], DIGEST_STATUSES));
    println!("objects: {}", counts(&report["object_counts"], OBJECT_STATUSES));
    let checks = not_valid(report);
    if !checks.is_empty() {
        println!();
        output::table(&checks, CHECK_COLUMNS);
    }
    println!();
    println!("{}", if verified(report) { "verified" } else { "NOT verified" });
}

/// `3 valid, 1 modified`, in `order` (then any status the API adds), or `none`.
fn counts(counts: &Value, order: &[&str]) -> String {
    let Some(map) = counts.as_object().filter(|m| !m.is_empty()) else {
        return "none".into();
    };
    let known = order.iter().filter_map(|status| map.get(*status).map(|n| (*status, n)));
    let other = map
        .iter()
        .filter(|(status, _)| !order.contains(&status.as_str()))
        .map(|(status, n)| (status.as_str(), n));
    known
        .chain(other)
        .map(|(status, n)| format!("{} {status}", output::cell(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The digests, then the log objects, whose status is not `valid` (pending ones included: they
/// do not fail, but are not vouched for yet).
fn not_valid(report: &Value) -> Vec<&Value> {
    ["digests", "objects"]
        .into_iter()
        .flat_map(move |list| report[list].as_array().into_iter().flatten())
        .filter(|check| check["status"] != "valid")
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;
    use crate::args::{Cli, Command};

    fn args(extra: &[&str]) -> Result<VerifyArgs, clap::Error> {
        let mut argv = vec!["cib", "verify", "--account", "01JACCOUNT"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv)?.command {
            Command::Verify(args) => Ok(args),
            _ => panic!("not a verify"),
        }
    }

    #[test]
    fn days_are_checked_before_the_call_and_only_those_given_are_sent() {
        assert_eq!(path(&args(&[]).unwrap()), "/accounts/01JACCOUNT/evidence");
        assert_eq!(
            path(&args(&["--from", "2026-11-01", "--to", "2026-11-24"]).unwrap()),
            "/accounts/01JACCOUNT/evidence?from=2026-11-01&to=2026-11-24"
        );
        assert_eq!(
            path(&args(&["--to", "2028-02-29"]).unwrap()),
            "/accounts/01JACCOUNT/evidence?to=2028-02-29"
        );
        for bad in [
            "yesterday",
            "2026-11-1",
            "2026-13-01",
            "2026-02-30",
            "2026-11-24T00:00:00Z",
            "+2026-11-01",
        ] {
            let refused = args(&["--from", bad]).err().unwrap_or_else(|| panic!("{bad} taken"));
            assert_eq!(refused.exit_code(), exit::USAGE, "{bad}");
        }
        assert!(
            Cli::try_parse_from(["cib", "verify", "--from", "2026-11-01"]).is_err(),
            "the account is not guessed"
        );
        let global = Cli::try_parse_from(["cib", "verify", "--account", "a", "--json"]).unwrap();
        assert!(global.json);
    }

    fn report() -> Value {
        json!({
            "valid": false,
            "digest_counts": { "broken-link": 1, "truncated": 1, "valid": 2 },
            "object_counts": { "missing": 1, "pending": 1, "valid": 3 },
            "digests": [
                { "key": "digests/A/20261124T090000Z_20261124T100000Z.json", "status": "valid" },
                { "key": "digests/A/20261124T100000Z_20261124T110000Z.json", "status": "valid" },
                { "key": "digests/A/20261124T120000Z_20261124T130000Z.json", "status": "broken-link",
                  "detail": "the digest it follows, digests/A/20261124T110000Z_20261124T120000Z.json, is missing" },
                { "key": "digests/A/20261124T130000Z_20261124T140000Z.json", "status": "truncated",
                  "detail": "truncated: the broker recorded this digest as the account's newest, but the newest in the bucket is digests/A/20261124T120000Z_20261124T130000Z.json (the digests after it were deleted)" },
            ],
            "objects": [
                { "key": "sessions/A/2026-11-24/S1.jsonl", "status": "valid", "digest": "d" },
                { "key": "sessions/A/2026-11-24/S2.jsonl", "status": "missing", "digest": "d",
                  "detail": "listed by its digest, not in the bucket" },
                { "key": "sessions/A/2026-11-24/S3.jsonl", "status": "pending" },
            ],
        })
    }

    #[test]
    fn the_summary_counts_in_a_fixed_order_and_lists_what_is_not_valid() {
        let report = report();
        assert_eq!(
            counts(&report["digest_counts"], DIGEST_STATUSES),
            "2 valid, 1 broken-link, 1 truncated"
        );
        assert_eq!(
            counts(&report["object_counts"], OBJECT_STATUSES),
            "3 valid, 1 missing, 1 pending"
        );
        assert_eq!(counts(&json!({}), OBJECT_STATUSES), "none");
        assert_eq!(
            counts(&json!({ "valid": 1, "quarantined": 2 }), OBJECT_STATUSES),
            "1 valid, 2 quarantined",
            "a status this cib does not know is still counted"
        );
        let listed: Vec<&str> = not_valid(&report)
            .iter()
            .map(|c| c["status"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ["broken-link", "truncated", "missing", "pending"]);
        assert!(!verified(&report));
        assert!(verified(&json!({ "valid": true })));
        assert!(!verified(&json!({})), "no verdict is not a verified one");
    }
}
