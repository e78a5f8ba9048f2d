//! What is particular to shell sessions: the target checks before a grant (the seed's
//! Session Manager checklist as answers), closing the Session Manager sessions a shell session
//! opened when it ends, and reading their transcripts back.

use serde_json::{Value, json};

use super::{SessionError, SessionService, StartError, refused, rfc3339};
use crate::auth::{Principal, Role};
use crate::domain::shell::{AgentVersion, PREFERENCES_DOCUMENT, ShellSettings, ShellTarget, SsmSession};
use crate::domain::{Account, Email, Session, SessionId};
use crate::ports::{CloudError, ObjectDigest, SsmSessionInfo, TargetShell};

/// Session Manager in a shell session's account, reached once for a batch of ends, and
/// where its transcripts go now.
pub(super) struct ShellReach {
    pub(super) conn: Box<dyn TargetShell>,
    pub(super) recording: Option<crate::domain::shell::Recording>,
}

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
struct TranscriptRecord {
    ssm_session_id: String,
    location: String,
    /// `recorded` (`sha256` and `bytes`), `too_large` (`bytes` only), `absent` (not in S3),
    /// `unreadable` (S3 refused or did not answer).
    status: &'static str,
    sha256: Option<String>,
    bytes: Option<u64>,
    /// Why there is no `sha256` (null when recorded).
    reason: Option<String>,
}

/// `s3://<bucket>/<key>` as bucket and key.
fn split_location(location: &str) -> Option<(&str, &str)> {
    location.strip_prefix("s3://").and_then(|rest| rest.split_once('/'))
}

/// Reads one transcript to record its SHA-256 and size; never fails the end: what could not be
/// read is recorded as such.
async fn transcript_record(shell: &dyn TargetShell, ssm: &SsmSession) -> Option<TranscriptRecord> {
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

fn cloud(step: &str) -> impl FnOnce(CloudError) -> StartError + '_ {
    move |error| StartError::Cloud {
        step: step.to_string(),
        error,
    }
}

/// The ARN Session Manager records as the owner of sessions these credentials open.
fn owner_arn(session: &Session) -> Option<String> {
    let role = session.role.as_ref()?;
    let partition = role.as_str().split(':').nth(1).unwrap_or("aws");
    Some(format!(
        "arn:{partition}:sts::{}:assumed-role/{}/{}",
        session.aws_account_id,
        role.name(),
        session.id.role_session_name()
    ))
}

impl SessionService {
    /// The target exists in the account, matches the selector, runs, and is managed by an
    /// agent recent enough for the recording asked; otherwise a 422 naming what is missing.
    pub(super) async fn check_target(
        &self,
        account: &Account,
        shell: &dyn TargetShell,
        settings: &ShellSettings,
        target: &ShellTarget,
    ) -> Result<(), StartError> {
        let not_found = || {
            refused(
                "target-not-found",
                format!(
                    "there is no {target} in AWS account {} ({})",
                    account.aws_account_id, account.default_region
                ),
            )
        };
        let node = if target.is_managed_node() {
            let node = shell
                .managed_node(target)
                .await
                .map_err(cloud("describe the managed node"))?
                .ok_or_else(not_found)?;
            let tags = shell.node_tags(target).await.map_err(cloud("read the node's tags"))?;
            if !settings.targets.allows(target, &tags) {
                return Err(outside(target));
            }
            Some(node)
        } else {
            let instance = shell
                .instance(target)
                .await
                .map_err(cloud("describe the instance"))?
                .ok_or_else(not_found)?;
            if !settings.targets.allows(target, &instance.tags) {
                return Err(outside(target));
            }
            if instance.state != "running" {
                return Err(refused(
                    "target-not-running",
                    format!("{target} is {}, not running", instance.state),
                ));
            }
            let node = shell
                .managed_node(target)
                .await
                .map_err(cloud("describe the managed node"))?;
            // Asked only to explain: an instance managed without a profile (Default Host
            // Management Configuration) is managed all the same.
            if node.is_none() && instance.instance_profile.is_none() {
                return Err(refused(
                    "target-not-managed",
                    format!(
                        "{target} is not managed by Systems Manager and has no IAM instance profile, so its SSM \
                         Agent cannot reach Systems Manager: attach one whose role has the \
                         AmazonSSMManagedInstanceCore policy (or turn on Default Host Management Configuration)"
                    ),
                ));
            }
            node
        };
        let node = node.ok_or_else(|| {
            refused(
                "target-not-managed",
                format!(
                    "{target} is not managed by Systems Manager: its SSM Agent has not registered; check that \
                     it is installed and running and can reach the ssm, ssmmessages and ec2messages endpoints"
                ),
            )
        })?;
        if node.ping_status != "Online" {
            return Err(refused(
                "target-not-managed",
                format!(
                    "the SSM Agent on {target} is not connected (ping status {}); check that it is running and \
                     can reach the ssm, ssmmessages and ec2messages endpoints",
                    node.ping_status
                ),
            ));
        }
        let needed = settings.recording.min_agent();
        match AgentVersion::parse(&node.agent_version) {
            Some(v) if v >= needed => Ok(()),
            _ => Err(refused(
                "agent-too-old",
                format!(
                    "the SSM Agent on {target} is version {}; recording sessions as configured needs {needed} or later",
                    if node.agent_version.is_empty() {
                        "unknown"
                    } else {
                        &node.agent_version
                    }
                ),
            )),
        }
    }

    /// Terminates the live Session Manager sessions `session`'s credentials opened and records
    /// all of them (with where each transcript lands) on the session and in its log. Called
    /// once the credentials are revoked, so no new one can open meanwhile.
    pub(super) async fn close_shell_sessions(&self, session: &mut Session, reach: &ShellReach) -> Result<(), String> {
        let Some(owner) = owner_arn(session) else {
            return Err("a shell session without a role".into());
        };
        let shell = &*reach.conn;
        let recording = reach.recording.as_ref();
        let live = shell
            .sessions_of(&owner, true)
            .await
            .map_err(|e| format!("list live Session Manager sessions: {e}"))?;
        let mut terminated = Vec::new();
        for s in &live {
            shell
                .terminate(&s.id)
                .await
                .map_err(|e| format!("terminate Session Manager session {}: {e}", s.id))?;
            terminated.push(s.id.clone());
        }
        let mut all = shell
            .sessions_of(&owner, false)
            .await
            .map_err(|e| format!("list finished Session Manager sessions: {e}"))?;
        // History may lag behind a termination: keep the live list's entries it lacks.
        for s in live {
            if !all.iter().any(|h| h.id == s.id) {
                all.push(s);
            }
        }
        session.ssm_sessions = all
            .into_iter()
            .map(|s: SsmSessionInfo| SsmSession {
                transcript: recording
                    .as_ref()
                    .map(|r| format!("s3://{}/{}", r.s3_bucket, r.transcript_key(&s.id))),
                id: s.id,
                target: s.target,
                started_at: s.started_at,
                ended_at: s.ended_at,
            })
            .collect();
        // Each transcript's SHA-256 and size, so that the log (and the digests signing it)
        // covers what Session Manager wrote: a transcript changed later no longer matches.
        // One at a time: a shell session opens few Session Manager sessions.
        let mut transcripts: Vec<TranscriptRecord> = Vec::new();
        for s in &session.ssm_sessions {
            transcripts.extend(transcript_record(shell, s).await);
        }
        // One event per distinct finding: a retry that finds the same logs nothing new, a later
        // sweep that finds more logs again.
        let digest = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            for s in &session.ssm_sessions {
                h.update(s.id.as_bytes());
                h.update(b"\n");
            }
            h.update(b"terminated\n");
            for id in &terminated {
                h.update(id.as_bytes());
                h.update(b"\n");
            }
            h.update(b"transcripts\n");
            for t in &transcripts {
                let line = format!(
                    "{} {} {} {}\n",
                    t.ssm_session_id,
                    t.status,
                    t.sha256.as_deref().unwrap_or("-"),
                    t.bytes.map_or_else(|| "-".to_string(), |b| b.to_string())
                );
                h.update(line.as_bytes());
            }
            let out = h.finalize();
            out[..6].iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let event = self.session_event(
            "shell_sessions",
            format!("{}:shell_sessions:{digest}", session.id),
            session,
            json!({
                "ssm_sessions": session.ssm_sessions.iter().map(|s| json!({
                    "id": s.id,
                    "target": s.target,
                    "started_at": s.started_at.map(rfc3339),
                    "ended_at": s.ended_at.map(rfc3339),
                    "transcript": s.transcript,
                })).collect::<Vec<_>>(),
                "terminated": terminated,
                "transcripts": transcripts,
            }),
        );
        session.log_head = self
            .record(&session.log_key, event)
            .await
            .map_err(|e| format!("log the Session Manager sessions: {e}"))?;
        Ok(())
    }

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

    /// Refuses a shell start while the account's Session Manager preferences document does not
    /// record as the shell settings say (changed in the console, say): Session Manager would
    /// record elsewhere, or not at all, than what the broker reports. Read once, through the
    /// connection the target checks use; the detail names the fields, not their values.
    pub(super) async fn check_preferences(
        &self,
        account: &Account,
        shell: &dyn TargetShell,
        settings: &ShellSettings,
    ) -> Result<(), StartError> {
        let drift = crate::services::shell_settings::document_drift(shell, settings)
            .await
            .map_err(cloud("read the Session Manager preferences"))?;
        if drift.is_empty() {
            return Ok(());
        }
        let fields: Vec<&str> = drift.iter().map(|d| d.field.as_str()).collect();
        let what = if fields == ["document"] {
            format!("{PREFERENCES_DOCUMENT} is missing or not JSON")
        } else {
            format!("{PREFERENCES_DOCUMENT} differs in {}", fields.join(", "))
        };
        Err(refused(
            "shell-preferences-drift",
            format!(
                "the Session Manager preferences of AWS account {} ({}) do not record as the shell settings say: \
                 {what}; an admin saves the shell settings again (PUT /accounts/{}/shell) to put them back",
                account.aws_account_id, account.default_region, account.id
            ),
        ))
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

fn outside(target: &ShellTarget) -> StartError {
    refused(
        "target-not-allowed",
        format!("{target} is not among the targets this account's shell settings allow"),
    )
}

impl SessionService {
    /// Terminates the live Session Manager sessions a JIT session's credentials opened, and
    /// logs them. Errors are logged, not returned: the deny already holds.
    pub(super) async fn close_jit_ssm_sessions(&self, session: &mut Session, reach: &ShellReach) {
        let Some(owner) = owner_arn(session) else { return };
        let live = match reach.conn.sessions_of(&owner, true).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "listing the JIT session's Session Manager sessions failed");
                return;
            }
        };
        let mut terminated = Vec::new();
        for s in &live {
            match reach.conn.terminate(&s.id).await {
                Ok(()) => terminated.push(s.id.clone()),
                Err(e) => {
                    tracing::warn!(session = %session.id, ssm_session = %s.id, error = %e, "terminating a JIT session's Session Manager session failed")
                }
            }
        }
        if live.is_empty() {
            return;
        }
        let event = self.session_event(
            "shell_sessions",
            format!("{}:jit_ssm_sessions", session.id),
            session,
            json!({
                "ssm_sessions": live.iter().map(|s| json!({
                    "id": s.id,
                    "target": s.target,
                    "started_at": s.started_at.map(rfc3339),
                })).collect::<Vec<_>>(),
                "terminated": terminated,
            }),
        );
        match self.record(&session.log_key, event).await {
            Ok(head) => session.log_head = head,
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "logging the JIT session's Session Manager sessions failed")
            }
        }
    }
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
