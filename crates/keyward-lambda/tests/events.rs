//! Published AWS Config invocations, and invocations built for each
//! trigger, parsed into requests.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use aws_lambda_events::event::config::ConfigEvent;
use chrono::{DateTime, Utc};
use keyward_lambda::request::{self, Trigger};
use serde_json::json;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap()
}

/// Reads a fixture event and replaces its rule parameters with those of a
/// keyward rule.
fn event_with_rule(name: &str, parameters: serde_json::Value) -> ConfigEvent {
    let mut event: ConfigEvent = serde_json::from_str(&fixture(name)).unwrap();
    event.rule_parameters = Some(parameters.to_string());
    event
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn error_of(event: &ConfigEvent) -> String {
    match request::parse(event) {
        Ok(_) => panic!("the event was accepted"),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn scheduled_notification_from_the_developer_guide() {
    let event = event_with_rule(
        "evaluate-config_develop-rules_example-events.3.json",
        json!({"rule": "kms-key-rotation"}),
    );
    let Ok(parsed) = request::parse(&event) else {
        panic!("rejected")
    };
    assert_eq!(parsed.rule.id, "kms-key-rotation");
    assert_eq!(parsed.result_token, "myResultToken");
    assert_eq!(parsed.account_id, "123456789012");
    assert_eq!(
        parsed.trigger,
        Trigger::Scheduled {
            notification_time: time("2016-07-13T21:50:00.373Z")
        }
    );
}

#[test]
fn change_notification_from_the_developer_guide() {
    let event = event_with_rule(
        "evaluate-config_develop-rules_example-events.1.json",
        json!({"rule": "kms-key-unused", "thresholdDays": "30"}),
    );
    let Trigger::Change(item) = request::parse(&event)
        .map(|r| r.trigger)
        .map_err(|e| e.to_string())
        .unwrap()
    else {
        panic!("not a change");
    };
    assert_eq!(item.resource_type, "AWS::EC2::Instance");
    assert_eq!(item.resource_id, "i-00000000");
    assert_eq!(
        item.arn.as_deref(),
        Some("arn:aws:ec2:us-east-2:123456789012:instance/i-00000000")
    );
    assert_eq!(item.region.as_deref(), Some("us-east-2"));
    assert_eq!(item.capture_time, time("2016-02-17T01:36:34.043Z"));
    assert!(!item.gone);
}

#[test]
fn oversized_notification_from_the_developer_guide() {
    let event = event_with_rule(
        "evaluate-config_develop-rules_example-events.2.json",
        json!({"rule": "secret-policy-public"}),
    );
    let Trigger::Change(item) = request::parse(&event)
        .map(|r| r.trigger)
        .map_err(|e| e.to_string())
        .unwrap()
    else {
        panic!("not a change");
    };
    assert_eq!(item.resource_id, "i-00000000");
    assert_eq!(item.status, "OK");
    assert_eq!(item.capture_time, time("2016-10-06T16:46:16.261Z"));
}

#[test]
fn captured_custodian_events_parse_despite_extra_keys() {
    for name in [
        "event-config-rule-instance.json",
        "event-config-rule-security-group.json",
    ] {
        let event = event_with_rule(name, json!({"rule": "acm-certificate-weak-key"}));
        let Ok(parsed) = request::parse(&event) else {
            panic!("rejected")
        };
        assert!(matches!(parsed.trigger, Trigger::Change(_)), "{name}");
    }
}

#[test]
fn parameters_without_rule_are_rejected() {
    let event: ConfigEvent = serde_json::from_str(&fixture(
        "evaluate-config_develop-rules_example-events.3.json",
    ))
    .unwrap();
    assert!(
        error_of(&event).contains("has no \"rule\""),
        "{}",
        error_of(&event)
    );
}

#[test]
fn snapshot_delivery_is_an_unsupported_trigger() {
    let event = event_with_rule(
        "example-config-event.json",
        json!({"rule": "kms-key-rotation"}),
    );
    let error = error_of(&event);
    assert!(
        error.contains("unsupported messageType \"ConfigurationSnapshotDeliveryCompleted\""),
        "{error}"
    );
}

#[test]
fn secret_rotation_event_is_not_a_config_event() {
    let text = fixture("example-secretsmanager-secret-rotation-event.json");
    assert!(serde_json::from_str::<ConfigEvent>(&text).is_err());
}

/// Builds a change notification around a configuration item.
fn change_event(
    item: serde_json::Value,
    parameters: serde_json::Value,
    left_scope: bool,
) -> ConfigEvent {
    let invoking_event = json!({
        "configurationItem": item,
        "messageType": "ConfigurationItemChangeNotification",
        "notificationCreationTime": "2026-03-01T10:00:00.000Z",
        "recordVersion": "1.3",
    });
    serde_json::from_value(json!({
        "invokingEvent": invoking_event.to_string(),
        "ruleParameters": parameters.to_string(),
        "resultToken": "token",
        "eventLeftScope": left_scope,
        "accountId": "123456789012",
        "version": "1.0",
    }))
    .unwrap()
}

#[test]
fn configuration_item_of_a_kms_key_from_rdk() {
    let item: serde_json::Value =
        serde_json::from_str(&fixture("example_ci.AWS_KMS_Key.json")).unwrap();
    let event = change_event(item, json!({"rule": "kms-key-rotation"}), false);
    let Trigger::Change(item) = request::parse(&event)
        .map(|r| r.trigger)
        .map_err(|e| e.to_string())
        .unwrap()
    else {
        panic!("not a change");
    };
    assert_eq!(item.resource_type, "AWS::KMS::Key");
    assert_eq!(item.resource_id, "test");
    assert_eq!(item.capture_time, time("2021-09-29T23:33:38.881Z"));
}

#[test]
fn capture_time_not_rfc_3339_rejected() {
    // The RDK sample contains Python datetime reprs in place of times.
    let item: serde_json::Value =
        serde_json::from_str(&fixture("example_ci.AWS_ACM_Certificate.json")).unwrap();
    let event = change_event(item, json!({"rule": "acm-certificate-expiring"}), false);
    let error = error_of(&event);
    assert!(error.contains("configurationItemCaptureTime"), "{error}");
    assert!(error.contains("not an RFC 3339 time"), "{error}");
}

fn key_item(status: &str) -> serde_json::Value {
    json!({
        "configurationItemCaptureTime": "2026-03-01T09:59:00.000Z",
        "configurationItemStatus": status,
        "resourceType": "AWS::KMS::Key",
        "resourceId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "awsRegion": "us-east-1",
    })
}

#[test]
fn deleted_resources_are_gone() {
    for status in ["ResourceDeleted", "ResourceDeletedNotRecorded"] {
        let event = change_event(key_item(status), json!({"rule": "kms-key-rotation"}), false);
        let Trigger::Change(item) = request::parse(&event)
            .map(|r| r.trigger)
            .map_err(|e| e.to_string())
            .unwrap()
        else {
            panic!("not a change");
        };
        assert!(item.gone, "{status}");
    }
}

#[test]
fn resource_that_left_scope_is_gone() {
    let event = change_event(key_item("OK"), json!({"rule": "kms-key-rotation"}), true);
    let Trigger::Change(item) = request::parse(&event)
        .map(|r| r.trigger)
        .map_err(|e| e.to_string())
        .unwrap()
    else {
        panic!("not a change");
    };
    assert!(item.gone);
}

#[test]
fn threshold_out_of_range_is_rejected() {
    let event = change_event(
        key_item("OK"),
        json!({"rule": "kms-key-unused", "thresholdDays": "400"}),
        false,
    );
    assert!(
        error_of(&event).contains("threshold_days of rule kms-key-unused is 400"),
        "{}",
        error_of(&event)
    );
}

#[test]
fn threshold_of_a_rule_without_one_is_rejected() {
    let event = change_event(
        key_item("OK"),
        json!({"rule": "kms-key-rotation", "thresholdDays": 30}),
        false,
    );
    assert!(
        error_of(&event).contains("has no threshold"),
        "{}",
        error_of(&event)
    );
}

#[test]
fn threshold_that_is_not_a_number_is_rejected() {
    let event = change_event(
        key_item("OK"),
        json!({"rule": "kms-key-unused", "thresholdDays": "ninety"}),
        false,
    );
    assert!(
        error_of(&event).contains("expected a whole number of days"),
        "{}",
        error_of(&event)
    );
}

#[test]
fn unknown_and_iam_rules_are_rejected() {
    let unknown = change_event(key_item("OK"), json!({"rule": "kms-key-colour"}), false);
    assert!(error_of(&unknown).contains("unknown keyward rule \"kms-key-colour\""));
    let iam_rule = keyward_rules::catalog()
        .into_iter()
        .find(|rule| request::config_resource_type(rule.resource_type).is_none())
        .unwrap();
    let iam = change_event(key_item("OK"), json!({"rule": iam_rule.id}), false);
    assert!(
        error_of(&iam).contains("judges IAM policies"),
        "{}",
        error_of(&iam)
    );
}

#[test]
fn exceptions_parameter_as_json_text() {
    let exceptions =
        json!([{"arn": "arn:aws:kms:*:*:key/1234*", "reason": "legacy", "expires": "2099-12-31"}]);
    let parameters = json!({"rule": "kms-key-rotation", "exceptions": exceptions.to_string()});
    let event = change_event(key_item("OK"), parameters, false);
    assert!(request::parse(&event).is_ok());
}

#[test]
fn exception_without_reason_is_rejected() {
    let parameters =
        json!({"rule": "kms-key-rotation", "exceptions": [{"arn": "*", "expires": "2099-12-31"}]});
    let event = change_event(key_item("OK"), parameters, false);
    assert!(
        error_of(&event).contains("invalid exception 1"),
        "{}",
        error_of(&event)
    );
}
