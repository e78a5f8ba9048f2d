//! The contract holds: the routes served (`shared::routes::ROUTES`), the OpenAPI document
//! (`infra/openapi.yaml`), the SAM template's API events (`infra/template.yaml`) and the sample
//! events (`events/`) all describe the same API, and the local table matches the template's.

use std::collections::{BTreeMap, BTreeSet};

use e2e::env;
use local_runner::gateway::Gateway;
use serde_yaml::Value as Yaml;
use shared::routes::{Function, ROUTES};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn yaml(path: &str) -> Yaml {
    serde_yaml::from_str(&std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap()).unwrap()
}

fn served() -> BTreeSet<String> {
    ROUTES.iter().map(|r| r.key()).collect()
}

fn logical_id(f: Function) -> String {
    let name = f.name();
    format!("{}{}Function", name[..1].to_uppercase(), &name[1..])
}

/// `(route key) -> documented status codes` from the OpenAPI document.
fn documented() -> BTreeMap<String, BTreeSet<u16>> {
    let doc = yaml("infra/openapi.yaml");
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let codes = op["responses"]
                    .as_mapping()
                    .unwrap()
                    .keys()
                    .map(|k| k.as_str().unwrap().parse().unwrap())
                    .collect();
                out.insert(format!("{} {}", method.to_uppercase(), path.as_str().unwrap()), codes);
            }
        }
    }
    out
}

#[test]
fn openapi_documents_exactly_the_served_routes() {
    let documented: BTreeSet<String> = documented().into_keys().collect();
    assert_eq!(
        documented,
        served(),
        "infra/openapi.yaml and shared::routes::ROUTES differ"
    );
}

#[test]
fn template_wires_exactly_the_served_routes_to_their_functions() {
    let template = yaml("infra/template.yaml");
    let mut wired = BTreeSet::new();
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        let Some(events) = resource["Properties"].get("Events").and_then(Yaml::as_mapping) else {
            continue;
        };
        for event in events.values().filter(|e| e["Type"] == "HttpApi") {
            let p = &event["Properties"];
            wired.insert((
                format!("{} {}", p["Method"].as_str().unwrap(), p["Path"].as_str().unwrap()),
                id.as_str().unwrap().to_string(),
            ));
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES.iter().map(|r| (r.key(), logical_id(r.function))).collect();
    assert_eq!(
        wired, expected,
        "infra/template.yaml's HttpApi events and ROUTES differ"
    );
}

/// Every sample event parses as the Lambda runtime parses it, reaches its function's handler
/// against local AWS, and gets an answer the contract documents.
#[tokio::test]
async fn every_sample_event_is_answered_as_documented() {
    let env = env();
    let gateway = Gateway {
        app: env.app.clone(),
        cors: Default::default(),
    };
    let documented = documented();
    let mut covered = BTreeSet::new();
    let mut dirs: Vec<_> = std::fs::read_dir(format!("{ROOT}/events"))
        .unwrap()
        .flatten()
        // events/expirer, events/org-sync and events/chatops-worker: not HTTP events.
        .filter(|d| {
            d.path().is_dir()
                && !["expirer", "org-sync", "chatops-worker"]
                    .iter()
                    .any(|n| d.file_name() == *n)
        })
        .collect();
    dirs.sort_by_key(|d| d.path());
    for dir in dirs {
        let function_name = dir.file_name().to_string_lossy().to_string();
        for file in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let text = std::fs::read_to_string(file.path())
                .unwrap()
                .replace("{{ADMIN_TOKEN}}", &env.admin());
            let event: serde_json::Value = serde_json::from_str(&text).unwrap();
            let key = event["routeKey"].as_str().unwrap().to_string();
            let route = ROUTES
                .iter()
                .find(|r| r.key() == key)
                .unwrap_or_else(|| panic!("{:?}: unknown route {key}", file.path()));
            assert_eq!(
                route.function.name(),
                function_name,
                "{:?} is filed under the wrong function",
                file.path()
            );
            let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{:?}: {e}", file.path()));
            let gw = gateway.clone();
            let function = route.function;
            let response = env.on_system(async move { gw.invoke(function, request).await }).await;
            let status = response.status().as_u16();
            assert!(status < 500, "{:?} got {status}", file.path());
            assert!(
                documented[&key].contains(&status),
                "{:?}: {status} is not documented for {key}",
                file.path()
            );
            covered.insert(key);
        }
    }
    assert_eq!(covered, served(), "every route has a sample event");
}

/// The runner creates the table the template declares: same keys, indexes and TTL attribute.
#[tokio::test]
async fn local_table_matches_the_template() {
    let env = env();
    let template = yaml("infra/template.yaml");
    let table = &template["Resources"]["Table"]["Properties"];
    let ddb = aws_sdk_dynamodb::Client::new(&env.sdk(&env.broker).await);
    let described = ddb
        .describe_table()
        .table_name(&env.config.table_name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys = |schema: &Yaml| -> Vec<(String, String)> {
        schema
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap().into(),
                    k["KeyType"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let sdk_keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
        schema
            .iter()
            .map(|k| (k.attribute_name.clone(), k.key_type.as_str().to_string()))
            .collect()
    };
    assert_eq!(sdk_keys(described.key_schema()), keys(&table["KeySchema"]));
    let mut local: Vec<_> = described
        .global_secondary_indexes()
        .iter()
        .map(|g| (g.index_name().unwrap().to_string(), sdk_keys(g.key_schema())))
        .collect();
    let mut declared: Vec<_> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|g| (g["IndexName"].as_str().unwrap().to_string(), keys(&g["KeySchema"])))
        .collect();
    local.sort();
    declared.sort();
    assert_eq!(local, declared);
    let ttl = ddb
        .describe_time_to_live()
        .table_name(&env.config.table_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description.unwrap().attribute_name.as_deref(),
        table["TimeToLiveSpecification"]["AttributeName"].as_str()
    );
}

/// The expirer is scheduled every minute in the template, and its sample scheduled event runs
/// its handler against local AWS.
#[tokio::test]
async fn the_expirer_is_scheduled_and_handles_its_event() {
    let template = yaml("infra/template.yaml");
    let events = template["Resources"]["ExpirerFunction"]["Properties"]["Events"]
        .as_mapping()
        .unwrap();
    let schedule = events.values().find(|e| e["Type"] == "ScheduleV2").expect("a schedule");
    assert_eq!(schedule["Properties"]["ScheduleExpression"], "rate(1 minute)");
    let env = env();
    let report = env.run_expirer().await;
    assert_eq!(report.failed, 0, "{report:?}");
}

/// The worker is triggered by the Slack jobs queue with partial-batch answers, and handles its
/// sample SQS event; a message it cannot decode is dropped, not retried forever.
#[tokio::test]
async fn the_chatops_worker_is_queue_triggered_and_handles_its_event() {
    let template = yaml("infra/template.yaml");
    let trigger = &template["Resources"]["ChatopsWorkerFunction"]["Properties"]["Events"]["SlackJobs"];
    assert_eq!(trigger["Type"], "SQS");
    assert_eq!(
        trigger["Properties"]["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    let env = env();
    let mut event: serde_json::Value =
        serde_json::from_str(include_str!("../../events/chatops-worker/slack-jobs.json")).unwrap();
    let app = env.app.clone();
    let first = event.clone();
    let answer = env
        .on_system(async move { chatops_worker::handle(&app, first).await })
        .await;
    assert_eq!(answer, serde_json::json!({ "batchItemFailures": [] }));
    event["Records"][0]["body"] = serde_json::json!("not a job");
    let app = env.app.clone();
    let answer = env
        .on_system(async move { chatops_worker::handle(&app, event).await })
        .await;
    assert_eq!(answer, serde_json::json!({ "batchItemFailures": [] }));
}

/// The template's rule sends the chat-ops worker exactly the events it posts Slack messages for
/// (the local runner's rule is built from the same list).
#[test]
fn the_approval_messages_rule_sends_what_the_worker_handles() {
    let template = yaml("infra/template.yaml");
    let pattern = &template["Resources"]["ApprovalMessagesRule"]["Properties"]["EventPattern"];
    let sent: BTreeSet<&str> = pattern["detail-type"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let handled: BTreeSet<&str> = shared::services::chatops::NOTIFIED_DETAIL_TYPES.into_iter().collect();
    assert_eq!(sent, handled);
    assert_eq!(
        pattern["source"][0].as_str(),
        Some(shared::adapters::aws::eventbridge::SOURCE)
    );
    // Every detail-type the worker handles is one the sessions service puts on the bus.
    for t in handled {
        assert!(
            [
                "pending",
                "extension_requested",
                "break_glass",
                "approved",
                "denied",
                "cancelled",
                "lapsed",
                "reviewed"
            ]
            .iter()
            .any(|e| shared::services::sessions::detail_type(e) == Some(t)),
            "{t}"
        );
    }
}

/// Every `kms:EncryptionContextKeys` list under a template resource.
fn context_keys(v: &Yaml, out: &mut BTreeSet<String>) {
    match v {
        Yaml::Mapping(m) => {
            for (k, v) in m {
                if k.as_str() == Some("kms:EncryptionContextKeys") {
                    let keys: Vec<&Yaml> = match v {
                        Yaml::Sequence(s) => s.iter().collect(),
                        other => vec![other],
                    };
                    out.extend(keys.into_iter().filter_map(|k| k.as_str().map(str::to_string)));
                } else {
                    context_keys(v, out);
                }
            }
        }
        Yaml::Sequence(s) => s.iter().for_each(|v| context_keys(v, out)),
        _ => {}
    }
}

/// The functions that start, approve or extend sessions seal with every context the session
/// service uses (users' keys, idempotent answers, an approved request's held answer): the
/// template's key-policy conditions must allow each, or KMS refuses in AWS (local AWS does
/// not check contexts against policies).
#[test]
fn session_functions_may_seal_with_every_context_the_code_uses() {
    use shared::domain::{AccountId, IamUserName, SessionId};
    use shared::ports::SealContext;
    let template = yaml("infra/template.yaml");
    let account = AccountId::generate();
    let contexts = [
        SealContext::account(&account),
        SealContext::user(&account, &IamUserName::parse("alice").unwrap()),
        SealContext::idempotency("scope", "key"),
        SealContext::pickup(&SessionId::generate()),
    ];
    for function in ["SessionsFunction", "ChatopsWorkerFunction"] {
        let mut allowed = BTreeSet::new();
        context_keys(&template["Resources"][function], &mut allowed);
        for context in &contexts {
            for (key, _) in &context.0 {
                assert!(
                    allowed.contains(*key),
                    "{function} may not seal with {key}: {allowed:?}"
                );
            }
        }
    }
}

/// Every DynamoDB operation the store's code makes is one the functions' table policy allows:
/// local AWS does not check the functions' own permissions, so a new operation (BatchGetItem,
/// once) would work in every test and be refused in AWS.
#[test]
fn the_table_policy_allows_every_operation_the_store_makes() {
    let template = yaml("infra/template.yaml");
    let mut allowed = BTreeSet::new();
    for statement in template["Resources"]["TableAccessPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("the table policy's statements")
    {
        for action in statement["Action"].as_sequence().into_iter().flatten() {
            allowed.insert(action.as_str().unwrap().to_string());
        }
    }
    let dir = format!("{ROOT}/shared/src/adapters/aws/dynamodb");
    let mut used = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        // The SDK's fluent builders: `.get_item()`, `.batch_get_item()`… (IAM has no action
        // for a transaction: its items need PutItem, UpdateItem, DeleteItem, ConditionCheckItem.)
        for (at, _) in source.match_indices("()\n") {
            let before = &source[..at];
            let name = &before[before.rfind('.').map_or(0, |i| i + 1)..];
            if [
                "get_item",
                "put_item",
                "update_item",
                "delete_item",
                "query",
                "scan",
                "batch_get_item",
                "batch_write_item",
            ]
            .contains(&name)
            {
                let camel: String = name
                    .split('_')
                    .map(|w| format!("{}{}", w[..1].to_uppercase(), &w[1..]))
                    .collect();
                used.insert(format!("dynamodb:{camel}"));
            }
        }
    }
    assert!(
        used.contains("dynamodb:BatchGetItem"),
        "the scan of the store's code works: {used:?}"
    );
    // Only the benchmarks' seeding writes in batches (`seed_live_sessions`); no function does.
    let sessions = std::fs::read_to_string(format!("{dir}/sessions.rs")).unwrap();
    let seeding = sessions.find("pub async fn seed_live_sessions").unwrap();
    let next_fn = sessions[seeding + 1..]
        .find("\n    pub ")
        .map_or(sessions.len(), |i| seeding + 1 + i);
    assert_eq!(
        sessions.matches(".batch_write_item()").count(),
        sessions[seeding..next_fn].matches(".batch_write_item()").count(),
        "BatchWriteItem outside the benchmarks' seeding needs the table policy"
    );
    used.remove("dynamodb:BatchWriteItem");
    let missing: Vec<_> = used.difference(&allowed).collect();
    assert!(
        missing.is_empty(),
        "the table policy lacks {missing:?} (allowed: {allowed:?})"
    );
}
