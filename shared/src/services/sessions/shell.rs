//! What is particular to shell sessions: the target checks before a grant (the seed's
//! Session Manager checklist as answers, and preferences that record as configured), and
//! closing the Session Manager sessions a shell (or JIT) session opened when it ends. Their
//! transcripts are `transcripts`'.

use serde_json::json;

use super::transcripts::{TranscriptRecord, transcript_record};
use super::{SessionService, StartError, refused, rfc3339};
use crate::domain::shell::{AgentVersion, PREFERENCES_DOCUMENT, ShellSettings, ShellTarget, SsmSession};
use crate::domain::{Account, Session};
use crate::ports::{CloudError, SsmSessionInfo, TargetShell};

/// Session Manager in a shell session's account, reached once for a batch of ends, and
/// where its transcripts go now.
pub(super) struct ShellReach {
    pub(super) conn: Box<dyn TargetShell>,
    pub(super) recording: Option<crate::domain::shell::Recording>,
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
