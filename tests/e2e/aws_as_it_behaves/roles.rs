//! Whom the broker's trust and settings name, as AWS evaluates them: the trust policy issued
//! with an ExternalId lets in the broker's own principal, not its whole AWS account; JIT
//! settings name each IAM role once, however spelled.

use aws_credential_types::Credentials;
use e2e::registration::{issue_external_id, role_registration, trust_external_id};
use e2e::{TestEnv, env};
use local_runner::local_aws::{BROKER_ACCOUNT, BROKER_USER};
use serde_json::json;

const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// AssumeRole into `role` with `external_id`, signed with `keys`: `Ok`, or AWS's error code.
async fn assume_with(env: &TestEnv, keys: Credentials, role: &str, external_id: &str) -> Result<(), String> {
    let sdk = env.sdk(&env.broker).await;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .credentials_provider(keys)
            .build(),
    );
    sts.assume_role()
        .role_arn(role)
        .role_session_name("trust-probe")
        .external_id(external_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            aws_sdk_sts::error::ProvideErrorMetadata::code(&e)
                .unwrap_or("no code")
                .to_string()
        })
}

/// The issued trust names the broker's AWS account as principal, which alone lets in every
/// principal there whose own policies allow `sts:AssumeRole` (security review); its condition
/// on `aws:PrincipalArn` lets in the broker's own principal only (`BROKER_PRINCIPAL_ARN`:
/// locally the broker's IAM user, on AWS the stack's function roles).
#[tokio::test]
async fn the_issued_trust_lets_in_the_broker_not_its_whole_account() {
    let env = env();
    let _serial = env.serial().await;
    let target = env.take_account();
    let issued = issue_external_id(env).await;
    let broker = format!("arn:aws:iam::{BROKER_ACCOUNT}:user/{BROKER_USER}");
    assert_eq!(
        issued["trust_condition"]["ArnLike"],
        json!({ "aws:PrincipalArn": broker }),
        "{issued}"
    );
    assert_eq!(
        issued["trust_policy"]["Statement"][0]["Condition"], issued["trust_condition"],
        "{issued}"
    );
    trust_external_id(env, &target, &issued).await;
    let external_id = issued["external_id"].as_str().unwrap();

    // Another principal of the broker's account, its own policies allowing everything.
    let iam = aws_sdk_iam::Client::new(&env.sdk(&env.broker).await);
    let name = format!("not-the-broker-{}", ulid::Ulid::new());
    iam.create_user().user_name(&name).send().await.unwrap();
    iam.put_user_policy()
        .user_name(&name)
        .policy_name("admin")
        .policy_document(ALLOW_ALL)
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name(&name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let other = Credentials::new(key.access_key_id, key.secret_access_key, None, None, "other");
    assert_eq!(
        assume_with(env, other, &target.broker_access_role_arn, external_id).await,
        Err("AccessDenied".to_string())
    );

    // The broker is let in, by hand and through a registration.
    let own = Credentials::new(
        env.broker.access_key_id.clone(),
        env.broker.secret_access_key.clone(),
        None,
        None,
        "broker",
    );
    assert_eq!(
        assume_with(env, own, &target.broker_access_role_arn, external_id).await,
        Ok(())
    );
    env.client()
        .post(
            "/accounts",
            &env.admin(),
            role_registration("trusted", &target, external_id),
        )
        .await
        .ok(201);
}

/// JIT settings naming one role twice, spelled apart (a path, the name's case) or not, are
/// refused whole (`duplicate-role`): the two are one role to IAM, and the broker's records of a
/// role (revocations, deny pages) must not be split between spellings.
#[tokio::test]
async fn jit_settings_naming_one_role_twice_are_refused() {
    let env = env();
    let _serial = env.serial().await;
    let api = env.client();
    let admin = env.admin();
    let (account, target) = env.registered_account("one-role-twice").await;
    let path = format!("/accounts/{account}/jit");
    let role = |name: &str| format!("arn:aws:iam::{}:role/{name}", target.aws_account_id);
    let settings = |roles: &[String]| json!({ "active": true, "jit_enabled": true, "max_duration_seconds": 3600, "allowed_role_arns": roles });
    for twice in [
        [role("OnCall"), role("ReadOnly"), role("team/oncall")],
        [role("OnCall"), role("ReadOnly"), role("ONCALL")],
        [role("OnCall"), role("ReadOnly"), role("OnCall")],
    ] {
        let p = api.put(&path, &admin, settings(&twice)).await.problem(422);
        assert_eq!(p["type"], "tag:cloud-iam-broker,2026:problem/duplicate-role", "{p}");
        assert_eq!(p["errors"][0]["field"], "allowed_role_arns[2]", "{p}");
        assert!(p["detail"].as_str().unwrap().contains("allowed_role_arns[0]"), "{p}");
    }
    assert_eq!(
        api.get(&path, &admin).await.ok(200)["active"],
        false,
        "nothing was stored"
    );
    // Each role once is accepted.
    let once = [role("OnCall"), role("ReadOnly")];
    let saved = api.put(&path, &admin, settings(&once)).await.ok(200);
    assert_eq!(saved["allowed_role_arns"], json!(once));
}
