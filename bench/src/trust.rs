//! One JIT role shared by many users: USERS users provisioned on one account whose role carries
//! the broker's trust, applied once. Prints the trust policy's size before and after (it must
//! not grow with users), the provisioning time per user, a sample of users starting sessions on
//! the role, and what revocation can hold per role.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct SharedRole {
    pub users: usize,
    pub trust_before: usize,
    pub trust_after: usize,
    pub statements: usize,
    pub provision_p50_ms: f64,
    pub provision_p99_ms: f64,
    pub provision_total_s: f64,
    pub failed: usize,
    pub sampled: usize,
    pub sample_started: usize,
}

/// Users provisioned at once (an admin's script would not flood IAM either).
const AT_ONCE: usize = 8;
/// Users of the shared role that start a session, spread over the whole population.
const SAMPLE: usize = 20;

/// IAM's size of a policy: characters other than white space.
fn iam_size(doc: &Value) -> usize {
    doc.to_string().chars().filter(|c| !c.is_whitespace()).count()
}

pub async fn shared_role(users: usize) -> SharedRole {
    use futures::StreamExt;
    let env = e2e::env();
    let api = env.client();
    let admin = env.admin();
    // The fixture's role carries the broker's trust, applied once, and one user in a group.
    let f = e2e::fixture(env, "shared-role").await;
    let before = e2e::role_trust(&f.iam, f.role_name()).await;
    let emails: Vec<String> = (0..users).map(|i| format!("u{i:04}.shared@example.com")).collect();
    let started = Instant::now();
    let timings: Vec<Option<Duration>> = futures::stream::iter(emails.iter())
        .map(|email| {
            let (api, admin, account, group) = (api.clone(), admin.clone(), f.account.clone(), f.group.clone());
            async move {
                let t = Instant::now();
                let made = api
                    .post(
                        &format!("/accounts/{account}/users"),
                        &admin,
                        json!({ "email": email, "console_access": false, "credential": true }),
                    )
                    .await;
                let took = t.elapsed();
                let member = api
                    .put(&format!("/groups/{group}/members/{email}"), &admin, json!({}))
                    .await;
                (made.status == 201 && member.status == 201).then_some(took)
            }
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    let provision_total_s = started.elapsed().as_secs_f64();
    let ok: Vec<Duration> = timings.iter().flatten().copied().collect();
    let after = e2e::role_trust(&f.iam, f.role_name()).await;
    assert_eq!(before, after, "provisioning never edits the trust");
    // A sample of users, spread over the population, start sessions on the role at once.
    let step = (users / SAMPLE).max(1);
    let sample: Vec<&String> = emails.iter().step_by(step).take(SAMPLE).collect();
    let starts = futures::future::join_all(sample.iter().map(|email| {
        let api = api.clone();
        let token = env.user(email);
        let body = f.jit(900);
        async move { api.post("/sessions", &token, body).await }
    }))
    .await;
    let mut sample_started = 0;
    for s in &starts {
        if s.status == 201 && env.try_call(&e2e::session_credentials(&s.json())).await.is_ok() {
            sample_started += 1;
        }
    }
    let mut ms: Vec<Duration> = ok.clone();
    ms.sort();
    let pct = |p: f64| {
        ms.get(
            ((ms.len() as f64 * p).ceil() as usize)
                .saturating_sub(1)
                .min(ms.len().saturating_sub(1)),
        )
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    SharedRole {
        users,
        trust_before: iam_size(&before),
        trust_after: iam_size(&after),
        statements: after["Statement"].as_array().map_or(0, Vec::len),
        provision_p50_ms: crate::median_ms(&ok),
        provision_p99_ms: pct(0.99),
        provision_total_s,
        failed: users - ok.len(),
        sampled: sample.len(),
        sample_started,
    }
}
