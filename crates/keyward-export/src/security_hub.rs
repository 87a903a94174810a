//! Import of ASFF findings into AWS Security Hub with `BatchImportFindings`.
//!
//! Security Hub accepts at most 100 findings and 6 MB per request, and at
//! most 240 KB per finding. With the default product ARN, it accepts only
//! findings whose `AwsAccountId` is the calling account, so findings of
//! other accounts are reported as not sent. The SDK retries throttled
//! requests with adaptive back-off; a request that still fails marks each
//! of its findings as failed with the request's error.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::error::ProvideErrorMetadata;
use aws_sdk_securityhub::types as sdk;

use crate::asff::{
    AsffFinding, CertificateDetails, KmsKeyDetails, Resource, ResourceDetails, SecretDetails,
};

/// Maximum findings per `BatchImportFindings` request.
pub const MAX_BATCH_FINDINGS: usize = 100;
/// Maximum size of the findings of one request, as JSON. Security Hub's
/// limit is 6 MB per request; the margin covers the request envelope and
/// any difference between this crate's JSON and the SDK's.
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// Maximum size of one finding, as JSON.
pub const MAX_FINDING_BYTES: usize = 240 * 1024;
/// Attempts per request, including the first, with adaptive back-off.
pub const MAX_ATTEMPTS: u32 = 8;

/// A finding that Security Hub did not import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedFinding {
    /// `Id` of the finding.
    pub id: String,
    /// Error code, from Security Hub or from keyward for a finding that was
    /// not sent.
    pub error_code: String,
    /// Error message.
    pub message: String,
}

/// Outcome of an import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Findings that Security Hub imported.
    pub imported: usize,
    /// Requests sent.
    pub requests: usize,
    /// Findings that were not imported.
    pub failed: Vec<FailedFinding>,
}

/// Loads the SDK configuration for Security Hub: credentials from the
/// standard chain, the Region (or the chain's, or `us-east-1`), an
/// optional endpoint for emulators, adaptive retry and timeouts.
pub async fn load_config(region: Option<String>, endpoint_url: Option<String>) -> SdkConfig {
    let region_chain =
        aws_config::meta::region::RegionProviderChain::first_try(region.map(Region::new))
            .or_default_provider()
            .or_else(Region::from_static(crate::DEFAULT_REGION));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region_chain)
        .retry_config(RetryConfig::adaptive().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(300))
                .build(),
        );
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Returns the account of the credentials, with `sts:GetCallerIdentity`.
pub async fn caller_account(config: &SdkConfig) -> Result<String, String> {
    let output = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| {
            error
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| keyward_store::error_chain_text(&error))
        })?;
    output
        .account()
        .map(str::to_owned)
        .ok_or_else(|| "GetCallerIdentity returned no account".to_owned())
}

/// Splits findings into those of `account` and failures for the others.
pub fn keep_account<'a>(
    findings: &'a [AsffFinding],
    account: &str,
) -> (Vec<&'a AsffFinding>, Vec<FailedFinding>) {
    let mut kept = Vec::new();
    let mut failed = Vec::new();
    for finding in findings {
        if finding.aws_account_id == account {
            kept.push(finding);
        } else {
            failed.push(FailedFinding {
                id: finding.id.clone(),
                error_code: "AccountMismatch".to_owned(),
                message: format!(
                    "not sent: BatchImportFindings with the default product ARN accepts only findings of the calling account {account}; export the findings of account {} with its credentials, or use --account",
                    finding.aws_account_id
                ),
            });
        }
    }
    (kept, failed)
}

/// Groups findings into requests of at most [`MAX_BATCH_FINDINGS`] findings
/// and [`MAX_BATCH_BYTES`] bytes, in their order. A finding larger than
/// [`MAX_FINDING_BYTES`] is returned as a failure instead.
pub fn batches<'a>(
    findings: &[&'a AsffFinding],
) -> (Vec<Vec<&'a AsffFinding>>, Vec<FailedFinding>) {
    let mut batches: Vec<Vec<&AsffFinding>> = Vec::new();
    let mut failed = Vec::new();
    let mut current: Vec<&AsffFinding> = Vec::new();
    let mut current_bytes = 0;
    for &finding in findings {
        let size = serde_json::to_vec(finding).map_or(usize::MAX, |json| json.len());
        if size > MAX_FINDING_BYTES {
            failed.push(FailedFinding {
                id: finding.id.clone(),
                error_code: "FindingTooLarge".to_owned(),
                message: format!(
                    "not sent: the finding is {size} bytes as JSON, over Security Hub's limit of {MAX_FINDING_BYTES}"
                ),
            });
            continue;
        }
        let full = current.len() == MAX_BATCH_FINDINGS || current_bytes + size > MAX_BATCH_BYTES;
        if full && !current.is_empty() {
            batches.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current.push(finding);
        current_bytes += size;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    (batches, failed)
}

/// Rounds in which findings that Security Hub rejected for a transient
/// reason are sent again.
pub const RETRY_ROUNDS: u32 = 3;

/// Pause before the first round of retries; it doubles each round.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Reports whether a `FailedFindings` error code names a transient
/// failure, such as throttling or an internal error, worth sending again.
pub fn is_transient(code: &str) -> bool {
    [
        "Throttl",
        "TooManyRequests",
        "Internal",
        "ServiceUnavailable",
        "LimitExceeded",
    ]
    .iter()
    .any(|part| code.contains(part))
}

/// Sends the findings in batches and collects every failure. A finding of
/// another account than `caller_account` is not sent. Findings rejected
/// for a transient reason are sent again, up to [`RETRY_ROUNDS`] times.
pub async fn import(
    client: &Client,
    findings: &[AsffFinding],
    caller_account: &str,
) -> ImportReport {
    let (own, mut failed) = keep_account(findings, caller_account);
    let (mut pending, too_large) = batches(&own);
    failed.extend(too_large);
    let mut report = ImportReport::default();
    let mut round = 0;
    loop {
        let mut retry = Vec::new();
        for batch in pending {
            let rejected = send_batch(client, &batch, &mut report).await;
            for failure in rejected {
                let finding = batch.iter().find(|finding| finding.id == failure.id);
                match finding {
                    Some(finding) if round < RETRY_ROUNDS && is_transient(&failure.error_code) => {
                        retry.push(*finding);
                    }
                    _ => failed.push(failure),
                }
            }
        }
        if retry.is_empty() {
            break;
        }
        round += 1;
        tracing::warn!(
            findings = retry.len(),
            round,
            "Security Hub rejected findings for a transient reason; sending them again"
        );
        tokio::time::sleep(RETRY_PAUSE * 2u32.pow(round - 1)).await;
        pending = batches(&retry).0;
    }
    report.failed.extend(failed);
    report
}

/// Sends one batch and returns the findings that Security Hub rejected.
/// When the request itself fails, its findings go to `report.failed`,
/// because the SDK has already retried throttling and transient errors.
async fn send_batch(
    client: &Client,
    batch: &[&AsffFinding],
    report: &mut ImportReport,
) -> Vec<FailedFinding> {
    report.requests += 1;
    let request = client
        .batch_import_findings()
        .set_findings(Some(batch.iter().map(|finding| to_sdk(finding)).collect()));
    match request.send().await {
        Ok(output) => {
            let rejected = output.failed_findings();
            let accepted = batch.len().saturating_sub(rejected.len());
            report.imported += output
                .success_count()
                .and_then(|count| usize::try_from(count).ok())
                .unwrap_or(accepted);
            tracing::debug!(
                findings = batch.len(),
                failed = rejected.len(),
                "BatchImportFindings returned"
            );
            rejected
                .iter()
                .map(|entry| FailedFinding {
                    id: entry.id().unwrap_or_default().to_owned(),
                    error_code: entry.error_code().unwrap_or_default().to_owned(),
                    message: entry.error_message().unwrap_or_default().to_owned(),
                })
                .collect()
        }
        Err(error) => {
            let code = error.code().unwrap_or("RequestFailed").to_owned();
            let message = error
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| keyward_store::error_chain_text(&error));
            tracing::error!(findings = batch.len(), %code, "BatchImportFindings failed: {message}");
            report
                .failed
                .extend(batch.iter().map(|finding| FailedFinding {
                    id: finding.id.clone(),
                    error_code: code.clone(),
                    message: message.clone(),
                }));
            Vec::new()
        }
    }
}

/// Converts a finding to the SDK's type.
pub fn to_sdk(finding: &AsffFinding) -> sdk::AwsSecurityFinding {
    let severity = |label: &str, original: &str| {
        sdk::Severity::builder()
            .label(sdk::SeverityLabel::from(label))
            .original(original)
            .build()
    };
    let provider_severity = sdk::FindingProviderSeverity::builder()
        .label(sdk::SeverityLabel::from(
            finding.finding_provider_fields.severity.label.as_str(),
        ))
        .original(&finding.finding_provider_fields.severity.original)
        .build();
    let recommendation = &finding.remediation.recommendation;
    sdk::AwsSecurityFinding::builder()
        .schema_version(&finding.schema_version)
        .id(&finding.id)
        .product_arn(&finding.product_arn)
        .product_name(&finding.product_name)
        .company_name(&finding.company_name)
        .generator_id(&finding.generator_id)
        .aws_account_id(&finding.aws_account_id)
        .set_types(Some(finding.types.clone()))
        .created_at(&finding.created_at)
        .updated_at(&finding.updated_at)
        .first_observed_at(&finding.first_observed_at)
        .last_observed_at(&finding.last_observed_at)
        .severity(severity(
            &finding.severity.label,
            &finding.severity.original,
        ))
        .title(&finding.title)
        .description(&finding.description)
        .remediation(
            sdk::Remediation::builder()
                .recommendation(
                    sdk::Recommendation::builder()
                        .text(&recommendation.text)
                        .set_url(recommendation.url.clone())
                        .build(),
                )
                .build(),
        )
        .set_product_fields(Some(to_map(&finding.product_fields)))
        .set_resources(Some(finding.resources.iter().map(resource).collect()))
        .compliance(
            sdk::Compliance::builder()
                .status(sdk::ComplianceStatus::from(
                    finding.compliance.status.as_str(),
                ))
                .set_status_reasons((!finding.compliance.status_reasons.is_empty()).then(|| {
                    finding
                        .compliance
                        .status_reasons
                        .iter()
                        .map(|reason| {
                            sdk::StatusReason::builder()
                                .reason_code(&reason.reason_code)
                                .description(&reason.description)
                                .build()
                        })
                        .collect()
                }))
                .build(),
        )
        .workflow(
            sdk::Workflow::builder()
                .status(sdk::WorkflowStatus::from(finding.workflow.status.as_str()))
                .build(),
        )
        .record_state(sdk::RecordState::from(finding.record_state.as_str()))
        .finding_provider_fields(
            sdk::FindingProviderFields::builder()
                .severity(provider_severity)
                .set_types(Some(finding.finding_provider_fields.types.clone()))
                .build(),
        )
        .build()
}

fn to_map(map: &std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn resource(resource: &Resource) -> sdk::Resource {
    sdk::Resource::builder()
        .r#type(&resource.resource_type)
        .id(&resource.id)
        .partition(sdk::Partition::from(resource.partition.as_str()))
        .set_region(resource.region.clone())
        .set_tags((!resource.tags.is_empty()).then(|| to_map(&resource.tags)))
        .set_details(resource.details.as_ref().map(details))
        .build()
}

fn details(details: &ResourceDetails) -> sdk::ResourceDetails {
    sdk::ResourceDetails::builder()
        .set_aws_kms_key(details.aws_kms_key.as_ref().map(key))
        .set_aws_certificate_manager_certificate(
            details
                .aws_certificate_manager_certificate
                .as_ref()
                .map(certificate),
        )
        .set_aws_secrets_manager_secret(details.aws_secrets_manager_secret.as_ref().map(secret))
        .set_other(details.other.as_ref().map(to_map))
        .build()
}

fn key(key: &KmsKeyDetails) -> sdk::AwsKmsKeyDetails {
    sdk::AwsKmsKeyDetails::builder()
        .set_aws_account_id(key.aws_account_id.clone())
        .set_creation_date(key.creation_date)
        .set_key_id(key.key_id.clone())
        .set_key_manager(key.key_manager.clone())
        .set_key_state(key.key_state.clone())
        .set_origin(key.origin.clone())
        .set_description(key.description.clone())
        .set_key_rotation_status(key.key_rotation_status)
        .build()
}

fn certificate(certificate: &CertificateDetails) -> sdk::AwsCertificateManagerCertificateDetails {
    let extended_key_usages = certificate
        .extended_key_usages
        .iter()
        .map(|usage| {
            sdk::AwsCertificateManagerCertificateExtendedKeyUsage::builder()
                .name(&usage.name)
                .build()
        })
        .collect();
    let key_usages = certificate
        .key_usages
        .iter()
        .map(|usage| {
            sdk::AwsCertificateManagerCertificateKeyUsage::builder()
                .name(&usage.name)
                .build()
        })
        .collect();
    let renewal_summary = certificate.renewal_summary.as_ref().map(|summary| {
        sdk::AwsCertificateManagerCertificateRenewalSummary::builder()
            .set_renewal_status(summary.renewal_status.clone())
            .set_renewal_status_reason(summary.renewal_status_reason.clone())
            .build()
    });
    let list = |values: &Vec<String>| (!values.is_empty()).then(|| values.clone());
    sdk::AwsCertificateManagerCertificateDetails::builder()
        .set_certificate_authority_arn(certificate.certificate_authority_arn.clone())
        .set_created_at(certificate.created_at.clone())
        .set_domain_name(certificate.domain_name.clone())
        .set_extended_key_usages(Some(extended_key_usages))
        .set_failure_reason(certificate.failure_reason.clone())
        .set_imported_at(certificate.imported_at.clone())
        .set_in_use_by(list(&certificate.in_use_by))
        .set_issued_at(certificate.issued_at.clone())
        .set_issuer(certificate.issuer.clone())
        .set_key_algorithm(certificate.key_algorithm.clone())
        .set_key_usages(Some(key_usages))
        .set_not_after(certificate.not_after.clone())
        .set_not_before(certificate.not_before.clone())
        .set_renewal_eligibility(certificate.renewal_eligibility.clone())
        .set_renewal_summary(renewal_summary)
        .set_serial(certificate.serial.clone())
        .set_signature_algorithm(certificate.signature_algorithm.clone())
        .set_status(certificate.status.clone())
        .set_subject(certificate.subject.clone())
        .set_subject_alternative_names(list(&certificate.subject_alternative_names))
        .set_type(certificate.certificate_type.clone())
        .build()
}

fn secret(secret: &SecretDetails) -> sdk::AwsSecretsManagerSecretDetails {
    sdk::AwsSecretsManagerSecretDetails::builder()
        .set_rotation_rules(secret.rotation_rules.as_ref().map(|rules| {
            sdk::AwsSecretsManagerSecretRotationRules::builder()
                .automatically_after_days(rules.automatically_after_days)
                .build()
        }))
        .set_kms_key_id(secret.kms_key_id.clone())
        .set_rotation_enabled(secret.rotation_enabled)
        .set_rotation_lambda_arn(secret.rotation_lambda_arn.clone())
        .deleted(secret.deleted)
        .name(&secret.name)
        .set_description(secret.description.clone())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Export;
    use crate::asff::{AsffOptions, findings as asff_findings};
    use crate::tests::{findings, inventory};

    fn sample() -> Vec<AsffFinding> {
        let inventory = inventory();
        let findings = findings();
        let export = Export {
            findings: &findings,
            inventory: &inventory,
            keyward_version: "0.1.0",
        };
        asff_findings(&export, &AsffOptions::default())
    }

    fn many(count: usize, description_bytes: usize) -> Vec<AsffFinding> {
        let template = sample().remove(0);
        (0..count)
            .map(|index| AsffFinding {
                id: format!("keyward/test/{index}"),
                description: "d".repeat(description_bytes),
                ..template.clone()
            })
            .collect()
    }

    #[test]
    fn batches_hold_at_most_one_hundred_findings() {
        let findings = many(250, 10);
        let references: Vec<&AsffFinding> = findings.iter().collect();
        let (batches, failed) = batches(&references);
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert!(failed.is_empty());
        let ids: Vec<&str> = batches.iter().flatten().map(|f| f.id.as_str()).collect();
        let expected: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn batches_stay_under_the_request_size() {
        // About 200 KB each: 26 fit in 5 MiB, 100 would be 20 MB.
        let findings = many(60, 200 * 1024);
        let references: Vec<&AsffFinding> = findings.iter().collect();
        let (batches, failed) = batches(&references);
        assert!(failed.is_empty());
        assert!(batches.len() >= 3, "{}", batches.len());
        for batch in &batches {
            let bytes: usize = batch
                .iter()
                .map(|f| serde_json::to_vec(f).unwrap().len())
                .sum();
            assert!(bytes <= MAX_BATCH_BYTES, "{bytes}");
        }
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 60);
    }

    #[test]
    fn oversized_finding_is_reported_not_sent() {
        let mut findings = many(3, 10);
        findings[1].description = "d".repeat(MAX_FINDING_BYTES + 1);
        let references: Vec<&AsffFinding> = findings.iter().collect();
        let (batches, failed) = batches(&references);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].len(), 2);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].id, findings[1].id);
        assert_eq!(failed[0].error_code, "FindingTooLarge");
    }

    #[test]
    fn findings_of_other_accounts_are_not_sent() {
        let mut findings = sample();
        findings[1].aws_account_id = "444455556666".into();
        let (kept, failed) = keep_account(&findings, "111122223333");
        assert_eq!(kept.len(), findings.len() - 1);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].error_code, "AccountMismatch");
        assert!(failed[0].message.contains("444455556666"));
    }

    #[test]
    fn exporter_policy_allows_only_the_import() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/iam/keyward-exporter-policy.json"
        );
        let policy: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1);
        assert_eq!(statements[0]["Effect"], "Allow");
        assert_eq!(
            statements[0]["Action"],
            serde_json::json!(["securityhub:BatchImportFindings"])
        );
        assert_eq!(
            statements[0]["Resource"],
            "arn:aws:securityhub:*:*:product/*/default"
        );
        // BatchImportFindings is the only Security Hub call of the exporter,
        // and GetCallerIdentity needs no permission.
        let code = include_str!("security_hub.rs");
        let code = &code[..code.find("#[cfg(test)]").unwrap()];
        assert_eq!(code.matches(".batch_import_findings()").count(), 1);
    }

    #[test]
    fn sdk_finding_keeps_every_field() {
        for finding in sample() {
            let converted = to_sdk(&finding);
            assert_eq!(converted.id(), Some(finding.id.as_str()));
            assert_eq!(converted.product_arn(), Some(finding.product_arn.as_str()));
            assert_eq!(converted.aws_account_id(), Some("111122223333"));
            assert_eq!(
                converted.record_state().map(|state| state.as_str()),
                Some(finding.record_state.as_str())
            );
            assert_eq!(
                converted
                    .compliance()
                    .and_then(|c| c.status())
                    .map(|s| s.as_str()),
                Some(finding.compliance.status.as_str())
            );
            assert_eq!(
                converted
                    .workflow()
                    .and_then(|w| w.status())
                    .map(|s| s.as_str()),
                Some(finding.workflow.status.as_str())
            );
            let resource = &converted.resources()[0];
            assert_eq!(resource.id(), Some(finding.resources[0].id.as_str()));
            assert_eq!(
                resource.details().is_some(),
                finding.resources[0].details.is_some()
            );
        }
        let key = to_sdk(&sample()[0]);
        let details = key.resources()[0].details().unwrap().aws_kms_key().unwrap();
        assert_eq!(details.key_rotation_status(), Some(false));
    }
}
