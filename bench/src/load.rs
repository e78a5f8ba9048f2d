//! Load: CLIENTS concurrent clients start and end JIT sessions for SECONDS against the local
//! runner (loopback only, bounded by the run's length), then every session is checked: ended,
//! and its log verified with `requested`, `started` and `ended` in it. Prints server errors,
//! p50/p99 of starts and ends, and sessions missing their log or end, and where the CPU went
//! while the clients ran: this process (the broker's handlers, the local runner and the clients,
//! in Rust) against its child processes (the local AWS: moto, in Python), from `/proc`.
//!
//! The clients are spread over several accounts (one role each), as real load is: one role's
//! revocation pages hold about a thousand revoked sessions at a time (docs/revocation.md).

use std::time::{Duration, Instant};

use serde_json::json;

pub struct Load {
    pub clients: usize,
    pub seconds: u64,
    pub sessions: usize,
    pub server_errors: usize,
    /// Other refusals (4xx), which a correct run has none of.
    pub refusals: usize,
    pub start_p50_ms: f64,
    pub start_p99_ms: f64,
    pub end_p50_ms: f64,
    pub end_p99_ms: f64,
    /// Sessions whose log or end is missing after the run.
    pub incomplete: usize,
    /// CPU seconds while the clients ran: this process (broker, runner, clients) and the local
    /// AWS (this process's descendants); `None` where `/proc` cannot be read.
    pub cpu: Option<(f64, f64)>,
}

/// CPU seconds (user and system) used so far by this process, and by its descendants still
/// running (the local AWS), as `/proc/<pid>/stat` counts them.
fn cpu_seconds() -> Option<(f64, f64)> {
    // Linux's USER_HZ: 100 on every architecture the broker is built for.
    const TICKS: f64 = 100.0;
    let stat = |pid: u32| -> Option<(u32, f64)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command may hold spaces and parentheses: fields count from the last ')'.
        let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
        let ppid = fields.get(1)?.parse().ok()?;
        let used: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some((ppid, used / TICKS))
    };
    let me = std::process::id();
    let own = stat(me)?.1;
    let processes: Vec<(u32, u32, f64)> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| stat(pid).map(|(ppid, used)| (pid, ppid, used)))
        .collect();
    let mut parents = vec![me];
    let mut children = 0.0;
    while let Some(parent) = parents.pop() {
        for (pid, _, used) in processes.iter().filter(|(_, ppid, _)| *ppid == parent) {
            children += used;
            parents.push(*pid);
        }
    }
    Some((own, children))
}

/// One client's outcome.
#[derive(Default)]
struct Tally {
    starts: Vec<Duration>,
    ends: Vec<Duration>,
    ids: Vec<(String, String)>,
    server_errors: usize,
    refusals: usize,
    /// What the server errors said (their problem's type and detail), to print.
    errors: Vec<String>,
}

/// One answer a correct run should not get, as it is printed.
fn said(step: &str, reply: &e2e::Reply) -> String {
    format!(
        "{step} {}: {}",
        reply.status,
        reply.text.chars().take(300).collect::<String>()
    )
}

const ACCOUNTS: usize = 5;

pub async fn load(clients: usize, seconds: u64) -> Load {
    let env = e2e::env();
    env.on_system(run(env, clients.max(1), seconds)).await
}

async fn run(env: &'static e2e::TestEnv, clients: usize, seconds: u64) -> Load {
    let mut fixtures = Vec::new();
    for i in 0..ACCOUNTS.min(clients) {
        fixtures.push(e2e::fixture(env, &format!("load{i}")).await);
    }
    let cpu_before = cpu_seconds();
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers = (0..clients).map(|c| {
        let f = &fixtures[c % fixtures.len()];
        async move {
            let api = env.client();
            let mut tally = Tally::default();
            while Instant::now() < until {
                let body = json!({ "account_id": f.account, "type": "jit", "role_arn": f.role, "duration_seconds": 900, "reason": "load benchmark" });
                let started = Instant::now();
                let reply = api.post("/sessions", &f.token, body).await;
                tally.starts.push(started.elapsed());
                if reply.status >= 500 {
                    tally.server_errors += 1;
                    tally.errors.push(said("start", &reply));
                    continue;
                }
                if reply.status != 201 {
                    tally.refusals += 1;
                    continue;
                }
                let id = reply.json()["session"]["id"].as_str().expect("an id").to_string();
                let ending = Instant::now();
                let reply = api.end_session(&f.token, &id).await;
                tally.ends.push(ending.elapsed());
                match reply.status {
                    500.. => {
                        tally.server_errors += 1;
                        tally.errors.push(said("end", &reply));
                    }
                    200 => {}
                    _ => tally.refusals += 1,
                }
                tally.ids.push((id, f.token.clone()));
            }
            tally
        }
    });
    let tallies = futures::future::join_all(workers).await;
    let cpu = cpu_before
        .zip(cpu_seconds())
        .map(|((own, aws), (own_after, aws_after))| (own_after - own, aws_after - aws));
    let mut all = Tally::default();
    for t in tallies {
        all.starts.extend(t.starts);
        all.ends.extend(t.ends);
        all.ids.extend(t.ids);
        all.server_errors += t.server_errors;
        all.refusals += t.refusals;
        all.errors.extend(t.errors);
    }
    for error in all.errors.iter().take(10) {
        eprintln!("load: {error}");
    }
    // Every session: ended, and its log holds its start and its end, verified.
    let api = env.client();
    let mut incomplete = 0;
    for (id, token) in &all.ids {
        let session = api.get(&format!("/sessions/{id}"), token).await;
        let log = api.get(&format!("/sessions/{id}/log"), token).await;
        let ended = session.status == 200 && session.json()["status"] == "ended";
        let logged = log.status == 200 && {
            let log = log.json();
            let types: Vec<&str> = log["events"]
                .as_array()
                .map(|e| e.iter().filter_map(|e| e["type"].as_str()).collect())
                .unwrap_or_default();
            log["verified"] == true && ["requested", "started", "ended"].iter().all(|t| types.contains(t))
        };
        if !(ended && logged) {
            incomplete += 1;
            if incomplete <= 5 {
                let s = session.json();
                eprintln!(
                    "load: session {id} {} (last error: {})",
                    s["status"],
                    s["last_error"].as_str().unwrap_or("none")
                );
            }
        }
    }
    Load {
        clients,
        seconds,
        sessions: all.ids.len(),
        server_errors: all.server_errors,
        refusals: all.refusals,
        start_p50_ms: percentile(&mut all.starts, 50.0),
        start_p99_ms: percentile(&mut all.starts, 99.0),
        end_p50_ms: percentile(&mut all.ends, 50.0),
        end_p99_ms: percentile(&mut all.ends, 99.0),
        incomplete,
        cpu,
    }
}

/// The nearest-rank percentile, in ms.
fn percentile(times: &mut [Duration], p: f64) -> f64 {
    if times.is_empty() {
        return f64::NAN;
    }
    times.sort();
    let rank = ((p / 100.0) * times.len() as f64).ceil().max(1.0) as usize;
    times[rank.min(times.len()) - 1].as_secs_f64() * 1000.0
}
