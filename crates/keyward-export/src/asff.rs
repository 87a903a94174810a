//! Findings in the AWS Security Finding Format (ASFF), schema 2018-10-08,
//! as Security Hub's `BatchImportFindings` accepts them.
//!
//! Each finding belongs to the custom integration of its account,
//! `arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`. Its `Id`
//! depends only on the rule and the resource, so a later run updates the
//! same Security Hub finding. A FAIL is `FAILED`, an UNKNOWN `WARNING`
//! with the cause in `StatusReasons`, and a PASS `PASSED`. A pass that
//! resolves an earlier failure is also `ARCHIVED`, which takes it out of
//! Security Hub's active findings.

use std::collections::BTreeMap;
use std::io::Write;

use keyward_store::findings::FindingRecord;
use keyward_store::inventory::{CertificateRecord, KeyRecord, SecretRecord};
use serde::{Deserialize, Serialize};

use crate::{
    DEFAULT_REGION, Encoder, Export, Inventory, InventoryResource, Result, Workflow, finding_hash,
    is_resolved, names_an_arn, partition_of, reference_urls, region_or, rfc3339_millis, rule_of,
    truncate_chars,
};

/// ASFF schema version.
pub const SCHEMA_VERSION: &str = "2018-10-08";

/// Finding type of every keyward finding, in the ASFF
/// `namespace/category/classifier` taxonomy.
pub const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices";

/// Maximum lengths, in characters, that Security Hub accepts.
pub mod limits {
    /// `Title`.
    pub const TITLE: usize = 256;
    /// `Description`.
    pub const DESCRIPTION: usize = 1024;
    /// `Remediation.Recommendation.Text`.
    pub const RECOMMENDATION_TEXT: usize = 512;
    /// A value of `ProductFields`.
    pub const PRODUCT_FIELD_VALUE: usize = 2048;
    /// A value of `Resources[].Tags`.
    pub const TAG_VALUE: usize = 256;
    /// Tags of one resource.
    pub const TAGS: usize = 50;
    /// Entries of a list in resource details, such as `InUseBy`.
    pub const DETAIL_LIST: usize = 100;
}

/// One ASFF finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding {
    /// `2018-10-08`.
    pub schema_version: String,
    /// Identifier, stable per rule and resource.
    pub id: String,
    /// ARN of the account's custom integration.
    pub product_arn: String,
    /// `keyward`.
    pub product_name: String,
    /// `keyward`.
    pub company_name: String,
    /// `keyward/RULE_ID`.
    pub generator_id: String,
    /// Account of the resource.
    pub aws_account_id: String,
    /// Finding types.
    pub types: Vec<String>,
    /// When the failure was first seen, or the time of the run.
    pub created_at: String,
    /// Time of the run.
    pub updated_at: String,
    /// When the failure was first seen, or the time of the run.
    pub first_observed_at: String,
    /// Time of the run.
    pub last_observed_at: String,
    /// Severity.
    pub severity: Severity,
    /// Rule title.
    pub title: String,
    /// Cause and risk.
    pub description: String,
    /// The rule's remediation.
    pub remediation: Remediation,
    /// keyward's own fields: rule, run, verdict, evidence.
    pub product_fields: BTreeMap<String, String>,
    /// The resource.
    pub resources: Vec<Resource>,
    /// Compliance status.
    pub compliance: Compliance,
    /// Workflow status.
    pub workflow: WorkflowStatus,
    /// `ACTIVE`, or `ARCHIVED` for a resolved failure.
    pub record_state: String,
    /// Severity and types as the finding provider sets them; Security Hub
    /// reads these on updates instead of the top-level fields.
    pub finding_provider_fields: FindingProviderFields,
}

/// `Severity`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Severity {
    /// `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub label: String,
    /// Severity of the rule.
    pub original: String,
}

/// `Remediation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Remediation {
    /// The recommendation.
    pub recommendation: Recommendation,
}

/// `Remediation.Recommendation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recommendation {
    /// Recommended action.
    pub text: String,
    /// Documentation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `Resources[]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    /// `AwsKmsKey`, `AwsCertificateManagerCertificate`,
    /// `AwsSecretsManagerSecret`, `AwsIamPolicy`, `AwsIamUser`,
    /// `AwsIamRole`, `AwsIamGroup`, or `Other` for a service that could not
    /// be read.
    #[serde(rename = "Type")]
    pub resource_type: String,
    /// ARN, or `ACCOUNT/REGION/SERVICE`.
    pub id: String,
    /// Partition of the ARN.
    pub partition: String,
    /// Region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub tags: BTreeMap<String, String>,
    /// Details from the inventory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<ResourceDetails>,
}

/// `Resources[].Details`: exactly one member is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceDetails {
    /// A KMS key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_kms_key: Option<KmsKeyDetails>,
    /// An ACM certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_certificate_manager_certificate: Option<CertificateDetails>,
    /// A Secrets Manager secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_secrets_manager_secret: Option<SecretDetails>,
    /// Account, Region and service of a service that could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<BTreeMap<String, String>>,
}

/// `Details.AwsKmsKey`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KmsKeyDetails {
    /// Account; ASFF spells it `AWSAccountId` here.
    #[serde(rename = "AWSAccountId", skip_serializing_if = "Option::is_none")]
    pub aws_account_id: Option<String>,
    /// Creation time, in milliseconds since 1970, as Security Hub's own
    /// findings write it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<f64>,
    /// Key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `AWS` or `CUSTOMER`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_manager: Option<String>,
    /// Key state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_state: Option<String>,
    /// Origin of the key material.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether automatic rotation is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_rotation_status: Option<bool>,
}

/// `Details.AwsCertificateManagerCertificate`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateDetails {
    /// Private CA that issued it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_authority_arn: Option<String>,
    /// When it was created in ACM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Primary domain name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// Extended key usages.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extended_key_usages: Vec<NamedUsage>,
    /// Reason the request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// When it was imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported_at: Option<String>,
    /// Resources that use it, at most [`limits::DETAIL_LIST`].
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub in_use_by: Vec<String>,
    /// When it was issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    /// Issuer distinguished name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Key algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_algorithm: Option<String>,
    /// Key usages.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub key_usages: Vec<NamedUsage>,
    /// End of validity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Start of validity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// `ELIGIBLE` or `INELIGIBLE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal_eligibility: Option<String>,
    /// Status of the managed renewal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal_summary: Option<RenewalSummary>,
    /// Serial number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Signature algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_algorithm: Option<String>,
    /// Status, such as `ISSUED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Subject distinguished name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Subject alternative names, at most [`limits::DETAIL_LIST`].
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub subject_alternative_names: Vec<String>,
    /// `AMAZON_ISSUED`, `IMPORTED` or `PRIVATE`.
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub certificate_type: Option<String>,
}

/// A key usage or extended key usage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamedUsage {
    /// Name, such as `DIGITAL_SIGNATURE`.
    pub name: String,
}

/// `RenewalSummary` of a certificate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RenewalSummary {
    /// Status of the renewal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal_status: Option<String>,
    /// Reason the renewal failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal_status_reason: Option<String>,
}

/// `Details.AwsSecretsManagerSecret`. It has no field for a secret value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretDetails {
    /// Rotation interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_rules: Option<RotationRules>,
    /// KMS key that encrypts the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Whether rotation is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_enabled: Option<bool>,
    /// Rotation function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_lambda_arn: Option<String>,
    /// Whether the secret is scheduled for deletion.
    pub deleted: bool,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `RotationRules` of a secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationRules {
    /// Days between rotations.
    pub automatically_after_days: i32,
}

/// `Compliance`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Compliance {
    /// `PASSED`, `FAILED` or `WARNING`.
    pub status: String,
    /// Reasons for a WARNING: the cause of the UNKNOWN.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub status_reasons: Vec<StatusReason>,
}

/// `Compliance.StatusReasons[]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusReason {
    /// Code of the reason.
    pub reason_code: String,
    /// The cause of the verdict.
    pub description: String,
}

/// Reason code of a WARNING: the evidence that the rule needs is missing.
pub const EVIDENCE_UNAVAILABLE: &str = "EVIDENCE_UNAVAILABLE";

/// `Workflow`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkflowStatus {
    /// `NEW`, `SUPPRESSED` or `RESOLVED`.
    pub status: String,
}

/// `FindingProviderFields`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FindingProviderFields {
    /// Severity.
    pub severity: Severity,
    /// Finding types.
    pub types: Vec<String>,
}

/// Options of the conversion.
#[derive(Clone, Debug, Default)]
pub struct AsffOptions {
    /// Security Hub Region that every finding is imported into, which the
    /// product ARN names. When `None`, each finding names its resource's
    /// Region. A finding without one, such as a whole account that could
    /// not be read, then names [`DEFAULT_REGION`].
    pub region: Option<String>,
}

/// ASFF findings as a JSON array, indented: the `Findings` member of a
/// `BatchImportFindings` request.
#[derive(Clone, Debug, Default)]
pub struct Asff {
    /// Options.
    pub options: AsffOptions,
}

impl Encoder for Asff {
    fn encode(&self, export: &Export<'_>, out: &mut dyn Write) -> Result<()> {
        let findings = findings(export, &self.options);
        serde_json::to_writer_pretty(&mut *out, &findings)?;
        writeln!(out)?;
        Ok(())
    }
}

/// Converts every finding of an export.
pub fn findings(export: &Export<'_>, options: &AsffOptions) -> Vec<AsffFinding> {
    export
        .findings
        .iter()
        .map(|finding| convert(finding, export.inventory, export.keyward_version, options))
        .collect()
}

/// Converts one finding.
pub fn convert(
    finding: &FindingRecord,
    inventory: &Inventory,
    keyward_version: &str,
    options: &AsffOptions,
) -> AsffFinding {
    let region = options
        .region
        .as_deref()
        .unwrap_or_else(|| region_or(finding, DEFAULT_REGION));
    let account = &finding.account_id;
    let checked_at = rfc3339_millis(finding.checked_at);
    let first_seen = rfc3339_millis(finding.first_seen.unwrap_or(finding.checked_at));
    let severity = severity(finding);
    let types = vec![FINDING_TYPE.to_owned()];
    AsffFinding {
        schema_version: SCHEMA_VERSION.to_owned(),
        id: finding_id(finding),
        product_arn: format!("arn:aws:securityhub:{region}:{account}:product/{account}/default"),
        product_name: "keyward".to_owned(),
        company_name: "keyward".to_owned(),
        generator_id: format!("keyward/{}", finding.rule_id),
        aws_account_id: account.clone(),
        types: types.clone(),
        created_at: first_seen.clone(),
        updated_at: checked_at.clone(),
        first_observed_at: first_seen,
        last_observed_at: checked_at,
        severity: severity.clone(),
        title: truncate_chars(&finding.title, limits::TITLE),
        description: truncate_chars(&description(finding), limits::DESCRIPTION),
        remediation: remediation(finding),
        product_fields: product_fields(finding, keyward_version),
        resources: vec![resource(finding, inventory)],
        compliance: compliance(finding),
        workflow: WorkflowStatus {
            status: Workflow::of(finding).as_str().to_owned(),
        },
        record_state: if is_resolved(finding) {
            "ARCHIVED"
        } else {
            "ACTIVE"
        }
        .to_owned(),
        finding_provider_fields: FindingProviderFields { severity, types },
    }
}

/// Returns the ASFF `Id` of a finding: `keyward/RULE_ID/HASH`, where the
/// hash covers the rule and the resource.
pub fn finding_id(finding: &FindingRecord) -> String {
    format!(
        "keyward/{}/{}",
        finding.rule_id,
        finding_hash(&finding.rule_id, &finding.resource_arn)
    )
}

/// Returns the severity: `INFORMATIONAL` for a pass, as Security Hub
/// labels its own passed controls, with the rule's severity in `Original`.
fn severity(finding: &FindingRecord) -> Severity {
    let label = if finding.verdict == "PASS" {
        "INFORMATIONAL"
    } else {
        finding.severity.as_str()
    };
    Severity {
        label: label.to_owned(),
        original: finding.severity.clone(),
    }
}

fn description(finding: &FindingRecord) -> String {
    match rule_of(finding) {
        Some(rule) if finding.verdict != "PASS" => {
            format!("{} {}", sentence(&finding.cause), rule.risk)
        }
        _ => sentence(&finding.cause),
    }
}

/// Capitalizes a cause and ends it with a period.
fn sentence(cause: &str) -> String {
    let mut characters = cause.chars();
    let mut text = match characters.next() {
        Some(first) => first.to_uppercase().collect::<String>() + characters.as_str(),
        None => return "No cause recorded.".to_owned(),
    };
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

fn remediation(finding: &FindingRecord) -> Remediation {
    let rule = rule_of(finding);
    let text = rule.map_or_else(
        || format!("See `keyward rules` for the rule {}.", finding.rule_id),
        |rule| rule.remediation.to_owned(),
    );
    let url = rule.and_then(|rule| reference_urls(rule).first().map(|url| (*url).to_owned()));
    Remediation {
        recommendation: Recommendation {
            text: truncate_chars(&text, limits::RECOMMENDATION_TEXT),
            url,
        },
    }
}

fn product_fields(finding: &FindingRecord, keyward_version: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        fields.insert(
            key.to_owned(),
            truncate_chars(value, limits::PRODUCT_FIELD_VALUE),
        );
    };
    put("ProviderName", "keyward");
    put("ProviderVersion", keyward_version);
    put("keyward/RuleId", &finding.rule_id);
    put("keyward/RunId", &finding.run_id);
    put("keyward/ScanId", &finding.scan_id);
    put("keyward/Verdict", &finding.verdict);
    put("keyward/Cause", &finding.cause);
    put("keyward/Evidence", &finding.evidence);
    if let Some(rule) = rule_of(finding) {
        put("keyward/RemediationCli", rule.remediation_cli);
    }
    if let Some(cost) = finding.monthly_cost_usd {
        put("keyward/MonthlyCostUsd", &format!("{cost:.2}"));
    }
    if let Some(exception) = &finding.suppressed_by {
        put("keyward/SuppressedBy", exception);
    }
    fields
}

fn compliance(finding: &FindingRecord) -> Compliance {
    let (status, status_reasons) = match finding.verdict.as_str() {
        "PASS" => ("PASSED", Vec::new()),
        "FAIL" => ("FAILED", Vec::new()),
        _ => (
            "WARNING",
            vec![StatusReason {
                reason_code: EVIDENCE_UNAVAILABLE.to_owned(),
                description: truncate_chars(&finding.cause, limits::DESCRIPTION),
            }],
        ),
    };
    Compliance {
        status: status.to_owned(),
        status_reasons,
    }
}

fn resource(finding: &FindingRecord, inventory: &Inventory) -> Resource {
    let region = (!finding.region.is_empty()).then(|| finding.region.clone());
    if !names_an_arn(finding) {
        let other = BTreeMap::from([
            ("AccountId".to_owned(), finding.account_id.clone()),
            ("Region".to_owned(), finding.region.clone()),
            ("Unread".to_owned(), finding.resource_arn.clone()),
        ]);
        return Resource {
            resource_type: "Other".to_owned(),
            id: finding.resource_arn.clone(),
            partition: "aws".to_owned(),
            region,
            tags: BTreeMap::new(),
            details: Some(ResourceDetails {
                other: Some(other),
                ..ResourceDetails::default()
            }),
        };
    }
    let record = inventory.get(&finding.resource_arn);
    Resource {
        resource_type: asff_type(&finding.resource_type, &finding.resource_arn).to_owned(),
        id: finding.resource_arn.clone(),
        partition: partition_of(&finding.resource_arn).to_owned(),
        region,
        tags: record.map(|record| tags(&record)).unwrap_or_default(),
        details: record.map(details),
    }
}

/// Returns the ASFF resource type of a `resource_type` column value. An
/// IAM principal's type follows from its ARN.
pub(crate) fn asff_type(resource_type: &str, arn: &str) -> &'static str {
    match resource_type {
        "KmsKey" => "AwsKmsKey",
        "Certificate" => "AwsCertificateManagerCertificate",
        "Secret" => "AwsSecretsManagerSecret",
        "IamPolicy" => "AwsIamPolicy",
        "IamPrincipal" if arn.contains(":user/") => "AwsIamUser",
        "IamPrincipal" if arn.contains(":role/") => "AwsIamRole",
        "IamPrincipal" if arn.contains(":group/") => "AwsIamGroup",
        _ => "Other",
    }
}

fn tags(record: &InventoryResource<'_>) -> BTreeMap<String, String> {
    record
        .tags()
        .iter()
        .take(limits::TAGS)
        .map(|tag| {
            (
                tag.key.clone(),
                truncate_chars(&tag.value, limits::TAG_VALUE),
            )
        })
        .collect()
}

/// Fills the resource details from the inventory record.
pub fn details(record: InventoryResource<'_>) -> ResourceDetails {
    match record {
        InventoryResource::Key(key) => ResourceDetails {
            aws_kms_key: Some(key_details(key)),
            ..ResourceDetails::default()
        },
        InventoryResource::Certificate(certificate) => ResourceDetails {
            aws_certificate_manager_certificate: Some(certificate_details(certificate)),
            ..ResourceDetails::default()
        },
        InventoryResource::Secret(secret) => ResourceDetails {
            aws_secrets_manager_secret: Some(secret_details(secret)),
            ..ResourceDetails::default()
        },
    }
}

fn key_details(key: &KeyRecord) -> KmsKeyDetails {
    KmsKeyDetails {
        aws_account_id: Some(key.account_id.clone()),
        creation_date: key.creation_date.map(|date| date.timestamp_millis() as f64),
        key_id: Some(key.key_id.clone()),
        key_manager: key.key_manager.clone(),
        key_state: key.key_state.clone(),
        origin: key.origin.clone(),
        description: key.description.clone(),
        key_rotation_status: key.rotation_enabled,
    }
}

fn certificate_details(certificate: &CertificateRecord) -> CertificateDetails {
    let time = |value: Option<chrono::DateTime<chrono::Utc>>| value.map(rfc3339_millis);
    let names = |values: &[String]| -> Vec<NamedUsage> {
        values
            .iter()
            .take(limits::DETAIL_LIST)
            .map(|name| NamedUsage { name: name.clone() })
            .collect()
    };
    let renewal_summary = (certificate.renewal_status.is_some()
        || certificate.renewal_failure_reason.is_some())
    .then(|| RenewalSummary {
        renewal_status: certificate.renewal_status.clone(),
        renewal_status_reason: certificate.renewal_failure_reason.clone(),
    });
    CertificateDetails {
        certificate_authority_arn: certificate.certificate_authority_arn.clone(),
        created_at: time(certificate.created_at),
        domain_name: certificate.domain_name.clone(),
        extended_key_usages: names(&certificate.extended_key_usages),
        failure_reason: certificate.failure_reason.clone(),
        imported_at: time(certificate.imported_at),
        in_use_by: first(&certificate.in_use_by),
        issued_at: time(certificate.issued_at),
        issuer: certificate.issuer.clone(),
        key_algorithm: certificate.key_algorithm.clone(),
        key_usages: names(&certificate.key_usages),
        not_after: time(certificate.not_after),
        not_before: time(certificate.not_before),
        renewal_eligibility: certificate.renewal_eligibility.clone(),
        renewal_summary,
        serial: certificate.serial.clone(),
        signature_algorithm: certificate.signature_algorithm.clone(),
        status: certificate.status.clone(),
        subject: certificate.subject.clone(),
        subject_alternative_names: first(&certificate.subject_alternative_names),
        certificate_type: certificate.certificate_type.clone(),
    }
}

fn first(values: &[String]) -> Vec<String> {
    values.iter().take(limits::DETAIL_LIST).cloned().collect()
}

fn secret_details(secret: &SecretRecord) -> SecretDetails {
    SecretDetails {
        rotation_rules: secret
            .rotation_interval_days
            .and_then(|days| i32::try_from(days).ok())
            .map(|days| RotationRules {
                automatically_after_days: days,
            }),
        kms_key_id: secret.kms_key_id.clone(),
        rotation_enabled: secret.rotation_enabled,
        rotation_lambda_arn: secret.rotation_lambda_arn.clone(),
        deleted: secret.deleted_at.is_some(),
        name: secret.name.clone(),
        description: secret.description.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{
        CERTIFICATE_ARN, GAP, KEY_ARN, SECRET_ARN, coverage_gap, findings, inventory, new_failure,
        old_failure, resolved,
    };

    fn convert_one(finding: &FindingRecord) -> AsffFinding {
        convert(finding, &inventory(), "0.1.0", &AsffOptions::default())
    }

    #[test]
    fn iam_resource_types_follow_the_arn() {
        let cases = [
            (
                "IamPolicy",
                "arn:aws:iam::111122223333:policy/p",
                "AwsIamPolicy",
            ),
            (
                "IamPrincipal",
                "arn:aws:iam::111122223333:user/alice",
                "AwsIamUser",
            ),
            (
                "IamPrincipal",
                "arn:aws:iam::111122223333:role/app",
                "AwsIamRole",
            ),
            (
                "IamPrincipal",
                "arn:aws:iam::111122223333:group/ops",
                "AwsIamGroup",
            ),
            ("IamPrincipal", "arn:aws:iam::111122223333:root", "Other"),
        ];
        for (resource_type, arn, expected) in cases {
            assert_eq!(asff_type(resource_type, arn), expected, "{arn}");
        }
    }

    /// Top-level attributes that `BatchImportFindings` requires.
    const REQUIRED: [&str; 11] = [
        "AwsAccountId",
        "CreatedAt",
        "Description",
        "GeneratorId",
        "Id",
        "ProductArn",
        "Resources",
        "SchemaVersion",
        "Title",
        "Types",
        "UpdatedAt",
    ];

    #[test]
    fn every_finding_has_the_required_attributes() {
        for finding in findings() {
            let value = serde_json::to_value(convert_one(&finding)).unwrap();
            for name in REQUIRED {
                assert!(value.get(name).is_some(), "{name} missing");
            }
            assert!(value["Severity"]["Label"].is_string());
            let resource = &value["Resources"][0];
            assert!(resource["Type"].is_string());
            assert!(resource["Id"].is_string());
        }
    }

    #[test]
    fn failure_maps_to_failed_and_new() {
        let asff = convert_one(&new_failure());
        assert_eq!(asff.schema_version, "2018-10-08");
        assert_eq!(
            asff.product_arn,
            "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
        );
        assert_eq!(asff.generator_id, "keyward/kms-key-rotation");
        assert_eq!(asff.aws_account_id, "111122223333");
        assert_eq!(asff.types, [FINDING_TYPE]);
        assert_eq!(asff.created_at, "2026-05-28T20:26:40.000Z");
        assert_eq!(asff.severity.label, "MEDIUM");
        assert_eq!(asff.compliance.status, "FAILED");
        assert_eq!(asff.workflow.status, "NEW");
        assert_eq!(asff.record_state, "ACTIVE");
        assert!(
            asff.description
                .ends_with(keyward_rules::rule("kms-key-rotation").unwrap().risk)
        );
        assert!(asff.remediation.recommendation.url.is_some());
        assert_eq!(asff.product_fields["keyward/Verdict"], "FAIL");
    }

    #[test]
    fn key_details_come_from_the_inventory() {
        let asff = convert_one(&new_failure());
        let resource = &asff.resources[0];
        assert_eq!(resource.resource_type, "AwsKmsKey");
        assert_eq!(resource.id, KEY_ARN);
        assert_eq!(resource.partition, "aws");
        assert_eq!(resource.region.as_deref(), Some("eu-west-1"));
        assert_eq!(resource.tags["team"], "payments");
        let key = resource
            .details
            .as_ref()
            .unwrap()
            .aws_kms_key
            .as_ref()
            .unwrap();
        assert_eq!(key.key_rotation_status, Some(false));
        assert_eq!(key.creation_date, Some(1_700_000_000_000.0));
        let json = serde_json::to_value(&asff).unwrap();
        let details = &json["Resources"][0]["Details"]["AwsKmsKey"];
        assert_eq!(details["AWSAccountId"], "111122223333");
        assert_eq!(details["KeyManager"], "CUSTOMER");
    }

    #[test]
    fn certificate_and_secret_details_use_asff_names() {
        let certificate = serde_json::to_value(convert_one(&resolved())).unwrap();
        let resource = &certificate["Resources"][0];
        assert_eq!(resource["Id"], CERTIFICATE_ARN);
        assert_eq!(resource["Type"], "AwsCertificateManagerCertificate");
        let details = &resource["Details"]["AwsCertificateManagerCertificate"];
        assert_eq!(details["DomainName"], "www.example.com");
        assert_eq!(details["Type"], "AMAZON_ISSUED");
        assert_eq!(details["NotAfter"], "2027-01-15T08:00:00.000Z");
        assert_eq!(details["KeyUsages"][0]["Name"], "DIGITAL_SIGNATURE");

        let secret = serde_json::to_value(convert_one(&old_failure())).unwrap();
        let resource = &secret["Resources"][0];
        assert_eq!(resource["Id"], SECRET_ARN);
        let details = &resource["Details"]["AwsSecretsManagerSecret"];
        assert_eq!(details["Name"], "db");
        assert_eq!(details["RotationEnabled"], false);
        assert_eq!(details["Deleted"], false);
    }

    #[test]
    fn resolved_pass_is_archived() {
        let asff = convert_one(&resolved());
        assert_eq!(asff.compliance.status, "PASSED");
        assert_eq!(asff.workflow.status, "RESOLVED");
        assert_eq!(asff.record_state, "ARCHIVED");
        assert_eq!(asff.severity.label, "INFORMATIONAL");
        assert_eq!(asff.severity.original, "MEDIUM");
    }

    #[test]
    fn unknown_is_a_warning_with_its_cause() {
        let gap = coverage_gap();
        let asff = convert_one(&gap);
        assert_eq!(asff.compliance.status, "WARNING");
        assert_eq!(asff.compliance.status_reasons.len(), 1);
        assert_eq!(asff.compliance.status_reasons[0].description, gap.cause);
        assert_eq!(asff.workflow.status, "NEW");
        let resource = &asff.resources[0];
        assert_eq!(resource.resource_type, "Other");
        assert_eq!(resource.id, GAP);
        assert_eq!(
            asff.product_arn,
            "arn:aws:securityhub:us-east-2:111122223333:product/111122223333/default"
        );
    }

    #[test]
    fn suppressed_failure_keeps_its_exception() {
        let asff = convert_one(&findings()[2]);
        assert_eq!(asff.workflow.status, "SUPPRESSED");
        assert_eq!(asff.compliance.status, "FAILED");
        assert!(asff.product_fields["keyward/SuppressedBy"].contains("SEC-12"));
    }

    #[test]
    fn id_is_stable_per_rule_and_resource() {
        let first = convert_one(&new_failure());
        let mut later = new_failure();
        later.run_id = "later".into();
        later.checked_at = crate::tests::time(1_790_000_000);
        assert_eq!(first.id, convert_one(&later).id);
        assert_ne!(first.id, convert_one(&findings()[2]).id);
        assert!(first.id.starts_with("keyward/kms-key-rotation/"));
    }

    #[test]
    fn region_option_sets_the_product_arn() {
        let options = AsffOptions {
            region: Some("us-west-2".into()),
        };
        let asff = convert(&new_failure(), &inventory(), "0.1.0", &options);
        assert!(
            asff.product_arn
                .starts_with("arn:aws:securityhub:us-west-2:")
        );
        assert_eq!(asff.resources[0].region.as_deref(), Some("eu-west-1"));
        let account_wide = FindingRecord {
            region: String::new(),
            ..coverage_gap()
        };
        let default = convert_one(&account_wide);
        assert!(
            default
                .product_arn
                .starts_with("arn:aws:securityhub:us-east-1:")
        );
        assert_eq!(default.resources[0].region, None);
    }

    #[test]
    fn long_text_is_cut_to_the_limits() {
        let finding = FindingRecord {
            title: "t".repeat(300),
            cause: "é".repeat(2000),
            evidence: format!("\"{}\"", "x".repeat(5000)),
            ..new_failure()
        };
        let asff = convert_one(&finding);
        assert_eq!(asff.title.chars().count(), limits::TITLE);
        assert_eq!(asff.description.chars().count(), limits::DESCRIPTION);
        assert!(asff.description.ends_with('…'));
        assert_eq!(
            asff.product_fields["keyward/Evidence"].chars().count(),
            limits::PRODUCT_FIELD_VALUE
        );
    }

    #[test]
    fn key_details_match_security_hub_findings() {
        let published: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/asff/pci-kms.1.json")).unwrap();
        let published = &published["Resources"][0]["Details"]["AwsKmsKey"];
        let ours = serde_json::to_value(convert_one(&new_failure())).unwrap();
        let ours = &ours["Resources"][0]["Details"]["AwsKmsKey"];
        for key in ours.as_object().unwrap().keys() {
            let known =
                published.get(key).is_some() || key == "Description" || key == "KeyRotationStatus";
            assert!(known, "AwsKmsKey.{key} is not in the published finding");
        }
        // Both write the creation time in milliseconds since 1970.
        let published_date = published["CreationDate"].as_f64().unwrap();
        let our_date = ours["CreationDate"].as_f64().unwrap();
        assert!(published_date > 1e12, "{published_date}");
        assert!(our_date > 1e12, "{our_date}");
    }

    #[test]
    fn matches_the_shape_of_published_findings() {
        let published: serde_json::Value = serde_json::from_str(include_str!(
            "../tests/fixtures/asff/sample-control-findings.1.json"
        ))
        .unwrap();
        let ours = serde_json::to_value(convert_one(&new_failure())).unwrap();
        for (name, value) in published.as_object().unwrap() {
            let Some(mine) = ours.get(name) else {
                continue;
            };
            assert_eq!(
                std::mem::discriminant(mine),
                std::mem::discriminant(value),
                "{name} has another JSON type than in the published finding"
            );
        }
        for name in ["Severity", "Remediation", "Compliance", "Workflow"] {
            let keys = |value: &serde_json::Value| -> Vec<String> {
                value[name].as_object().unwrap().keys().cloned().collect()
            };
            for key in keys(&ours) {
                let known = keys(&published).contains(&key) || key == "StatusReasons";
                assert!(known, "{name}.{key} is not in the published finding");
            }
        }
    }
}
