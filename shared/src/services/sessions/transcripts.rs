//! Shell sessions' transcripts: what the end records of each (its SHA-256 and size, in the
//! log the digests sign), reading one back for its owner and admins (auditors only where the
//! deployment allows it, as a transcript can hold typed secrets), and whether it still
//! matches what the log recorded.

use serde_json::Value;

use super::{SessionError, SessionService};
use crate::auth::{Principal, Role};
use crate::domain::shell::SsmSession;
use crate::domain::{Email, Session, SessionId};
use crate::ports::{CloudError, ObjectDigest, TargetShell};

/// The most of a transcript one answer carries (Lambda answers stop at 6 MB).
pub const TRANSCRIPT_MAX_BYTES: usize = 1024 * 1024;

/// The largest transcript whose SHA-256 is computed (at a session's end, and to compare it
/// with the log's); a larger one has its size recorded and `sha256: null`.
pub const TRANSCRIPT_HASH_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// A Session Manager transcript, as read back from S3.
#[derive(Debug)]
pub struct Transcript {
    pub location: String,
    pub content: String,
    pub truncated: bool,
    /// What the session's log recorded of it at the end: the first record with its size.
    pub recorded: Option<RecordedTranscript>,
    /// Whether the object in S3 still is what the log recorded: `None` when the log has
    /// nothing to compare with (no record with a size, or the log does not verify), or when
    /// only the sizes can be compared (over the hashing bound) and they are equal.
    pub matches_log: Option<bool>,
}

/// A transcript's SHA-256 and size as the session's log recorded them at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTranscript {
    /// When it was recorded (the `shell_sessions` event's `at`).
    pub at: Option<String>,
    pub sha256: Option<String>,
    pub bytes: u64,
}

impl RecordedTranscript {
    /// Whether `now` is the object recorded: sizes first, then the hashes where both have one.
    fn matches(&self, now: Option<&ObjectDigest>) -> Option<bool> {
        let Some(now) = now else {
            // Recorded, and no longer in S3.
            return Some(false);
        };
        if now.bytes != self.bytes {
            return Some(false);
        }
        match (&self.sha256, &now.sha256) {
            (Some(then), Some(now)) => Some(then == now),
            _ => None,
        }
    }
}

/// What a shell session's end found of one transcript, as its `shell_sessions` event logs it
/// (`transcripts`): the digests that sign the log then cover it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct TranscriptRecord {
    pub(super) ssm_session_id: String,
    pub(super) location: String,
    /// `recorded` (`sha256` and `bytes`), `too_large` (`bytes` only), `absent` (not in S3),
    /// `unreadable` (S3 refused or did not answer).
    pub(super) status: &'static str,
    pub(super) sha256: Option<String>,
    pub(super) bytes: Option<u64>,
    /// Why there is no `sha256` (null when recorded).
    pub(super) reason: Option<String>,
}

/// `s3://<bucket>/<key>` as bucket and key.
fn split_location(location: &str) -> Option<(&str, &str)> {
    location.strip_prefix("s3://").and_then(|rest| rest.split_once('/'))
}

/// Reads one transcript to record its SHA-256 and size; never fails the end: what could not be
/// read is recorded as such.
pub(super) async fn transcript_record(shell: &dyn TargetShell, ssm: &SsmSession) -> Option<TranscriptRecord> {
    let location = ssm.transcript.clone()?;
    let (bucket, key) = split_location(&location)?;
    let found = shell.object_digest(bucket, key, TRANSCRIPT_HASH_MAX_BYTES).await;
    let mut record = TranscriptRecord {
        ssm_session_id: ssm.id.clone(),
        location: location.clone(),
        status: "recorded",
        sha256: None,
        bytes: None,
        reason: None,
    };
    match found {
        Ok(Some(ObjectDigest {
            bytes,
            sha256: Some(sha256),
        })) => {
            record.sha256 = Some(sha256);
            record.bytes = Some(bytes);
        }
        Ok(Some(ObjectDigest { bytes, sha256: None })) => {
            record.status = "too_large";
            record.bytes = Some(bytes);
            record.reason = Some(format!(
                "over {} MiB: its size is recorded, not its SHA-256",
                TRANSCRIPT_HASH_MAX_BYTES / (1024 * 1024)
            ));
        }
        Ok(None) => {
            record.status = "absent";
            record.reason = Some(
                "not in S3 at the end (yet): Session Manager uploads it when the Session Manager session ends, \
                 unless the node could not write it"
                    .into(),
            );
        }
        Err(e) => {
            tracing::warn!(ssm_session = %ssm.id, error = %e, "reading a transcript to record its SHA-256 failed");
            record.status = "unreadable";
            record.reason = Some(format!("reading it from S3 failed: {e}"));
        }
    }
    Some(record)
}

#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{0}")]
    NotFound(String),
    #[error("{step} failed: {error}")]
    Cloud { step: String, error: CloudError },
}

impl SessionService {
    /// One Session Manager transcript of a shell session, for its owner and admins (and
    /// auditors where the deployment allows it), read with the broker's access to the account.
    pub async fn transcript(
        &self,
        principal: &Principal,
        id: &SessionId,
        ssm_session_id: &str,
        on_behalf_of: Option<&Email>,
    ) -> Result<Transcript, TranscriptError> {
        // Transcripts may hold whatever was typed: not for bots (decided before the lookup,
        // so the answer says nothing of the session), nor for approvers.
        if principal.role == Role::Bot {
            return Err(
                SessionError::Denied("transcripts are for the session's user and admins, not bots".into()).into(),
            );
        }
        let session = self.get(principal, id, on_behalf_of).await?;
        let own = principal.email.as_deref() == Some(session.user.as_str());
        if !may_read_transcripts(principal.role, own, self.auditors_read_transcripts) {
            return Err(SessionError::Denied(
                "transcripts are for the session's user and admins (auditors only where AUDITORS_READ_TRANSCRIPTS is set)"
                    .into(),
            )
            .into());
        }
        let not_found = || {
            TranscriptError::NotFound(format!(
                "session {id} recorded no Session Manager session {ssm_session_id}"
            ))
        };
        let ssm = session
            .ssm_sessions
            .iter()
            .find(|s| s.id == ssm_session_id)
            .ok_or_else(not_found)?;
        let location = ssm.transcript.clone().ok_or_else(not_found)?;
        let (bucket, key) = split_location(&location).ok_or_else(not_found)?;
        let account = self
            .accounts
            .get(&session.account_id)
            .await
            .map_err(SessionError::from)?
            .ok_or_else(|| TranscriptError::NotFound("the session's account is gone".into()))?;
        let shell: Box<dyn TargetShell> = self
            .target
            .connect_shell(&account)
            .await
            .map_err(|(step, error)| TranscriptError::Cloud { step, error })?;
        let (bytes, truncated) = shell
            .read_object(bucket, key, TRANSCRIPT_MAX_BYTES)
            .await
            .map_err(|error| TranscriptError::Cloud {
                step: "read the transcript".into(),
                error,
            })?
            .ok_or_else(|| TranscriptError::NotFound(format!("{location} is not in S3 (yet)")))?;
        // Against the verified log's record: the object read whole when it was (no second
        // read), otherwise hashed as it streams in.
        let recorded = self.recorded_transcript(&session, ssm_session_id).await?;
        let matches_log = match &recorded {
            None => None,
            Some(r) => {
                let now = if truncated {
                    shell
                        .object_digest(bucket, key, TRANSCRIPT_HASH_MAX_BYTES)
                        .await
                        .map_err(|error| TranscriptError::Cloud {
                            step: "hash the transcript".into(),
                            error,
                        })?
                } else {
                    use sha2::Digest;
                    Some(ObjectDigest {
                        bytes: bytes.len() as u64,
                        sha256: Some(crate::domain::evidence::hex(&sha2::Sha256::digest(&bytes[..]))),
                    })
                };
                r.matches(now.as_ref())
            }
        };
        Ok(Transcript {
            location,
            content: String::from_utf8_lossy(&bytes).into_owned(),
            truncated,
            recorded,
            matches_log,
        })
    }

    /// The first SHA-256 and size the session's log recorded for a transcript (a later sweep
    /// records it again: the first is the closest to the end). Only from a log that verifies.
    async fn recorded_transcript(
        &self,
        session: &Session,
        ssm_session_id: &str,
    ) -> Result<Option<RecordedTranscript>, TranscriptError> {
        let (events, verified) = self.verified_log(session).await?;
        if verified.is_err() {
            return Ok(None);
        }
        Ok(first_recorded(&events, ssm_session_id))
    }
}

/// In a log's events, the first `transcripts` entry for `ssm_session_id` with a size.
fn first_recorded(events: &[Value], ssm_session_id: &str) -> Option<RecordedTranscript> {
    events.iter().filter(|e| e["type"] == "shell_sessions").find_map(|e| {
        let t = e["transcripts"]
            .as_array()?
            .iter()
            .find(|t| t["ssm_session_id"] == ssm_session_id && t["bytes"].is_u64())?;
        Some(RecordedTranscript {
            at: e["at"].as_str().map(str::to_string),
            sha256: t["sha256"].as_str().map(str::to_string),
            bytes: t["bytes"].as_u64()?,
        })
    })
}

/// Who may read a shell session's transcripts, which can hold whatever was typed (secrets
/// among it): its owner and admins; auditors only where the deployment allows it.
fn may_read_transcripts(role: Role, own: bool, auditors_allowed: bool) -> bool {
    own || role == Role::Admin || (role == Role::Auditor && auditors_allowed)
}

#[cfg(test)]
mod transcript_readers {
    use super::*;

    #[test]
    fn owner_and_admins_read_transcripts_auditors_only_when_allowed() {
        assert!(may_read_transcripts(Role::User, true, false));
        assert!(!may_read_transcripts(Role::User, false, true));
        assert!(may_read_transcripts(Role::Admin, false, false));
        assert!(!may_read_transcripts(Role::Auditor, false, false));
        assert!(may_read_transcripts(Role::Auditor, false, true));
        assert!(!may_read_transcripts(Role::Bot, false, true));
    }
}
