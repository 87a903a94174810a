//! Sends evaluations to AWS Config with `PutEvaluations`.

use anyhow::{Context as _, Result, bail};
use aws_sdk_config::Client;
use aws_sdk_config::types::{ComplianceType, Evaluation as ConfigEvaluation};
use aws_smithy_types::DateTime as SmithyDateTime;

use crate::verdicts::Evaluation;

/// Evaluations per `PutEvaluations` request, the API's maximum.
pub const BATCH_SIZE: usize = 100;

/// Sends the evaluations in batches of [`BATCH_SIZE`] with the
/// invocation's result token. The SDK retries throttled requests. Fails
/// when a request fails or when AWS Config returns evaluations that it
/// could not record, and names them.
pub async fn put_evaluations(
    client: &Client,
    result_token: &str,
    evaluations: &[Evaluation],
) -> Result<()> {
    let mut rejected = Vec::new();
    for (index, batch) in evaluations.chunks(BATCH_SIZE).enumerate() {
        let items = batch
            .iter()
            .map(config_evaluation)
            .collect::<Result<Vec<_>>>()?;
        let output = client
            .put_evaluations()
            .result_token(result_token)
            .set_evaluations(Some(items))
            .send()
            .await
            .with_context(|| {
                format!(
                    "PutEvaluations failed for batch {} of {}",
                    index + 1,
                    evaluations.len().div_ceil(BATCH_SIZE)
                )
            })?;
        rejected.extend(output.failed_evaluations().iter().map(|failed| {
            format!(
                "{} {} {}",
                failed.compliance_resource_type(),
                failed.compliance_resource_id(),
                failed.compliance_type().as_str()
            )
        }));
    }
    if !rejected.is_empty() {
        bail!(
            "AWS Config rejected {} of {} evaluations: {}",
            rejected.len(),
            evaluations.len(),
            rejected.join(", ")
        );
    }
    Ok(())
}

fn config_evaluation(evaluation: &Evaluation) -> Result<ConfigEvaluation> {
    let time = SmithyDateTime::from_millis(evaluation.ordering_time.timestamp_millis());
    ConfigEvaluation::builder()
        .compliance_resource_type(&evaluation.resource_type)
        .compliance_resource_id(&evaluation.resource_id)
        .compliance_type(ComplianceType::from(evaluation.compliance.as_str()))
        .annotation(&evaluation.annotation)
        .ordering_timestamp(time)
        .build()
        .with_context(|| format!("invalid evaluation of {}", evaluation.resource_id))
}
