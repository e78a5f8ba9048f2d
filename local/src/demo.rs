//! What `scripts/dev` adds to the demo account so a newcomer can try every kind of session:
//! for shell sessions, a running EC2 instance with an instance profile whose SSM Agent has
//! registered (through the local AWS's control endpoint, as the agent does on AWS), and an
//! S3 bucket for transcripts.

use crate::local_aws::{TargetAccount, sdk_config};

/// The demo instance's tag (a shell settings selector can name it).
pub const DEMO_TAG: (&str, &str) = ("Environment", "demo");
pub const DEMO_AGENT_VERSION: &str = "3.3.40.0";

/// What was made: the instance id and the transcript bucket.
pub struct ShellDemo {
    pub instance_id: String,
    pub bucket: String,
}

/// Creates the demo shell target in `target`'s account and `region`.
pub async fn shell_target(endpoint: &str, target: &TargetAccount, region: &str) -> Result<ShellDemo, String> {
    let sdk = sdk_config(endpoint, &target.admin).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let name = "cib-demo-ssm-instance";
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .map_err(|e| format!("create the instance role: {e:?}"))?;
    iam.create_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(|e| format!("create the instance profile: {e:?}"))?;
    iam.add_role_to_instance_profile()
        .instance_profile_name(name)
        .role_name(name)
        .send()
        .await
        .map_err(|e| format!("add the role to the profile: {e:?}"))?;
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&sdk)
            .region(aws_config::Region::new(region.to_string()))
            .build(),
    );
    let tags = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(DEMO_TAG.0)
                .value(DEMO_TAG.1)
                .build(),
        )
        .build();
    let run = ec2
        .run_instances()
        .image_id("ami-12345678")
        .min_count(1)
        .max_count(1)
        .tag_specifications(tags)
        .iam_instance_profile(
            aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                .name(name)
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("run the demo instance: {e:?}"))?;
    let instance_id = run
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .ok_or("no instance id")?
        .to_string();
    let agent = reqwest::Client::new()
        .post(format!("{}/moto-api/cib/ssm/agents", endpoint.trim_end_matches('/')))
        .json(&serde_json::json!({ "AccountId": target.aws_account_id, "Region": region, "InstanceId": instance_id, "AgentVersion": DEMO_AGENT_VERSION }))
        .send()
        .await
        .map_err(|e| format!("register the demo agent: {e}"))?;
    if !agent.status().is_success() {
        return Err(format!("registering the demo agent answered {}", agent.status()));
    }
    let bucket = format!("cib-demo-transcripts-{}", target.aws_account_id);
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| format!("create the transcript bucket: {e:?}"))?;
    Ok(ShellDemo { instance_id, bucket })
}
