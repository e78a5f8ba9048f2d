//! `--clock-ahead-seconds N`: a loopback control that moves the broker's clock N seconds ahead of
//! the local AWS's (the wall clock) when asked. A journey writes its session logs in real time,
//! then moves the broker past their hour, so that its expirer digests them at once
//! (web/tests/shell-audit.spec.ts). The clock is not ahead from the start: the digester's cursor
//! would then run ahead of every LastModified the local AWS gives, and a log written after its
//! first run would never be digested, as on AWS no log can be.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use shared::ports::OffsetClock;

#[derive(Clone)]
struct Control {
    clock: Arc<OffsetClock>,
    ahead: Duration,
    moved: Arc<AtomicBool>,
}

/// Serves `POST /clock/ahead` on a free loopback port: the first call moves `clock` `ahead`, a
/// later one leaves it (the call is safe to repeat). Returns the control's URL.
pub async fn serve(clock: Arc<OffsetClock>, ahead: Duration) -> Result<String, String> {
    let control = Control {
        clock,
        ahead,
        moved: Default::default(),
    };
    let router = axum::Router::new()
        .route("/clock/ahead", axum::routing::post(move_ahead))
        .with_state(control);
    let addr = crate::serve_on_loopback(0, router).await?;
    Ok(format!("http://{addr}/clock/ahead"))
}

async fn move_ahead(State(c): State<Control>) -> impl IntoResponse {
    if !c.moved.swap(true, Ordering::SeqCst) {
        c.clock.advance(c.ahead);
        tracing::info!(
            seconds = c.ahead.as_secs(),
            "the broker's clock moved ahead of the local AWS's"
        );
    }
    axum::Json(serde_json::json!({ "ahead_seconds": c.ahead.as_secs() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ports::Clock;

    #[tokio::test]
    async fn the_clock_moves_ahead_once_when_asked() {
        let clock = Arc::new(OffsetClock::default());
        let url = serve(clock.clone(), Duration::from_secs(7200)).await.unwrap();
        let before = clock.now();
        assert!(
            before - time::OffsetDateTime::now_utc() < time::Duration::seconds(5),
            "not ahead before it is asked"
        );
        let client = reqwest::Client::new();
        for _ in 0..2 {
            let answer = client.post(&url).send().await.unwrap();
            assert_eq!(answer.status(), 200);
        }
        let ahead = clock.now() - time::OffsetDateTime::now_utc();
        assert!(
            ahead > time::Duration::seconds(7190) && ahead < time::Duration::seconds(7210),
            "two hours ahead, once: {ahead}"
        );
    }
}
