//! Benchmarks that print figures (nothing here is a timed test; these machines are shared).
//! `scripts/bench` builds what they measure and runs them all into one table;
//! docs/benchmarks.md records the results.
//!
//! - `bench calls [SAMPLES]`: backend calls, critical path and projected AWS latency per
//!   session operation (`calls`).
//! - `bench load [CLIENTS] [SECONDS]`: concurrent JIT starts and ends, then 1 000 sessions
//!   due at once for the expirer (`load`, `expirer`).
//! - `bench overhead [SAMPLES]`: API latency over direct backend calls (`overhead`).
//! - `bench lambda [RUNS]`: cold init and peak RSS of the release bootstraps (`lambda`).
//! - `bench size`: the arm64 bootstraps' sizes (`scripts/build-lambdas` builds them).
//! - `bench expirer [LIVE] [DUE]`: items read by one expirer run (`expirer`).
//! - `bench trust [USERS]`: USERS users on one JIT role under the broker's one trust: its
//!   size, provisioning time per user, a sample of starts, revocation's capacity (`trust`).
//! - `bench all [LIVE] [DUE]`: all of them, one table.

mod calls;
mod evidence;
mod expirer;
mod lambda;
mod load;
mod overhead;
mod seed;
mod trust;

use std::path::Path;

use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// One line of the summary table.
struct Row {
    benchmark: String,
    figure: String,
    target: String,
    met: bool,
}

fn main() {
    // Log as the functions do in Lambda (JSON, info), into a sink rather than the table. Without
    // this the test harness's debug-level capture would be measured as the broker's overhead.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::sink)
        .finish()
        .with(
            "info,aws_config=warn,aws_smithy_runtime=warn"
                .parse::<tracing_subscriber::filter::Targets>()
                .expect("directives parse"),
        )
        .try_init();
    // The functions' EMF metric lines (stdout in Lambda) are not the benchmark's figures.
    shared::metrics::write_to(std::io::sink());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let rows = match args.first().map(String::as_str) {
        Some("calls") => runtime.block_on(calls_rows(number(1, 5))),
        Some("load") => runtime.block_on(load_rows(number(1, 20), number(2, 60) as u64)),
        Some("overhead") => runtime.block_on(overhead_rows(number(1, 25))),
        Some("lambda") => runtime.block_on(lambda_rows(number(1, 15))),
        Some("size") => size_rows(),
        Some("expirer") => runtime.block_on(expirer_rows(number(1, 100_000), number(2, 100))),
        Some("evidence") => runtime.block_on(evidence_rows(number(1, 10_000))),
        Some("trust") => runtime.block_on(trust_rows(number(1, 1_000))),
        Some("all") | None => {
            let mut rows = runtime.block_on(calls_rows(5));
            rows.extend(runtime.block_on(overhead_rows(25)));
            rows.extend(runtime.block_on(lambda_rows(15)));
            rows.extend(size_rows());
            rows.extend(runtime.block_on(expirer_rows(number(1, 100_000), number(2, 100))));
            rows
        }
        Some(other) => {
            eprintln!(
                "unknown benchmark {other}; try: bench [all|calls|load|overhead|lambda|size|expirer|evidence|trust]"
            );
            std::process::exit(2);
        }
    };
    println!();
    println!("| benchmark | figure | target | status |");
    println!("|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} |",
            r.benchmark,
            r.figure,
            r.target,
            if r.met { "met" } else { "MISSED" }
        );
    }
    // The process holds the local system's threads; leave without waiting for them.
    std::process::exit(0);
}

pub fn median_ms(times: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    match ms.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => ms[n / 2],
        n => (ms[n / 2 - 1] + ms[n / 2]) / 2.0,
    }
}

/// Backend calls per operation; the sequences are printed as they run, the figures in the table.
async fn calls_rows(samples: usize) -> Vec<Row> {
    let profiles = calls::measure(samples).await;
    println!("\nBackend calls (`→` waited for the call before, `|` ran alongside it):");
    for p in &profiles {
        println!("- {}: {}", p.operation, p.sequence);
    }
    profiles
        .into_iter()
        .map(|p| {
            let (target, met) = match (p.operation, calls::before(p.operation)) {
                ("JIT start", _) => ("<= 8 calls, <= 5 on the critical path".to_string(), p.calls <= 8 && p.depth <= 5),
                (_, Some(before)) => (
                    format!("half of the {before} calls before issue 15: <= {}", before / 2),
                    p.calls <= before / 2,
                ),
                (_, None) => ("printed".to_string(), true),
            };
            Row {
                benchmark: format!("calls: {}", p.operation),
                figure: format!(
                    "**{} calls** ({}), **critical path {}**, projected on AWS **{:.0} ms**; {:.1} ms on local AWS (median of {samples})",
                    p.calls,
                    p.services(),
                    p.depth,
                    p.projected_ms,
                    p.api_ms
                ),
                target,
                met,
            }
        })
        .collect()
}

async fn load_rows(clients: usize, seconds: u64) -> Vec<Row> {
    let l = load::load(clients, seconds).await;
    let mut rows = vec![Row {
        benchmark: format!(
            "load: {} clients starting and ending JIT sessions for {} s",
            l.clients, l.seconds
        ),
        figure: format!(
            "**{} sessions**, **{} server errors**, {} refusals, **{} without their log or end**; start p50 {:.0} ms / p99 {:.0} ms, end p50 {:.0} ms / p99 {:.0} ms (local AWS)",
            l.sessions,
            l.server_errors,
            l.refusals,
            l.incomplete,
            l.start_p50_ms,
            l.start_p99_ms,
            l.end_p50_ms,
            l.end_p99_ms
        ),
        target: "0 server errors, every session logged and ended".into(),
        met: l.server_errors == 0 && l.refusals == 0 && l.incomplete == 0 && l.sessions > 0,
    }];
    if let Some((broker, aws)) = l.cpu {
        rows.push(Row {
            benchmark: "load: where the CPU went while the clients ran".into(),
            figure: format!(
                "broker, local runner and clients (this process, Rust) **{broker:.1} CPU-s**; local AWS (moto, Python) **{aws:.1} CPU-s** ({:.0}%), {:.2} and {:.2} CPU-s per session",
                100.0 * aws / (broker + aws).max(f64::EPSILON),
                broker / l.sessions.max(1) as f64,
                aws / l.sessions.max(1) as f64,
            ),
            target: "printed".into(),
            met: true,
        });
    }
    rows.extend(expirer_rows(1_000, 1_000).await);
    rows
}

/// One role shared by `users` users: the trust's size, provisioning per user, a sample of
/// starts, and revocation's capacity per role.
async fn trust_rows(users: usize) -> Vec<Row> {
    use shared::domain::revocation::{RoleRevocations, sustained_ends_per_hour};
    let t = trust::shared_role(users).await;
    vec![
        Row {
            benchmark: format!("trust: {} users on one JIT role", t.users + 1),
            figure: format!(
                "trust policy **{} characters** before and **{} after** ({} statements, IAM's quota 2,048); provisioning p50 {:.0} ms / p99 {:.0} ms per user, {:.0} s in all, {} failed (local AWS, {} at once); {} of {} sampled users started a session and used it",
                t.trust_before,
                t.trust_after,
                t.statements,
                t.provision_p50_ms,
                t.provision_p99_ms,
                t.provision_total_s,
                t.failed,
                8,
                t.sample_started,
                t.sampled
            ),
            target: "the trust does not grow with users and fits the default quota; every sampled start works".into(),
            met: t.trust_before == t.trust_after
                && t.trust_after <= 2_048
                && t.failed == 0
                && t.sample_started == t.sampled,
        },
        Row {
            benchmark: "revocation capacity per role".into(),
            figure: format!(
                "**{} revoked sessions** held at once, each until 12 h 30 min past its credentials' expiry (a console made from them can live that long): **{:.0} ended sessions per hour** sustained, {:.0} a day",
                RoleRevocations::capacity(),
                sustained_ends_per_hour(),
                sustained_ends_per_hour() * 24.0
            ),
            target: "printed (docs/revocation.md)".into(),
            met: true,
        },
    ]
}

async fn overhead_rows(samples: usize) -> Vec<Row> {
    overhead::measure(samples)
        .await
        .into_iter()
        .map(|r| Row {
            benchmark: format!("overhead: {}", r.operation),
            figure: format!(
                "API {:.1} ms / direct {:.1} ms = **{:.3}** ({} backend calls, median of {samples})",
                r.api_ms,
                r.direct_ms,
                r.ratio(),
                r.calls
            ),
            // Issue 15 asks registration for 1.05; the others keep 1.10.
            target: if r.operation == "account registration" {
                "<= 1.05"
            } else {
                "<= 1.10"
            }
            .into(),
            met: r.ratio()
                <= if r.operation == "account registration" {
                    1.05
                } else {
                    1.10
                },
        })
        .collect()
}

async fn lambda_rows(runs: usize) -> Vec<Row> {
    let env = e2e::env();
    let config = lambda::function_config(env);
    let hello = lambda::cold_init(lambda::HELLO, &config, runs).await;
    let mut rows = vec![Row {
        benchmark: format!("cold init: {}", lambda::HELLO),
        figure: format!("{:.1} ms (median of {})", hello.median_ms, hello.runs),
        target: "the yardstick".into(),
        met: true,
    }];
    for function in lambda::FUNCTIONS {
        let c = lambda::cold_init(function, &config, runs).await;
        let ratio = c.median_ms / hello.median_ms;
        rows.push(Row {
            benchmark: format!("cold init: {function}"),
            figure: format!(
                "{:.1} ms = **{ratio:.2}x** hello-world (median of {})",
                c.median_ms, c.runs
            ),
            target: "<= 1.2x (issue 15; was 1.5x)".into(),
            met: ratio <= 1.2,
        });
    }
    for function in lambda::FUNCTIONS {
        let m = lambda::memory(env, function, &config, 10).await;
        rows.push(Row {
            benchmark: format!("peak RSS: {}", m.function),
            figure: format!(
                "**{:.1} MB** after {} invocations (statuses {})",
                m.peak_rss_mb, m.invocations, m.statuses
            ),
            target: "< 64 MB".into(),
            met: m.peak_rss_mb < 64.0,
        });
    }
    rows
}

/// The arm64 bootstraps `cargo lambda build --release --arm64` left in target/lambda.
fn size_rows() -> Vec<Row> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/lambda");
    lambda::FUNCTIONS
        .iter()
        .map(|function| {
            let path = root.join(function).join("bootstrap");
            match std::fs::metadata(&path) {
                Ok(meta) => {
                    let mb = meta.len() as f64 / 1_000_000.0;
                    Row {
                        benchmark: format!("size: {function}"),
                        figure: format!("**{mb:.2} MB** ({} bytes, arm64, stripped)", meta.len()),
                        target: "<= 6 MB (issue 15)".into(),
                        met: meta.len() <= 6_000_000,
                    }
                }
                Err(_) => Row {
                    benchmark: format!("size: {function}"),
                    figure: format!("not built ({}): run scripts/build-lambdas", path.display()),
                    target: "<= 6 MB (issue 15)".into(),
                    met: false,
                },
            }
        })
        .collect()
}

async fn expirer_rows(live: usize, due: usize) -> Vec<Row> {
    let r = expirer::expirer_scale(live, due).await;
    vec![Row {
        benchmark: "expirer scale".into(),
        figure: format!(
            "{live} live, {due} due on one role: **{} items read ({:.2}x due)**, {} expired, {} failed, **{} IAM policy writes**, run {:.1} s on local AWS; {}",
            r.items_read, r.ratio, r.expired, r.failed, r.iam_writes, r.run_seconds, r.store
        ),
        target: "items read <= 2x due, no scan, all due ended in one run, IAM writes per role touched not per session"
            .into(),
        met: r.ratio <= 2.0
            && r.scans == 0
            && r.failed == 0
            && r.expired as usize == due
            && r.iam_writes <= 1 + shared::domain::revocation::MAX_MANAGED_PAGES,
    }]
}

async fn evidence_rows(objects: usize) -> Vec<Row> {
    let e = evidence::evidence_scale(objects).await;
    let sizes: Vec<String> = e
        .digest_bytes
        .iter()
        .map(|b| format!("{:.1} KB", *b as f64 / 1024.0))
        .collect();
    let per_object = e.digest_bytes.iter().sum::<i64>() as f64 / e.objects.max(1) as f64;
    vec![
        Row {
            benchmark: format!("evidence: digest of an hour with {} log objects", e.objects),
            figure: format!(
                "**{} digest(s), {}** ({per_object:.0} bytes an object); written in **{:.1} s** (seeding took {:.0} s)",
                e.digests_written,
                sizes.join(" + "),
                e.write_seconds,
                e.seeding_seconds
            ),
            target: "one run writes it".into(),
            met: e.digests_written >= 1,
        },
        Row {
            benchmark: format!("evidence: verify {} log objects", e.objects),
            figure: format!(
                "**{:.1} s**, {} valid, verdict {}",
                e.verify_seconds,
                e.verified_valid,
                if e.verify_ok { "valid" } else { "NOT valid" }
            ),
            target: "every object valid".into(),
            met: e.verify_ok && e.verified_valid == e.objects,
        },
    ]
}
