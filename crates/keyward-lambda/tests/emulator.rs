//! Invocations of each trigger against assets in the AWS emulator moto,
//! through a recording proxy.
//!
//! moto accepts `PutEvaluations` only in test mode, which a Config rule's
//! function never sets, so the proxy responds to it itself and the tests read
//! the evaluations from the recorded requests. moto also lacks
//! `kms:GetKeyLastUsage`; the proxy responds to it where a test needs the last
//! use of a key, and elsewhere moto's error stands for a failed call.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

#[path = "../../keyward-scan/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_lambda_events::event::config::ConfigEvent;
use keyward_lambda::Environment;
use serde_json::{Value, json};

use common::{Action, Every, Moto, Proxy, Request, make_certificate};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const NOTIFICATION_TIME: &str = "2026-03-01T10:00:00.000Z";
const CAPTURE_TIME: &str = "2026-03-01T09:59:00.000Z";
const PUBLIC_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:DescribeSecret","Resource":"*"}]}"#;

async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// Responds to `PutEvaluations` with no failed evaluation, and passes the rest
/// to moto.
fn accept_evaluations(request: &Request) -> Action {
    if request.operation == "PutEvaluations" {
        return put_evaluations_answer("[]");
    }
    Action::Forward
}

fn put_evaluations_answer(failed: &str) -> Action {
    Action::Respond {
        status: 200,
        content_type: "application/x-amz-json-1.1",
        body: format!(r#"{{"FailedEvaluations":{failed}}}"#),
    }
}

/// Evaluations of every recorded `PutEvaluations` request, with the
/// request's result token.
fn sent_evaluations(proxy: &Proxy) -> Vec<(String, Vec<Value>)> {
    proxy
        .requests()
        .into_iter()
        .filter(|request| request.operation == "PutEvaluations")
        .map(|request| {
            let body: Value = serde_json::from_str(&request.body).unwrap();
            let token = body["ResultToken"].as_str().unwrap().to_owned();
            (token, body["Evaluations"].as_array().unwrap().clone())
        })
        .collect()
}

fn scheduled_event(parameters: Value) -> ConfigEvent {
    let invoking_event = json!({
        "awsAccountId": ACCOUNT,
        "notificationCreationTime": NOTIFICATION_TIME,
        "messageType": "ScheduledNotification",
        "recordVersion": "1.0",
    });
    event(invoking_event, parameters, false)
}

fn change_event(summary: Value, oversized: bool, parameters: Value) -> ConfigEvent {
    let invoking_event = if oversized {
        json!({"configurationItemSummary": summary, "messageType": "OversizedConfigurationItemChangeNotification"})
    } else {
        json!({"configurationItem": summary, "messageType": "ConfigurationItemChangeNotification"})
    };
    event(invoking_event, parameters, false)
}

fn item(resource_type: &str, resource_id: &str, arn: &str, status: &str) -> Value {
    json!({
        "configurationItemCaptureTime": CAPTURE_TIME,
        "configurationItemStatus": status,
        "resourceType": resource_type,
        "resourceId": resource_id,
        "ARN": arn,
        "awsRegion": REGION,
        "awsAccountId": ACCOUNT,
    })
}

fn event(invoking_event: Value, parameters: Value, left_scope: bool) -> ConfigEvent {
    serde_json::from_value(json!({
        "invokingEvent": invoking_event.to_string(),
        "ruleParameters": parameters.to_string(),
        "resultToken": "result-token-1",
        "eventLeftScope": left_scope,
        "configRuleName": "keyward-test",
        "accountId": ACCOUNT,
        "version": "1.0",
    }))
    .unwrap()
}

async fn kms(moto: &Moto) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config(&moto.endpoint).await)
}

/// Creates `count` keys and turns on rotation for the first `rotating`.
async fn create_keys(client: &aws_sdk_kms::Client, count: usize, rotating: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for index in 0..count {
        let key = client.create_key().send().await.unwrap();
        let id = key.key_metadata().unwrap().key_id().to_owned();
        if index < rotating {
            client
                .enable_key_rotation()
                .key_id(&id)
                .send()
                .await
                .unwrap();
        }
        ids.push(id);
    }
    ids
}

fn compliance_of<'a>(evaluations: &'a [Value], id: &str) -> &'a str {
    evaluations
        .iter()
        .find(|evaluation| evaluation["ComplianceResourceId"] == id)
        .unwrap_or_else(|| panic!("no evaluation of {id}"))["ComplianceType"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn scheduled_rotation_rule_judges_every_key() {
    let moto = Moto::start();
    let keys = create_keys(&kms(&moto).await, 2, 1).await;
    let proxy = Proxy::start(&moto.endpoint, accept_evaluations);
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);

    let outcome = keyward_lambda::handle(
        &environment,
        scheduled_event(json!({"rule": "kms-key-rotation"})),
    )
    .await
    .unwrap();

    assert_eq!(outcome.compliant, 1);
    assert_eq!(outcome.non_compliant, 1);
    let sent = sent_evaluations(&proxy);
    assert_eq!(sent.len(), 1);
    let (token, evaluations) = &sent[0];
    assert_eq!(token, "result-token-1");
    assert_eq!(compliance_of(evaluations, &keys[0]), "COMPLIANT");
    assert_eq!(compliance_of(evaluations, &keys[1]), "NON_COMPLIANT");
    for evaluation in evaluations {
        assert_eq!(evaluation["ComplianceResourceType"], "AWS::KMS::Key");
        // 2026-03-01T10:00:00Z, in epoch seconds.
        assert_eq!(
            evaluation["OrderingTimestamp"].as_f64(),
            Some(1_772_359_200.0)
        );
        assert!(!evaluation["Annotation"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn scheduled_evaluations_go_in_batches_of_100() {
    let moto = Moto::start();
    let keys = create_keys(&kms(&moto).await, 101, 101).await;
    let proxy = Proxy::start(&moto.endpoint, accept_evaluations);
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);

    let outcome = keyward_lambda::handle(
        &environment,
        scheduled_event(json!({"rule": "kms-key-rotation"})),
    )
    .await
    .unwrap();

    assert_eq!(outcome.compliant, 101);
    let sizes: Vec<usize> = sent_evaluations(&proxy)
        .iter()
        .map(|(_, e)| e.len())
        .collect();
    assert_eq!(sizes, [100, 1]);
    assert_eq!(keys.len(), 101);
}

#[tokio::test]
async fn failed_usage_call_fails_the_invocation() {
    // moto has no GetKeyLastUsage, so whether the disabled key was used
    // recently is unknown because a call failed: no evaluation may be sent.
    let moto = Moto::start();
    let client = kms(&moto).await;
    let keys = create_keys(&client, 1, 0).await;
    client.disable_key().key_id(&keys[0]).send().await.unwrap();
    let proxy = Proxy::start(&moto.endpoint, accept_evaluations);
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);

    let parameters = json!({"rule": "kms-key-inactive-in-use", "thresholdDays": "90"});
    let error = keyward_lambda::handle(&environment, scheduled_event(parameters))
        .await
        .unwrap_err();

    let message = format!("{error:#}");
    assert!(
        message.contains("because AWS API calls failed"),
        "{message}"
    );
    assert!(message.contains("GetKeyLastUsage"), "{message}");
    assert!(sent_evaluations(&proxy).is_empty());
}

#[tokio::test]
async fn unused_rule_passes_a_key_used_recently() {
    let moto = Moto::start();
    let keys = create_keys(&kms(&moto).await, 1, 0).await;
    let used_at = chrono::Utc::now().timestamp() - 86_400;
    let proxy = Proxy::start(&moto.endpoint, move |request| {
        if request.operation == "GetKeyLastUsage" {
            return Action::Respond {
                status: 200,
                content_type: "application/x-amz-json-1.1",
                body: format!(
                    r#"{{"TrackingStartDate":1700000000,"KeyLastUsage":{{"Operation":"Decrypt","Timestamp":{used_at}}}}}"#
                ),
            };
        }
        accept_evaluations(request)
    });
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);

    let parameters = json!({"rule": "kms-key-unused", "thresholdDays": "30"});
    keyward_lambda::handle(&environment, scheduled_event(parameters))
        .await
        .unwrap();

    let sent = sent_evaluations(&proxy);
    assert_eq!(compliance_of(&sent[0].1, &keys[0]), "COMPLIANT");
    let annotation = sent[0].1[0]["Annotation"].as_str().unwrap();
    assert!(annotation.contains("Decrypt"), "{annotation}");
}

#[tokio::test]
async fn listing_denied_fails_the_invocation() {
    let moto = Moto::start();
    create_keys(&kms(&moto).await, 1, 1).await;
    let proxy = Proxy::start(&moto.endpoint, |request| {
        if request.operation == "ListKeys" {
            return Action::json_error(400, "AccessDeniedException", "not allowed");
        }
        accept_evaluations(request)
    });
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);

    let error = keyward_lambda::handle(
        &environment,
        scheduled_event(json!({"rule": "kms-key-rotation"})),
    )
    .await
    .unwrap_err();

    let message = format!("{error:#}");
    assert!(message.contains("could not read kms"), "{message}");
    assert!(sent_evaluations(&proxy).is_empty());
}

#[tokio::test]
async fn rejected_evaluations_fail_the_invocation() {
    let moto = Moto::start();
    let keys = create_keys(&kms(&moto).await, 1, 1).await;
    let failed = format!(
        r#"[{{"ComplianceResourceType":"AWS::KMS::Key","ComplianceResourceId":"{}","ComplianceType":"COMPLIANT","OrderingTimestamp":1772359200}}]"#,
        keys[0]
    );
    let proxy = Proxy::start(&moto.endpoint, move |request| {
        if request.operation == "PutEvaluations" {
            return put_evaluations_answer(&failed);
        }
        Action::Forward
    });
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);

    let error = keyward_lambda::handle(
        &environment,
        scheduled_event(json!({"rule": "kms-key-rotation"})),
    )
    .await
    .unwrap_err();

    let message = format!("{error:#}");
    assert!(message.contains("rejected 1 of 1 evaluations"), "{message}");
    assert!(message.contains(&keys[0]), "{message}");
}

#[tokio::test]
async fn throttled_put_evaluations_is_retried() {
    let moto = Moto::start();
    create_keys(&kms(&moto).await, 1, 1).await;
    let every = Arc::new(Every::default());
    let proxy = Proxy::start(&moto.endpoint, move |request| {
        // The first request of every two is throttled.
        if request.operation == "PutEvaluations" && !every.nth(2) {
            return Action::json_error(400, "ThrottlingException", "Rate exceeded");
        }
        accept_evaluations(request)
    });
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);

    keyward_lambda::handle(
        &environment,
        scheduled_event(json!({"rule": "kms-key-rotation"})),
    )
    .await
    .unwrap();

    assert_eq!(sent_evaluations(&proxy).len(), 2);
}

#[tokio::test]
async fn changed_secret_is_read_alone() {
    let moto = Moto::start();
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config(&moto.endpoint).await);
    let public = secrets
        .create_secret()
        .name("app/public")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let public_arn = public.arn().unwrap().to_owned();
    secrets
        .put_resource_policy()
        .secret_id(&public_arn)
        .resource_policy(PUBLIC_POLICY)
        .send()
        .await
        .unwrap();
    secrets
        .create_secret()
        .name("app/public-other")
        .secret_string("y")
        .send()
        .await
        .unwrap();
    let proxy = Proxy::start(&moto.endpoint, accept_evaluations);
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);

    let summary = item(
        "AWS::SecretsManager::Secret",
        &public_arn,
        &public_arn,
        "OK",
    );
    let event = change_event(summary, false, json!({"rule": "secret-policy-public"}));
    let outcome = keyward_lambda::handle(&environment, event).await.unwrap();

    assert_eq!(outcome.non_compliant, 1);
    assert_eq!(outcome.evaluations, 1);
    let sent = sent_evaluations(&proxy);
    let evaluation = &sent[0].1[0];
    assert_eq!(evaluation["ComplianceResourceId"], public_arn.as_str());
    assert_eq!(evaluation["ComplianceType"], "NON_COMPLIANT");
    // 2026-03-01T09:59:00Z, the capture time of the item.
    assert_eq!(
        evaluation["OrderingTimestamp"].as_f64(),
        Some(1_772_359_140.0)
    );
    let policy_reads = proxy
        .requests()
        .iter()
        .filter(|request| request.operation == "GetResourcePolicy")
        .count();
    assert_eq!(policy_reads, 1);
}

#[tokio::test]
async fn oversized_certificate_change_is_read_live() {
    let moto = Moto::start();
    let acm = aws_sdk_acm::Client::new(&sdk_config(&moto.endpoint).await);
    let (certificate, private_key) = make_certificate("rsa-2048", 10 * 86_400, "soon.example.com");
    let imported = acm
        .import_certificate()
        .certificate(aws_smithy_types::Blob::new(certificate))
        .private_key(aws_smithy_types::Blob::new(private_key))
        .send()
        .await
        .unwrap();
    let arn = imported.certificate_arn().unwrap().to_owned();
    let proxy = Proxy::start(&moto.endpoint, accept_evaluations);
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);

    let summary = item("AWS::ACM::Certificate", &arn, &arn, "OK");
    let parameters = json!({"rule": "acm-certificate-expiring", "thresholdDays": "30"});
    let outcome = keyward_lambda::handle(&environment, change_event(summary, true, parameters))
        .await
        .unwrap();

    assert_eq!(outcome.non_compliant, 1);
    assert_eq!(
        sent_evaluations(&proxy)[0].1[0]["ComplianceResourceId"],
        arn.as_str()
    );
}

#[tokio::test]
async fn deleted_key_is_not_applicable_without_reads() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.endpoint, accept_evaluations);
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);
    let key_id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}");

    let summary = item("AWS::KMS::Key", key_id, &arn, "ResourceDeleted");
    let outcome = keyward_lambda::handle(
        &environment,
        change_event(summary, false, json!({"rule": "kms-key-rotation"})),
    )
    .await
    .unwrap();

    assert_eq!(outcome.not_applicable, 1);
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let evaluation = &sent_evaluations(&proxy)[0].1[0];
    assert_eq!(evaluation["ComplianceType"], "NOT_APPLICABLE");
    assert_eq!(evaluation["ComplianceResourceId"], key_id);
}

#[tokio::test]
async fn key_missing_from_kms_is_not_applicable() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.endpoint, accept_evaluations);
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);
    let key_id = "1234abcd-12ab-34cd-56ef-1234567890ab";

    let summary = item("AWS::KMS::Key", key_id, "", "OK");
    let outcome = keyward_lambda::handle(
        &environment,
        change_event(summary, false, json!({"rule": "kms-key-rotation"})),
    )
    .await
    .unwrap();

    assert_eq!(outcome.not_applicable, 1);
    let annotation = &sent_evaluations(&proxy)[0].1[0]["Annotation"];
    assert_eq!(annotation, "the resource no longer exists");
}

#[tokio::test]
async fn change_of_another_resource_type_is_not_applicable() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto.endpoint, accept_evaluations);
    let environment = Environment::new(sdk_config(&proxy.endpoint).await);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/event-config-rule-security-group.json");
    let mut event: ConfigEvent =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event.rule_parameters = Some(json!({"rule": "kms-key-rotation"}).to_string());
    event.account_id = Some(ACCOUNT.to_owned());
    // The captured item is in eu-west-1; the function runs in us-east-1.
    let mut invoking: Value =
        serde_json::from_str(event.invoking_event.as_deref().unwrap()).unwrap();
    invoking["configurationItem"]["awsRegion"] = json!(REGION);
    event.invoking_event = Some(invoking.to_string());

    let outcome = keyward_lambda::handle(&environment, event).await.unwrap();

    assert_eq!(outcome.not_applicable, 1);
    let evaluation = &sent_evaluations(&proxy)[0].1[0];
    assert_eq!(
        evaluation["ComplianceResourceType"],
        "AWS::EC2::SecurityGroup"
    );
    let annotation = evaluation["Annotation"].as_str().unwrap();
    assert!(annotation.contains("judges AWS::KMS::Key"), "{annotation}");
}
