//! When a signed Slack job may still run: the worker's rule on its signed issue time.

use time::OffsetDateTime;

use crate::domain::SlackJob;

/// How old a job may be when the worker takes it. Its answer could not be delivered later
/// anyway (Slack takes posts at a response URL for 30 minutes), and a signed job sent again
/// once its run-once record is gone must not run again.
const JOB_MAX_AGE_SECONDS: i64 = 3600;
/// How far ahead of the worker's clock a job's issue time may be: the chatops function accepts
/// Slack timestamps up to five minutes ahead of its own clock.
const JOB_MAX_AHEAD_SECONDS: i64 = 300;

/// Why a signed job may not run at `now` (too old, or dated ahead), or `None` when it may.
pub(super) fn out_of_date(job: &SlackJob, now: OffsetDateTime) -> Option<&'static str> {
    let age = now.unix_timestamp().saturating_sub(job.issued_at);
    if age > JOB_MAX_AGE_SECONDS {
        Some("it was issued more than an hour ago")
    } else if age < -JOB_MAX_AHEAD_SECONDS {
        Some("it is dated more than five minutes ahead")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_issued_at(issued_at: i64) -> SlackJob {
        SlackJob::signed(
            "id-1".into(),
            "U024BE7LH".into(),
            "list".into(),
            "https://hooks.slack.com/commands/T0001/1/x".into(),
            issued_at,
            &crate::domain::Secret::new("8f742231b10e8888abcd99yyyzzz85a5"),
        )
    }

    #[test]
    fn a_job_runs_only_within_an_hour_of_its_issue_and_not_dated_ahead() {
        let now = OffsetDateTime::from_unix_timestamp(1_795_374_000).unwrap();
        let at = |offset: i64| out_of_date(&job_issued_at(now.unix_timestamp() + offset), now);
        // Fresh: just issued, within the hour, a little ahead (clock skew).
        for offset in [0, -60, -JOB_MAX_AGE_SECONDS, JOB_MAX_AHEAD_SECONDS, 30] {
            assert_eq!(at(offset), None, "{offset}");
        }
        // Stale: older than an hour (a replay once the run-once record expired, days later).
        for offset in [-JOB_MAX_AGE_SECONDS - 1, -6 * 86_400] {
            assert_eq!(at(offset), Some("it was issued more than an hour ago"), "{offset}");
        }
        // From the future: more than five minutes ahead.
        for offset in [JOB_MAX_AHEAD_SECONDS + 1, 86_400] {
            assert_eq!(at(offset), Some("it is dated more than five minutes ahead"), "{offset}");
        }
        // No issue time (a job queued before jobs carried one, or hand-made): long stale; and
        // the extremes do not overflow.
        assert!(out_of_date(&job_issued_at(0), now).is_some());
        assert!(out_of_date(&job_issued_at(i64::MIN), now).is_some());
        assert!(out_of_date(&job_issued_at(i64::MAX), now).is_some());
    }
}
