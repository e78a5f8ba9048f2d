//! `ShellConnector`/`TargetShell` on EC2, Systems Manager and S3 of a target account, reached
//! with the account's registered access in its default region.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ssm::types::{
    DocumentFormat, DocumentType, InstanceInformationStringFilter, ResourceTypeForTagging, SessionFilter,
    SessionFilterKey, SessionState,
};

use super::sts::target_credentials;
use super::{describe, service_code};
use crate::domain::shell::{PREFERENCES_DOCUMENT, ShellTarget};
use crate::ports::{
    AccountAccess, CloudError, Ec2Instance, ManagedNode, ObjectDigest, ShellConnector, SsmSessionInfo, TargetShell,
};

/// Session name recorded in the target account's CloudTrail when the broker assumes its role.
const SESSION_NAME: &str = "cloud-iam-broker";

pub struct AwsShellConnector {
    base: aws_config::SdkConfig,
    /// EC2, for the functions that check a shell target's instance (starts and approvals);
    /// `None` leaves EC2's SDK, most of this connector's size, out of the others.
    ec2: Option<Ec2Factory>,
}

/// Makes the EC2 side of a target connection.
type Ec2Factory = fn(&aws_config::SdkConfig, aws_config::Region, Credentials) -> Box<dyn DescribeInstance>;

type Credentials = aws_credential_types::Credentials;

impl AwsShellConnector {
    pub fn new(base: aws_config::SdkConfig) -> Self {
        AwsShellConnector {
            base,
            ec2: Some(ec2_side),
        }
    }
}

/// The connector as `App` wires it (`crate::app::ShellFactory`), EC2 included.
pub fn connector(sdk: &aws_config::SdkConfig) -> std::sync::Arc<dyn ShellConnector> {
    std::sync::Arc::new(AwsShellConnector::new(sdk.clone()))
}

/// Session Manager and S3 only, for the functions that never check an instance (shell
/// settings, ends, the expirer): `TargetShell::instance` answers "unavailable" there.
pub fn ssm_connector(sdk: &aws_config::SdkConfig) -> std::sync::Arc<dyn ShellConnector> {
    std::sync::Arc::new(AwsShellConnector {
        base: sdk.clone(),
        ec2: None,
    })
}

/// One instance's state, tags and profile; or those of the instances a tag selector names.
#[async_trait]
trait DescribeInstance: Send + Sync {
    async fn instance(&self, target: &ShellTarget) -> Result<Option<Ec2Instance>, CloudError>;
    async fn tagged(
        &self,
        tags: &BTreeMap<String, String>,
        max: usize,
    ) -> Result<Vec<(ShellTarget, Ec2Instance)>, CloudError>;
}

fn ec2_instance(i: &aws_sdk_ec2::types::Instance) -> Ec2Instance {
    Ec2Instance {
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        tags: i
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
            .collect(),
        instance_profile: i.iam_instance_profile().and_then(|p| p.arn()).map(str::to_string),
    }
}

fn ec2_side(
    base: &aws_config::SdkConfig,
    region: aws_config::Region,
    credentials: Credentials,
) -> Box<dyn DescribeInstance> {
    let config = aws_sdk_ec2::config::Builder::from(base)
        .region(region)
        .credentials_provider(credentials)
        .build();
    Box::new(Ec2Side(aws_sdk_ec2::Client::from_conf(config)))
}

struct Ec2Side(aws_sdk_ec2::Client);

#[async_trait]
impl DescribeInstance for Ec2Side {
    async fn instance(&self, target: &ShellTarget) -> Result<Option<Ec2Instance>, CloudError> {
        let out = found(
            self.0
                .describe_instances()
                .instance_ids(target.as_str())
                .send()
                .await
                .map_err(classify),
        )?;
        let Some(out) = out else { return Ok(None) };
        let instance = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(target.as_str()));
        Ok(instance.map(ec2_instance))
    }

    async fn tagged(
        &self,
        tags: &BTreeMap<String, String>,
        max: usize,
    ) -> Result<Vec<(ShellTarget, Ec2Instance)>, CloudError> {
        use aws_sdk_ec2::types::Filter;
        // Filters are ANDed: `tag:<key>` = value for each, and never a terminated instance.
        let mut filters: Vec<Filter> = tags
            .iter()
            .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
            .collect();
        filters.push(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(
                    ["pending", "running", "stopping", "stopped"].map(String::from).to_vec(),
                ))
                .build(),
        );
        let mut found = Vec::new();
        let mut token = None;
        let mut pages = 0;
        loop {
            let out = self
                .0
                .describe_instances()
                .set_filters(Some(filters.clone()))
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(classify)?;
            for i in out.reservations().iter().flat_map(|r| r.instances()) {
                if let Some(id) = i.instance_id().and_then(|id| ShellTarget::parse(id).ok()) {
                    found.push((id, ec2_instance(i)));
                }
            }
            token = out.next_token().map(str::to_string);
            pages += 1;
            // Filters apply after paging, so a page may hold none: a bounded number of pages.
            if token.is_none() || found.len() >= max || pages >= 10 {
                break;
            }
        }
        found.truncate(max);
        Ok(found)
    }
}

fn classify<E: aws_sdk_ssm::error::ProvideErrorMetadata + std::fmt::Debug>(
    err: aws_sdk_ssm::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> CloudError {
    let text = describe(&err);
    match service_code(&err).as_deref() {
        Some(
            "InvalidInstanceID.NotFound"
            | "InvalidInstanceID.Malformed"
            | "InvalidDocument"
            | "InvalidResourceId"
            | "DoesNotExistException"
            | "NoSuchKey"
            | "NotFound",
        ) => CloudError::NotFound(text),
        Some(
            "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "UnrecognizedClient"
            | "InvalidDocumentContent"
            | "ValidationException"
            | "NoSuchBucket",
        ) => CloudError::Refused(text),
        _ => CloudError::Unavailable(text),
    }
}

fn found<T>(result: Result<T, CloudError>) -> Result<Option<T>, CloudError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(CloudError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn built<T>(r: Result<T, aws_sdk_ssm::error::BuildError>) -> Result<T, CloudError> {
    r.map_err(|e| CloudError::Unavailable(format!("building a request: {e}")))
}

fn to_time(t: Option<&aws_sdk_ssm::primitives::DateTime>) -> Option<time::OffsetDateTime> {
    t.and_then(|t| {
        time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(t.secs()) * 1_000_000_000 + i128::from(t.subsec_nanos()),
        )
        .ok()
    })
}

#[async_trait]
impl ShellConnector for AwsShellConnector {
    async fn connect(&self, access: &AccountAccess) -> Result<Box<dyn TargetShell>, CloudError> {
        let region = aws_config::Region::new(access.region.to_string());
        let credentials = target_credentials(&self.base, access, SESSION_NAME).await?;
        let ec2 = self
            .ec2
            .map(|make| make(&self.base, region.clone(), credentials.clone()));
        let ssm = aws_sdk_ssm::config::Builder::from(&self.base)
            .region(region.clone())
            .credentials_provider(credentials.clone())
            .build();
        // Path-style, as local S3-compatible endpoints need (AWS accepts it).
        let s3 = aws_sdk_s3::config::Builder::from(&self.base)
            .region(region)
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        Ok(Box::new(AwsTargetShell {
            ec2,
            ssm: aws_sdk_ssm::Client::from_conf(ssm),
            s3: aws_sdk_s3::Client::from_conf(s3),
        }))
    }
}

struct AwsTargetShell {
    ec2: Option<Box<dyn DescribeInstance>>,
    ssm: aws_sdk_ssm::Client,
    s3: aws_sdk_s3::Client,
}

impl AwsTargetShell {
    /// The preferences document's version whose content is `content` (as JSON), newest first.
    async fn version_holding(&self, content: &str) -> Result<String, CloudError> {
        let wanted: serde_json::Value = serde_json::from_str(content)
            .map_err(|e| CloudError::Unavailable(format!("the preferences are not JSON: {e}")))?;
        let described = self
            .ssm
            .describe_document()
            .name(PREFERENCES_DOCUMENT)
            .send()
            .await
            .map_err(classify)?;
        let latest: u32 = described
            .document()
            .and_then(|d| d.latest_version())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| CloudError::Unavailable("DescribeDocument returned no latest version".into()))?;
        for version in (1..=latest).rev().map(|v| v.to_string()) {
            let doc = self
                .ssm
                .get_document()
                .name(PREFERENCES_DOCUMENT)
                .document_version(&version)
                .send()
                .await
                .map_err(classify)?;
            let same = doc
                .content()
                .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
                .is_some_and(|c| c == wanted);
            if same {
                return Ok(version);
            }
        }
        Err(CloudError::Unavailable(
            "SSM says the content exists, but no version of the document holds it".into(),
        ))
    }
}

#[async_trait]
impl TargetShell for AwsTargetShell {
    async fn instance(&self, target: &ShellTarget) -> Result<Option<Ec2Instance>, CloudError> {
        match &self.ec2 {
            Some(ec2) => ec2.instance(target).await,
            None => Err(CloudError::Unavailable("EC2 is not wired into this function".into())),
        }
    }

    async fn instances_tagged(
        &self,
        tags: &BTreeMap<String, String>,
        max: usize,
    ) -> Result<Vec<(ShellTarget, Ec2Instance)>, CloudError> {
        match &self.ec2 {
            Some(ec2) => ec2.tagged(tags, max).await,
            None => Err(CloudError::Unavailable("EC2 is not wired into this function".into())),
        }
    }

    async fn managed_node(&self, target: &ShellTarget) -> Result<Option<ManagedNode>, CloudError> {
        let filter = built(
            InstanceInformationStringFilter::builder()
                .key("InstanceIds")
                .values(target.as_str())
                .build(),
        )?;
        let out = self
            .ssm
            .describe_instance_information()
            .filters(filter)
            .send()
            .await
            .map_err(classify)?;
        Ok(out
            .instance_information_list()
            .iter()
            .find(|i| i.instance_id() == Some(target.as_str()))
            .map(|i| ManagedNode {
                ping_status: i.ping_status().map(|p| p.as_str().to_string()).unwrap_or_default(),
                agent_version: i.agent_version().unwrap_or_default().to_string(),
                platform_type: i.platform_type().map(|p| p.as_str().to_string()).unwrap_or_default(),
            }))
    }

    async fn node_tags(&self, target: &ShellTarget) -> Result<BTreeMap<String, String>, CloudError> {
        let out = self
            .ssm
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::ManagedInstance)
            .resource_id(target.as_str())
            .send()
            .await
            .map_err(classify)?;
        Ok(out
            .tag_list()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    async fn preferences(&self) -> Result<Option<String>, CloudError> {
        let out = found(
            self.ssm
                .get_document()
                .name(PREFERENCES_DOCUMENT)
                .send()
                .await
                .map_err(classify),
        )?;
        Ok(out.and_then(|d| d.content().map(str::to_string)))
    }

    async fn put_preferences(&self, content: &str, exists: bool) -> Result<(), CloudError> {
        if !exists {
            self.ssm
                .create_document()
                .name(PREFERENCES_DOCUMENT)
                .document_type(DocumentType::Session)
                .document_format(DocumentFormat::Json)
                .content(content)
                .send()
                .await
                .map_err(classify)?;
            return Ok(());
        }
        let updated = self
            .ssm
            .update_document()
            .name(PREFERENCES_DOCUMENT)
            .document_format(DocumentFormat::Json)
            .document_version("$LATEST")
            .content(content)
            .send()
            .await;
        // Session Manager reads the default version: make the new one it, or the earlier
        // version holding this content (SSM refuses to store the same content twice).
        let version = match updated {
            Ok(out) => out
                .document_description()
                .and_then(|d| d.document_version())
                .map(str::to_string)
                .ok_or_else(|| CloudError::Unavailable("UpdateDocument returned no version".into()))?,
            Err(e) if service_code(&e).as_deref() == Some("DuplicateDocumentContent") => {
                self.version_holding(content).await?
            }
            Err(e) => return Err(classify(e)),
        };
        self.ssm
            .update_document_default_version()
            .name(PREFERENCES_DOCUMENT)
            .document_version(version)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn sessions_of(&self, owner: &str, live: bool) -> Result<Vec<SsmSessionInfo>, CloudError> {
        let filter = built(
            SessionFilter::builder()
                .key(SessionFilterKey::Owner)
                .value(owner)
                .build(),
        )?;
        let state = if live {
            SessionState::Active
        } else {
            SessionState::History
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .ssm
                .describe_sessions()
                .state(state.clone())
                .filters(filter.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(classify)?;
            out.extend(page.sessions().iter().map(|s| SsmSessionInfo {
                id: s.session_id().unwrap_or_default().to_string(),
                target: s.target().unwrap_or_default().to_string(),
                status: s.status().map(|x| x.as_str().to_string()).unwrap_or_default(),
                started_at: to_time(s.start_date()),
                ended_at: to_time(s.end_date()),
            }));
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn terminate(&self, ssm_session_id: &str) -> Result<(), CloudError> {
        // Already gone (ended by its user, or by an earlier attempt) is what was wanted.
        found(
            self.ssm
                .terminate_session()
                .session_id(ssm_session_id)
                .send()
                .await
                .map_err(classify),
        )?;
        Ok(())
    }

    async fn read_object(&self, bucket: &str, key: &str, max: usize) -> Result<Option<(Vec<u8>, bool)>, CloudError> {
        // One byte past `max` says whether the object is longer.
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes=0-{max}"))
            .send()
            .await;
        // S3 answers a range on an empty object with 416: an empty transcript, not a failure.
        if let Err(e) = &out
            && service_code(e).as_deref() == Some("InvalidRange")
        {
            return Ok(Some((Vec::new(), false)));
        }
        let out = found(out.map_err(classify))?;
        let Some(out) = out else { return Ok(None) };
        let mut bytes = out
            .body
            .collect()
            .await
            .map_err(|e| CloudError::Unavailable(format!("reading the transcript: {e}")))?
            .into_bytes()
            .to_vec();
        let more = bytes.len() > max;
        bytes.truncate(max);
        Ok(Some((bytes, more)))
    }

    async fn object_digest(&self, bucket: &str, key: &str, max: u64) -> Result<Option<ObjectDigest>, CloudError> {
        use sha2::Digest;
        // One GetObject: its length says whether to read the body at all, which is hashed as
        // it streams in (never held whole).
        let out = found(
            self.s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(classify),
        )?;
        let Some(mut out) = out else { return Ok(None) };
        let length = out.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(n) = length
            && n > max
        {
            return Ok(Some(ObjectDigest { bytes: n, sha256: None }));
        }
        let mut hasher = sha2::Sha256::new();
        let mut read: u64 = 0;
        while let Some(chunk) = out
            .body
            .try_next()
            .await
            .map_err(|e| CloudError::Unavailable(format!("reading the transcript: {e}")))?
        {
            read += chunk.len() as u64;
            if read > max {
                return Ok(Some(ObjectDigest {
                    bytes: length.unwrap_or(read),
                    sha256: None,
                }));
            }
            hasher.update(&chunk[..]);
        }
        let sha256 = crate::domain::evidence::hex(&hasher.finalize());
        Ok(Some(ObjectDigest {
            bytes: read,
            sha256: Some(sha256),
        }))
    }
}
