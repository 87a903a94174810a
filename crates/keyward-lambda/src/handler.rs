//! One invocation, from the event to `PutEvaluations`.

use anyhow::{Result, anyhow, bail};
use aws_config::SdkConfig;
use aws_lambda_events::event::config::ConfigEvent;
use chrono::{DateTime, Utc};
use keyward_rules::{Context, ResourceType};
use keyward_scan::{AssetId, ScanOptions};
use keyward_store::inventory::{CoverageStatus, Snapshot};
use serde::Serialize;
use tracing::{debug, info};

use crate::report;
use crate::request::{self, ItemSummary, RuleRequest, Trigger, config_resource_type};
use crate::verdicts::{self, Compliance, Evaluation};

/// What every invocation shares: the AWS configuration of the function's
/// account and Region.
#[derive(Clone, Debug)]
pub struct Environment {
    /// Credentials, Region, retries and timeouts for every client.
    pub sdk: SdkConfig,
    /// Region that the function runs and reads in.
    pub region: String,
}

impl Environment {
    /// Loads the function's credentials and Region from the Lambda
    /// environment, with the scanner's adaptive retries for throttling.
    pub async fn load() -> Self {
        Self::new(keyward_scan::load_config(&ScanOptions::default()).await)
    }

    /// Wraps a loaded configuration.
    pub fn new(sdk: SdkConfig) -> Self {
        let region = sdk
            .region()
            .map(|region| region.as_ref().to_owned())
            .unwrap_or_default();
        Self { sdk, region }
    }
}

/// Summary of an invocation, returned to the Lambda runtime.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// keyward rule id.
    pub rule: String,
    /// Evaluations sent to AWS Config.
    pub evaluations: usize,
    /// COMPLIANT evaluations.
    pub compliant: usize,
    /// NON_COMPLIANT evaluations.
    pub non_compliant: usize,
    /// NOT_APPLICABLE evaluations.
    pub not_applicable: usize,
}

/// Handles one AWS Config invocation: judges the assets it names and sends
/// the evaluations. Any failure, of the event, of a read or of
/// `PutEvaluations`, is returned, so that the invocation fails.
pub async fn handle(environment: &Environment, event: ConfigEvent) -> Result<Outcome> {
    let request = request::parse(&event)?;
    debug!(rule = request.rule.id, trigger = ?request.trigger, "invocation parsed");
    let evaluations = match &request.trigger {
        Trigger::Scheduled { notification_time } => {
            scheduled(environment, &request, *notification_time).await?
        }
        Trigger::Change(item) => change(environment, &request, item).await?,
    };

    let client = aws_sdk_config::Client::new(&environment.sdk);
    report::put_evaluations(&client, &request.result_token, &evaluations).await?;
    let outcome = outcome(request.rule.id, &evaluations);
    info!(
        rule = outcome.rule,
        compliant = outcome.compliant,
        non_compliant = outcome.non_compliant,
        not_applicable = outcome.not_applicable,
        "evaluations sent"
    );
    Ok(outcome)
}

/// Judges every asset of the rule's type in the account and Region.
async fn scheduled(
    environment: &Environment,
    request: &RuleRequest,
    notification_time: DateTime<Utc>,
) -> Result<Vec<Evaluation>> {
    let service = match request.rule.resource_type {
        ResourceType::KmsKey => keyward_scan::Service::Kms,
        ResourceType::Certificate => keyward_scan::Service::Acm,
        ResourceType::Secret => keyward_scan::Service::SecretsManager,
        ResourceType::IamPolicy | ResourceType::IamPrincipal => {
            bail!("keyward rule {} judges IAM policies", request.rule.id)
        }
    };
    let snapshot = keyward_scan::read_region(
        &environment.sdk,
        &request.account_id,
        &environment.region,
        service,
    )
    .await;
    judge(request, snapshot, notification_time, None)
}

/// Judges the one resource of a change notification, read live from its
/// service, since the configuration item lacks what the rules read (such
/// as the last use of a key) and an oversized notification carries only a
/// summary.
async fn change(
    environment: &Environment,
    request: &RuleRequest,
    item: &ItemSummary,
) -> Result<Vec<Evaluation>> {
    let rule = request.rule;
    let not_applicable = |annotation: &str| {
        Ok(vec![Evaluation::new(
            &item.resource_type,
            &item.resource_id,
            Compliance::NotApplicable,
            annotation,
            item.capture_time,
        )])
    };
    if item.gone {
        let reason = if request::DELETED_STATUSES.contains(&item.status.as_str()) {
            format!("the resource was deleted ({})", item.status)
        } else {
            "the resource left the scope of the rule".to_owned()
        };
        return not_applicable(&reason);
    }
    let expected = config_resource_type(rule.resource_type).ok_or_else(|| {
        anyhow!(
            "keyward rule {} judges no AWS Config resource type",
            rule.id
        )
    })?;
    if item.resource_type != expected {
        return not_applicable(&format!(
            "keyward rule {} judges {expected}, not {}",
            rule.id, item.resource_type
        ));
    }
    if let Some(region) = &item.region
        && *region != environment.region
    {
        bail!(
            "the configuration item of {} is in Region {region}, but the function runs in {}; deploy the function in each Region that its Config rules cover",
            item.resource_id,
            environment.region
        );
    }

    let asset = asset_id(rule.resource_type, item)?;
    let snapshot = keyward_scan::read_asset(
        &environment.sdk,
        &request.account_id,
        &environment.region,
        &asset,
    )
    .await;
    let found = snapshot.keys.len() + snapshot.certificates.len() + snapshot.secrets.len();
    let read = snapshot
        .coverage
        .iter()
        .all(|row| row.status == CoverageStatus::Ok);
    if found == 0 && read {
        return not_applicable("the resource no longer exists");
    }
    judge(
        request,
        snapshot,
        item.capture_time,
        Some(&item.resource_id),
    )
}

/// Names the asset of a configuration item for the scanner: a KMS key by
/// its key id, a certificate or a secret by its ARN.
fn asset_id(resource_type: ResourceType, item: &ItemSummary) -> Result<AssetId> {
    let arn = || {
        item.arn
            .clone()
            .or_else(|| {
                item.resource_id
                    .starts_with("arn:")
                    .then(|| item.resource_id.clone())
            })
            .ok_or_else(|| anyhow!("the configuration item of {} has no ARN", item.resource_id))
    };
    Ok(match resource_type {
        ResourceType::KmsKey => AssetId::Key(item.resource_id.clone()),
        ResourceType::Certificate => AssetId::Certificate(arn()?),
        ResourceType::Secret => AssetId::Secret(arn()?),
        ResourceType::IamPolicy | ResourceType::IamPrincipal => {
            bail!("IAM resources are not read by keyward-lambda")
        }
    })
}

/// Runs the rule on the snapshot and turns its findings into evaluations.
fn judge(
    request: &RuleRequest,
    snapshot: Snapshot,
    ordering_time: DateTime<Utc>,
    id_override: Option<&str>,
) -> Result<Vec<Evaluation>> {
    let context = Context {
        now: Utc::now(),
        snapshot,
        config: request.config.clone(),
        ..Context::default()
    };
    let findings = keyward_rules::evaluate_rule(&context, request.rule);
    verdicts::evaluations(
        request.rule,
        &context.snapshot,
        &findings,
        ordering_time,
        id_override,
    )
    .map_err(|failures| {
        anyhow!(
            "keyward rule {} could not judge {} resource(s) because AWS API calls failed; no evaluation was sent: {}",
            request.rule.id,
            failures.len(),
            failures.join("; ")
        )
    })
}

fn outcome(rule: &str, evaluations: &[Evaluation]) -> Outcome {
    let count = |compliance| {
        evaluations
            .iter()
            .filter(|evaluation| evaluation.compliance == compliance)
            .count()
    };
    Outcome {
        rule: rule.to_owned(),
        evaluations: evaluations.len(),
        compliant: count(Compliance::Compliant),
        non_compliant: count(Compliance::NonCompliant),
        not_applicable: count(Compliance::NotApplicable),
    }
}
