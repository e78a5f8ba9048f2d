//! An account's shell settings, validated, and the Session Manager preferences document they
//! ask for (with the drift between it and the account's copy).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    AgentVersion, IDLE_TIMEOUT_MINUTES, MAX_RUN_AS_USERS, MAX_SELECTOR_ENTRIES, MIN_AGENT, MIN_AGENT_STREAMING, OsUser,
    PREFERENCES_DOCUMENT, ShellTarget, TargetSelector,
};
use crate::domain::{AwsAccountId, Collector, Email, Invalid, MaxDuration, RoleArn};

/// Where Session Manager writes session data: an S3 bucket (always) and optionally CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub s3_bucket: String,
    pub s3_key_prefix: String,
    /// Refuse to log to a bucket without default encryption (Session Manager checks it).
    pub s3_encryption: bool,
    /// Encrypts session data between client and node (a KMS key id or ARN).
    pub kms_key_id: Option<String>,
    pub cloudwatch_log_group: Option<String>,
    pub cloudwatch_streaming: bool,
}

impl Recording {
    /// Where Session Manager puts a session's transcript: `<prefix>/<session id>.log`, joined
    /// as the SSM Agent joins it (Go's `path.Join`: empty and `.` segments dropped).
    pub fn transcript_key(&self, ssm_session_id: &str) -> String {
        let mut parts: Vec<&str> = Vec::new();
        for part in self.s3_key_prefix.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        let file = format!("{ssm_session_id}.log");
        parts.push(&file);
        parts.join("/")
    }

    /// The oldest agent that can record this way.
    pub fn min_agent(&self) -> AgentVersion {
        if self.cloudwatch_log_group.is_some() && self.cloudwatch_streaming {
            MIN_AGENT_STREAMING
        } else {
            MIN_AGENT
        }
    }
}

/// An account's shell settings. Saved by admins; the preferences document follows them.
#[derive(Debug, Clone, PartialEq)]
pub struct ShellSettings {
    pub enabled: bool,
    /// The role shell sessions assume (trusting provisioned users as JIT roles do).
    pub role: RoleArn,
    pub targets: TargetSelector,
    /// The OS user sessions run as when the platform user has none of their own.
    pub run_as_default: Option<OsUser>,
    /// Platform users with their own OS user (passed as the `SSMSessionRunAs` session tag).
    pub run_as: BTreeMap<Email, OsUser>,
    pub max_duration: MaxDuration,
    pub idle_timeout_minutes: u32,
    pub recording: Recording,
    /// The shell role's trust policy, reviewed when the settings were saved.
    pub trust_review: Vec<crate::domain::trust::RoleTrustReview>,
}

/// Shell settings as an admin sent them, before validation.
#[derive(Debug, Clone, Default)]
pub struct ShellSettingsInput {
    pub enabled: bool,
    pub role_arn: String,
    pub target_tags: BTreeMap<String, String>,
    pub target_ids: Vec<String>,
    pub run_as_default: Option<String>,
    pub run_as: BTreeMap<String, String>,
    pub max_duration_seconds: i64,
    pub idle_timeout_minutes: i64,
    pub s3_bucket: String,
    pub s3_key_prefix: Option<String>,
    pub s3_encryption: bool,
    pub kms_key_id: Option<String>,
    pub cloudwatch_log_group: Option<String>,
    pub cloudwatch_streaming: bool,
}

fn bucket_ok(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !s.contains("..")
}

fn printable(s: &str, max: usize) -> bool {
    s.chars().count() <= max && !s.chars().any(char::is_control)
}

impl ShellSettings {
    /// Validates settings for the account `owner`: the role must be in that account.
    pub fn parse(owner: &AwsAccountId, raw: ShellSettingsInput) -> Result<Self, Invalid> {
        let mut c = Collector::default();
        let role = c.take(RoleArn::parse(&raw.role_arn).map_err(|e| e.under("role_arn")));
        if let Some(role) = &role
            && role.account() != owner
        {
            c.push(
                "role_arn",
                format!("role is in account {}, not this account ({owner})", role.account()),
            );
        }
        let mut targets = TargetSelector::default();
        if raw.target_tags.len() + raw.target_ids.len() > MAX_SELECTOR_ENTRIES {
            c.push(
                "targets",
                format!("at most {MAX_SELECTOR_ENTRIES} tags and ids together"),
            );
        }
        for (k, v) in &raw.target_tags {
            let field = format!("targets.tags.{k}");
            if k.is_empty() || !printable(k, 128) || k.to_ascii_lowercase().starts_with("aws:") {
                c.push(&field, "tag keys are 1 to 128 characters and may not start with aws:");
            } else if !printable(v, 256) {
                c.push(&field, "tag values are at most 256 characters");
            } else {
                targets.tags.insert(k.clone(), v.clone());
            }
        }
        for (i, raw_id) in raw.target_ids.iter().enumerate() {
            let field = format!("targets.instance_ids[{i}]");
            if let Some(id) = c.take(ShellTarget::parse(raw_id).map_err(|e| Invalid::field(&field, &e.0[0].message))) {
                if targets.ids.contains(&id) {
                    c.push(&field, "is listed twice");
                } else {
                    targets.ids.push(id);
                }
            }
        }
        if raw.target_tags.is_empty() && raw.target_ids.is_empty() {
            c.push(
                "targets",
                "name the reachable targets by tags, by instance_ids, or both",
            );
        }
        let run_as_default = raw
            .run_as_default
            .as_deref()
            .and_then(|u| c.take(OsUser::parse(u).map_err(|e| e.under("run_as.default_user"))));
        if !raw.run_as.is_empty() && raw.run_as_default.is_none() {
            // With run-as on, a user without their own OS user and no default cannot start.
            c.push(
                "run_as.default_user",
                "is required when users have their own OS users (Session Manager refuses sessions with no run-as user)",
            );
        }
        if raw.run_as.len() > MAX_RUN_AS_USERS {
            c.push("run_as.users", format!("at most {MAX_RUN_AS_USERS} users"));
        }
        let mut run_as = BTreeMap::new();
        for (email, user) in &raw.run_as {
            let field = format!("run_as.users.{email}");
            let email = c.take(Email::parse(email).map_err(|e| Invalid::field(&field, &e.0[0].message)));
            let user = c.take(OsUser::parse(user).map_err(|e| e.under(&field)));
            if let (Some(email), Some(user)) = (email, user) {
                run_as.insert(email, user);
            }
        }
        let max_duration = c.take(MaxDuration::parse(raw.max_duration_seconds));
        if !(i64::from(*IDLE_TIMEOUT_MINUTES.start())..=i64::from(*IDLE_TIMEOUT_MINUTES.end()))
            .contains(&raw.idle_timeout_minutes)
        {
            c.push("idle_timeout_minutes", "must be between 1 and 60 minutes");
        }
        if !bucket_ok(&raw.s3_bucket) {
            c.push(
                "recording.s3_bucket",
                "must be an S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-')",
            );
        }
        let prefix = raw.s3_key_prefix.unwrap_or_default();
        if !printable(&prefix, 512) || prefix.starts_with('/') {
            c.push(
                "recording.s3_key_prefix",
                "must be at most 512 characters, without control characters or a leading '/'",
            );
        }
        // A key id or key ARN: IAM checks kms:GenerateDataKey against the key's ARN, which an
        // alias does not name, so the session policy could not allow it.
        if let Some(k) = &raw.kms_key_id {
            let id_ok =
                |id: &str| (1..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            let ok = match k.strip_prefix("arn:") {
                Some(rest) => {
                    let parts: Vec<&str> = rest.splitn(5, ':').collect();
                    parts.len() == 5 && parts[1] == "kms" && parts[4].strip_prefix("key/").is_some_and(id_ok)
                }
                None => id_ok(k),
            };
            if !ok {
                c.push(
                    "recording.kms_key_id",
                    "must be a KMS key id or key ARN (not an alias: IAM checks the key's ARN)",
                );
            }
        }
        if let Some(g) = &raw.cloudwatch_log_group {
            let ok =
                (1..=512).contains(&g.len()) && g.chars().all(|c| c.is_ascii_alphanumeric() || "_-/.#".contains(c));
            if !ok {
                c.push("recording.cloudwatch_log_group", "must be a CloudWatch Logs group name");
            }
        }
        if raw.cloudwatch_streaming && raw.cloudwatch_log_group.is_none() {
            c.push("recording.cloudwatch_streaming", "needs a cloudwatch_log_group");
        }
        c.finish()?;
        Ok(ShellSettings {
            enabled: raw.enabled,
            role: role.expect("collector checked"),
            targets,
            run_as_default,
            run_as,
            max_duration: max_duration.expect("collector checked"),
            idle_timeout_minutes: raw.idle_timeout_minutes as u32,
            recording: Recording {
                s3_bucket: raw.s3_bucket,
                s3_key_prefix: prefix,
                s3_encryption: raw.s3_encryption,
                kms_key_id: raw.kms_key_id,
                cloudwatch_log_group: raw.cloudwatch_log_group,
                cloudwatch_streaming: raw.cloudwatch_streaming,
            },
            trust_review: Vec::new(),
        })
    }

    /// The OS user `user`'s sessions run as, if the broker names one (the session tag); `None`
    /// leaves it to the document's default.
    pub fn run_as_for(&self, user: &Email) -> Option<&OsUser> {
        self.run_as.get(user)
    }

    /// Whether Session Manager's run-as is on: with a default or any per-user OS user.
    fn run_as_enabled(&self) -> bool {
        self.run_as_default.is_some() || !self.run_as.is_empty()
    }

    /// The content of the preferences document these settings ask for (AWS's Session document
    /// schema 1.0, `Standard_Stream`).
    pub fn preferences(&self) -> Value {
        let r = &self.recording;
        json!({
            "schemaVersion": "1.0",
            "description": "Session Manager preferences kept by Cloud IAM Broker",
            "sessionType": "Standard_Stream",
            "inputs": {
                "s3BucketName": r.s3_bucket,
                "s3KeyPrefix": r.s3_key_prefix,
                "s3EncryptionEnabled": r.s3_encryption,
                "cloudWatchLogGroupName": r.cloudwatch_log_group.clone().unwrap_or_default(),
                "cloudWatchEncryptionEnabled": r.cloudwatch_log_group.is_some(),
                "cloudWatchStreamingEnabled": r.cloudwatch_streaming,
                "kmsKeyId": r.kms_key_id.clone().unwrap_or_default(),
                "runAsEnabled": self.run_as_enabled(),
                "runAsDefaultUser": self.run_as_default.as_ref().map(|u| u.as_str()).unwrap_or(""),
                "idleSessionTimeout": self.idle_timeout_minutes.to_string(),
                "maxSessionDuration": (self.max_duration.seconds().div_ceil(60)).to_string(),
                "shellProfile": { "windows": "", "linux": "" },
            }
        })
    }
}

/// One way the preferences document in the account differs from the settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    pub field: String,
    pub expected: Value,
    pub actual: Value,
}

/// How the document `actual` (its JSON content, `None` when it does not exist) differs from
/// `expected` in the settings the broker keeps (`inputs` and `sessionType`); values are
/// compared as AWS reads them (`"true"` and `true` are the same).
pub fn drift(expected: &Value, actual: Option<&str>) -> Vec<Drift> {
    let Some(actual) = actual else {
        return vec![Drift {
            field: "document".into(),
            expected: json!(PREFERENCES_DOCUMENT),
            actual: Value::Null,
        }];
    };
    let Ok(actual) = serde_json::from_str::<Value>(actual) else {
        return vec![Drift {
            field: "document".into(),
            expected: json!("JSON content"),
            actual: json!("unreadable"),
        }];
    };
    let same = |a: &Value, b: &Value| a == b || (!a.is_object() && !b.is_object() && loose(a) == loose(b));
    let mut out = Vec::new();
    if !same(&expected["sessionType"], &actual["sessionType"]) {
        out.push(Drift {
            field: "sessionType".into(),
            expected: expected["sessionType"].clone(),
            actual: actual["sessionType"].clone(),
        });
    }
    if let Some(inputs) = expected["inputs"].as_object() {
        for (k, v) in inputs {
            let got = &actual["inputs"][k];
            if !same(v, got) {
                out.push(Drift {
                    field: format!("inputs.{k}"),
                    expected: v.clone(),
                    actual: got.clone(),
                });
            }
        }
    }
    out
}

fn loose(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> AwsAccountId {
        AwsAccountId::parse("123456789012").unwrap()
    }

    fn input() -> ShellSettingsInput {
        ShellSettingsInput {
            enabled: true,
            role_arn: "arn:aws:iam::123456789012:role/Shell".into(),
            target_tags: [("Environment".to_string(), "staging".to_string())].into(),
            max_duration_seconds: 3600,
            idle_timeout_minutes: 20,
            s3_bucket: "transcripts".into(),
            s3_key_prefix: Some("shell/".into()),
            s3_encryption: true,
            ..Default::default()
        }
    }

    #[test]
    fn selectors_match_ids_or_every_tag() {
        let s = ShellSettings::parse(
            &owner(),
            ShellSettingsInput {
                target_ids: vec!["i-0123abcd".into()],
                ..input()
            },
        )
        .unwrap();
        let none = BTreeMap::new();
        let staging: BTreeMap<_, _> = [("Environment".to_string(), "staging".to_string())].into();
        let prod: BTreeMap<_, _> = [("Environment".to_string(), "prod".to_string())].into();
        assert!(s.targets.allows(&ShellTarget::parse("i-0123abcd").unwrap(), &none));
        assert!(s.targets.allows(&ShellTarget::parse("i-9999abcd").unwrap(), &staging));
        assert!(!s.targets.allows(&ShellTarget::parse("i-9999abcd").unwrap(), &prod));
        assert!(!s.targets.allows(&ShellTarget::parse("i-9999abcd").unwrap(), &none));
    }

    #[test]
    fn settings_are_validated_field_by_field() {
        for (key, ok) in [
            ("1234abcd-12ab-34cd-56ef-1234567890ab", true),
            (
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                true,
            ),
            ("alias/sessions", false),
            ("arn:aws:kms:eu-west-1:123456789012:alias/sessions", false),
        ] {
            let parsed = ShellSettings::parse(
                &owner(),
                ShellSettingsInput {
                    kms_key_id: Some(key.into()),
                    ..input()
                },
            );
            assert_eq!(parsed.is_ok(), ok, "{key}");
        }
        let err = ShellSettings::parse(
            &owner(),
            ShellSettingsInput {
                role_arn: "arn:aws:iam::210987654321:role/Shell".into(),
                target_tags: BTreeMap::new(),
                max_duration_seconds: 60,
                idle_timeout_minutes: 61,
                s3_bucket: "Bad_Bucket".into(),
                run_as_default: Some("-root".into()),
                cloudwatch_streaming: true,
                ..input()
            },
        )
        .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "role_arn",
                "targets",
                "run_as.default_user",
                "max_duration_seconds",
                "idle_timeout_minutes",
                "recording.s3_bucket",
                "recording.cloudwatch_streaming"
            ]
        );
    }

    #[test]
    fn the_document_follows_the_settings_and_drift_is_reported() {
        let mut s = ShellSettings::parse(&owner(), input()).unwrap();
        let doc = s.preferences();
        assert_eq!(doc["inputs"]["runAsEnabled"], false);
        assert_eq!(doc["inputs"]["maxSessionDuration"], "60");
        assert!(drift(&doc, Some(&doc.to_string())).is_empty());
        assert_eq!(drift(&doc, None)[0].field, "document");
        s.run_as_default = Some(OsUser::parse("ec2-user").unwrap());
        let changed = s.preferences();
        let fields: Vec<_> = drift(&changed, Some(&doc.to_string()))
            .into_iter()
            .map(|d| d.field)
            .collect();
        assert_eq!(fields, ["inputs.runAsDefaultUser", "inputs.runAsEnabled"]);
        // AWS hands booleans back as strings when the document was written that way.
        let mut stringly = changed.clone();
        stringly["inputs"]["runAsEnabled"] = json!("true");
        assert!(drift(&changed, Some(&stringly.to_string())).is_empty());
    }

    #[test]
    fn transcripts_land_under_the_prefix() {
        let s = ShellSettings::parse(&owner(), input()).unwrap();
        assert_eq!(s.recording.transcript_key("cib-x-0a1b"), "shell/cib-x-0a1b.log");
        let mut r = s.recording.clone();
        r.s3_key_prefix = String::new();
        assert_eq!(r.transcript_key("cib-x-0a1b"), "cib-x-0a1b.log");
        r.s3_key_prefix = "./a//b/".into();
        assert_eq!(r.transcript_key("cib-x-0a1b"), "a/b/cib-x-0a1b.log");
    }
}
