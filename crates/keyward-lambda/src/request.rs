//! The invocation that AWS Config sends a custom rule's function: the
//! rule's parameters and the event that triggered it.
//!
//! `invokingEvent` and `ruleParameters` arrive as JSON text inside the
//! JSON of the invocation, so each is parsed a second time here.

use anyhow::{Context as _, Result, anyhow, bail};
use aws_lambda_events::event::config::ConfigEvent;
use chrono::{DateTime, Utc};
use keyward_rules::config::{ConfigFile, Exception, RuleFile};
use keyward_rules::{Config, ResourceType, Rule};
use serde_json::Value;

/// A checked invocation.
pub struct RuleRequest {
    /// The keyward rule that the Config rule runs.
    pub rule: &'static Rule,
    /// Configuration with the rule's threshold and exceptions.
    pub config: Config,
    /// What triggered the invocation.
    pub trigger: Trigger,
    /// Token that `PutEvaluations` must return to AWS Config.
    pub result_token: String,
    /// Account of the Config rule, which is the function's own.
    pub account_id: String,
}

/// What triggered an invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// The rule's periodic run, at `MaximumExecutionFrequency`.
    Scheduled {
        /// Time at which AWS Config created the notification.
        notification_time: DateTime<Utc>,
    },
    /// A change of one resource's configuration item.
    Change(ItemSummary),
}

/// The fields of a configuration item that the function reads. An
/// oversized notification carries only these, in its summary.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSummary {
    /// AWS Config's resource type, such as `AWS::KMS::Key`.
    pub resource_type: String,
    /// AWS Config's resource id: the key id of a KMS key, the ARN of a
    /// certificate or a secret.
    pub resource_id: String,
    /// ARN of the resource, when the item has one.
    pub arn: Option<String>,
    /// Region of the resource, when the item names it.
    pub region: Option<String>,
    /// Status, such as `OK` or `ResourceDeleted`.
    pub status: String,
    /// Time at which AWS Config recorded the item.
    pub capture_time: DateTime<Utc>,
    /// The resource left the rule's scope, or was deleted: the rule no
    /// longer applies to it.
    pub gone: bool,
}

/// Configuration item statuses of a deleted resource.
pub const DELETED_STATUSES: [&str; 2] = ["ResourceDeleted", "ResourceDeletedNotRecorded"];

/// AWS Config's resource type of the assets that a keyward rule judges, or
/// `None` for a type that Config rules of keyward do not cover.
pub fn config_resource_type(resource_type: ResourceType) -> Option<&'static str> {
    match resource_type {
        ResourceType::KmsKey => Some("AWS::KMS::Key"),
        ResourceType::Certificate => Some("AWS::ACM::Certificate"),
        ResourceType::Secret => Some("AWS::SecretsManager::Secret"),
        ResourceType::IamPolicy | ResourceType::IamPrincipal => None,
    }
}

/// Parses and checks an invocation.
pub fn parse(event: &ConfigEvent) -> Result<RuleRequest> {
    let parameters = parse_json_text(event.rule_parameters.as_deref(), "ruleParameters")?;
    let (rule, config) = rule_settings(&parameters)?;
    let invoking_event = parse_json_text(event.invoking_event.as_deref(), "invokingEvent")?;
    let trigger = trigger(&invoking_event, event.event_left_scope)?;
    let result_token = event
        .result_token
        .clone()
        .filter(|token| !token.is_empty())
        .ok_or_else(|| anyhow!("the invocation has no resultToken"))?;
    let account_id = event
        .account_id
        .clone()
        .filter(|account| !account.is_empty())
        .ok_or_else(|| anyhow!("the invocation has no accountId"))?;
    Ok(RuleRequest {
        rule,
        config,
        trigger,
        result_token,
        account_id,
    })
}

fn parse_json_text(text: Option<&str>, field: &str) -> Result<Value> {
    let text = text.ok_or_else(|| anyhow!("the invocation has no {field}"))?;
    serde_json::from_str(text).with_context(|| format!("{field} is not valid JSON"))
}

/// Finds the keyward rule of the `rule` parameter and builds its
/// configuration from `thresholdDays` and `exceptions`.
fn rule_settings(parameters: &Value) -> Result<(&'static Rule, Config)> {
    let id = parameters
        .get("rule")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            anyhow!("ruleParameters has no \"rule\"; set it to a keyward rule id, such as kms-key-rotation")
        })?;
    let rule = keyward_rules::rule(id).ok_or_else(|| {
        anyhow!("unknown keyward rule {id:?} in ruleParameters; `keyward rules` lists them")
    })?;
    if config_resource_type(rule.resource_type).is_none() {
        bail!(
            "keyward rule {id} judges IAM policies, which keyward-lambda does not read; choose a rule for KMS keys, ACM certificates or secrets"
        );
    }

    let threshold_days = match parameters.get("thresholdDays") {
        None | Some(Value::Null) => None,
        Some(value) => Some(threshold_days(value)?),
    };
    let mut file = ConfigFile::default();
    file.rules.insert(
        id.to_owned(),
        RuleFile {
            threshold_days,
            ..RuleFile::default()
        },
    );
    if let Some(value) = parameters.get("exceptions") {
        file.exceptions = exceptions(value, id)?;
    }
    let config = Config::from_file(file).context("invalid ruleParameters")?;
    Ok((rule, config))
}

/// Reads `thresholdDays`, which CloudFormation passes as a string and a
/// console user may give as a number.
fn threshold_days(value: &Value) -> Result<u32> {
    let days = match value {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    };
    days.ok_or_else(|| anyhow!("thresholdDays is {value}; expected a whole number of days"))
}

/// Reads `exceptions`: a JSON array, or JSON text of one, of exceptions in
/// the fields of keyward's configuration file (`arn`, `name`, `tag`,
/// `reason`, `expires`). `rule` may be left out and defaults to the Config
/// rule's keyward rule.
fn exceptions(value: &Value, rule_id: &str) -> Result<Vec<Exception>> {
    let list = match value {
        Value::String(text) => serde_json::from_str(text)
            .context("the exceptions parameter is not valid JSON; expected an array of objects")?,
        other => other.clone(),
    };
    let Value::Array(items) = list else {
        bail!("the exceptions parameter is not an array of objects");
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, mut item)| {
            if let Value::Object(fields) = &mut item {
                fields
                    .entry("rule")
                    .or_insert_with(|| Value::String(rule_id.to_owned()));
            }
            serde_json::from_value(item).with_context(|| {
                format!(
                    "invalid exception {} in the exceptions parameter",
                    index + 1
                )
            })
        })
        .collect()
}

/// Reads the trigger from the parsed `invokingEvent`.
fn trigger(invoking_event: &Value, event_left_scope: bool) -> Result<Trigger> {
    let message_type = invoking_event
        .get("messageType")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("invokingEvent has no messageType"))?;
    match message_type {
        "ScheduledNotification" => Ok(Trigger::Scheduled {
            notification_time: time_field(invoking_event, "notificationCreationTime")?,
        }),
        "ConfigurationItemChangeNotification" => {
            item_summary(invoking_event.get("configurationItem"), event_left_scope)
                .map(Trigger::Change)
        }
        "OversizedConfigurationItemChangeNotification" => item_summary(
            invoking_event.get("configurationItemSummary"),
            event_left_scope,
        )
        .map(Trigger::Change),
        other => bail!(
            "unsupported messageType {other:?}; a keyward Config rule runs on ScheduledNotification, ConfigurationItemChangeNotification and OversizedConfigurationItemChangeNotification"
        ),
    }
}

fn item_summary(item: Option<&Value>, event_left_scope: bool) -> Result<ItemSummary> {
    let item = item
        .filter(|item| item.is_object())
        .ok_or_else(|| anyhow!("the change notification has no configuration item"))?;
    let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
    let required =
        |name: &str| text(name).ok_or_else(|| anyhow!("the configuration item has no {name}"));
    let status = required("configurationItemStatus")?;
    let gone = event_left_scope || DELETED_STATUSES.contains(&status.as_str());
    Ok(ItemSummary {
        resource_type: required("resourceType")?,
        resource_id: required("resourceId")?,
        arn: text("ARN").or_else(|| text("arn")),
        region: text("awsRegion"),
        status,
        capture_time: time_field(item, "configurationItemCaptureTime")?,
        gone,
    })
}

fn time_field(object: &Value, name: &str) -> Result<DateTime<Utc>> {
    let text = object
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("invokingEvent has no {name}"))?;
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .with_context(|| format!("{name} {text:?} is not an RFC 3339 time"))
}
