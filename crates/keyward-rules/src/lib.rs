//! Rules that turn the inventory and the CloudTrail usage index into
//! findings.
//!
//! Each rule is a catalog entry ([`Rule`]) plus one function that judges
//! one resource: PASS, FAIL or UNKNOWN, always with a cause and the
//! evidence behind it. A service that the scan could not read gives
//! UNKNOWN for each of its rules in that account and Region: a failed API
//! call is never a verdict.

#![deny(missing_docs)]

mod acm;
pub mod config;
mod context;
pub mod decryption;
mod iam;
mod kms;
mod organization;
pub mod policy;
pub mod quantum;
mod secrets;

use serde::{Deserialize, Serialize};

pub use config::{CertificateSkips, Config, ConfigError};
pub use context::{AssetUsage, Context, TrailWindow};

/// Outcome of a rule for one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// The resource meets the rule.
    Pass,
    /// The resource breaks the rule.
    Fail,
    /// The evidence needed is missing: a call failed, or no source covers
    /// the period.
    Unknown,
}

impl Verdict {
    /// Name stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// Severity of a failing finding, in ascending order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// Worth knowing; no action needed.
    Informational,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical: act now.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Self; 5] = [
        Self::Informational,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    /// Name stored and printed, as ASFF and OCSF spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Informational => "INFORMATIONAL",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }

    /// Parses a name of [`Severity::as_str`], in any case.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|severity| severity.as_str().eq_ignore_ascii_case(text))
    }
}

/// Kind of resource that a rule judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResourceType {
    /// A KMS key.
    KmsKey,
    /// An ACM certificate.
    Certificate,
    /// A Secrets Manager secret.
    Secret,
    /// A customer managed IAM policy.
    IamPolicy,
    /// An IAM user, role or group, judged by its inline policies.
    IamPrincipal,
}

impl ResourceType {
    /// Resource type name of the AWS Security Finding Format. An IAM
    /// principal is one of three types, so its name lists them.
    pub fn asff_name(self) -> &'static str {
        match self {
            Self::KmsKey => "AwsKmsKey",
            Self::Certificate => "AwsCertificateManagerCertificate",
            Self::Secret => "AwsSecretsManagerSecret",
            Self::IamPolicy => "AwsIamPolicy",
            Self::IamPrincipal => "AwsIamUser|AwsIamRole|AwsIamGroup",
        }
    }

    /// Reports whether the resources are global, in no Region.
    pub fn is_global(self) -> bool {
        matches!(self, Self::IamPolicy | Self::IamPrincipal)
    }

    /// Service of the coverage rows that decide whether the resources of
    /// this type could be read.
    pub fn service(self) -> &'static str {
        match self {
            Self::KmsKey => "kms",
            Self::Certificate => "acm",
            Self::Secret => "secretsmanager",
            Self::IamPolicy | Self::IamPrincipal => "iam",
        }
    }
}

/// A threshold that the configuration can change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold {
    /// Name in the configuration file.
    pub name: &'static str,
    /// Default value, in days.
    pub default: u32,
    /// Lowest value allowed.
    pub min: u32,
    /// Highest value allowed.
    pub max: u32,
}

/// A rule of the catalog.
pub struct Rule {
    /// Stable identifier, such as `kms-key-rotation`.
    pub id: &'static str,
    /// One line that states what a passing resource is like.
    pub title: &'static str,
    /// Severity of a failure.
    pub severity: Severity,
    /// Kind of resource judged.
    pub resource_type: ResourceType,
    /// Consequence of a failure.
    pub risk: &'static str,
    /// How to fix a failure in the console.
    pub remediation: &'static str,
    /// How to fix a failure with the AWS CLI.
    pub remediation_cli: &'static str,
    /// Documentation and the peer checks that the rule covers.
    pub references: &'static [&'static str],
    /// The threshold that the rule reads, if any.
    pub threshold: Option<Threshold>,
    /// Judges one resource, or returns `None` when the rule does not apply
    /// to it.
    pub evaluate: fn(&Context, &Resource<'_>, u32) -> Option<Evaluation>,
}

/// A resource of the inventory, as rules see it.
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    /// A KMS key.
    Key(&'a keyward_store::inventory::KeyRecord),
    /// An ACM certificate.
    Certificate(&'a keyward_store::inventory::CertificateRecord),
    /// A Secrets Manager secret.
    Secret(&'a keyward_store::inventory::SecretRecord),
    /// A customer managed IAM policy.
    IamPolicy(&'a keyward_store::inventory::IamPolicyRecord),
    /// An IAM user, role or group with inline policies, through the first
    /// of them; the rules read the others from the context.
    IamPrincipal(&'a keyward_store::inventory::IamPolicyRecord),
}

impl Resource<'_> {
    /// ARN of the resource.
    pub fn arn(&self) -> &str {
        match self {
            Self::Key(key) => &key.arn,
            Self::Certificate(certificate) => &certificate.arn,
            Self::Secret(secret) => &secret.arn,
            Self::IamPolicy(policy) => policy.arn.as_deref().unwrap_or_default(),
            Self::IamPrincipal(policy) => policy.principal_arn.as_deref().unwrap_or_default(),
        }
    }

    /// Account and Region of the resource. IAM resources are global, and
    /// their Region is empty.
    pub fn place(&self) -> (&str, &str) {
        match self {
            Self::Key(key) => (&key.account_id, &key.region),
            Self::Certificate(c) => (&c.account_id, &c.region),
            Self::Secret(s) => (&s.account_id, &s.region),
            Self::IamPolicy(p) | Self::IamPrincipal(p) => (&p.account_id, ""),
        }
    }

    /// Kind of the resource.
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Self::Key(_) => ResourceType::KmsKey,
            Self::Certificate(_) => ResourceType::Certificate,
            Self::Secret(_) => ResourceType::Secret,
            Self::IamPolicy(_) => ResourceType::IamPolicy,
            Self::IamPrincipal(_) => ResourceType::IamPrincipal,
        }
    }

    /// Tags of the resource. A customer managed policy has none in the
    /// inventory, and an IAM principal has those of its user or role.
    pub fn tags(&self) -> &[keyward_store::inventory::Tag] {
        match self {
            Self::Key(key) => &key.tags,
            Self::Certificate(c) => &c.tags,
            Self::Secret(s) => &s.tags,
            Self::IamPolicy(p) | Self::IamPrincipal(p) => &p.tags,
        }
    }

    /// Name for exceptions and messages: alias, domain, secret name, policy
    /// name, or user, role or group name.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Key(key) => key.aliases.first().map(String::as_str),
            Self::Certificate(c) => c.domain_name.as_deref(),
            Self::Secret(s) => Some(&s.name),
            Self::IamPolicy(p) => Some(&p.policy_name),
            Self::IamPrincipal(p) => p.principal_name.as_deref(),
        }
    }
}

/// A rule's judgement of one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Verdict.
    pub verdict: Verdict,
    /// One sentence that gives the reason, with the numbers that decided.
    pub cause: String,
    /// The facts behind the verdict, as JSON, with their sources.
    pub evidence: serde_json::Value,
    /// Monthly cost that removing the resource would save, in USD, for
    /// rules that find unused resources.
    pub monthly_cost_usd: Option<f64>,
}

impl Evaluation {
    /// Creates a passing evaluation.
    pub fn pass(cause: impl Into<String>, evidence: serde_json::Value) -> Self {
        Self::new(Verdict::Pass, cause, evidence)
    }

    /// Creates a failing evaluation.
    pub fn fail(cause: impl Into<String>, evidence: serde_json::Value) -> Self {
        Self::new(Verdict::Fail, cause, evidence)
    }

    /// Creates an evaluation without enough evidence.
    pub fn unknown(cause: impl Into<String>, evidence: serde_json::Value) -> Self {
        Self::new(Verdict::Unknown, cause, evidence)
    }

    fn new(verdict: Verdict, cause: impl Into<String>, evidence: serde_json::Value) -> Self {
        Self {
            verdict,
            cause: cause.into(),
            evidence,
            monthly_cost_usd: None,
        }
    }
}

/// A policy document and the verdict that a rule must give it, for the
/// catalog test.
#[derive(Clone, Copy, Debug)]
pub struct Example {
    /// Rule id.
    pub rule_id: &'static str,
    /// Shape of the document, in a few words.
    pub shape: &'static str,
    /// Policy document, JSON.
    pub document: &'static str,
    /// Verdict that the rule must give.
    pub verdict: Verdict,
}

/// One rule's verdict on one resource in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Rule id.
    pub rule_id: String,
    /// Rule title.
    pub title: String,
    /// Severity, after configuration overrides.
    pub severity: Severity,
    /// Verdict.
    pub verdict: Verdict,
    /// Kind of resource.
    pub resource_type: ResourceType,
    /// ARN of the resource, or `account/Region/service` for an UNKNOWN
    /// that covers a service that could not be read.
    pub resource_arn: String,
    /// Account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Reason for the verdict.
    pub cause: String,
    /// Facts behind the verdict, as JSON text.
    pub evidence: String,
    /// Monthly cost that removing the resource would save, in USD.
    pub monthly_cost_usd: Option<f64>,
    /// Exception that suppresses the finding, if any.
    pub suppressed_by: Option<String>,
}

/// Returns every rule, in catalog order.
pub fn catalog() -> Vec<&'static Rule> {
    let mut rules: Vec<&'static Rule> = Vec::new();
    rules.extend(kms::RULES.iter());
    rules.extend(acm::RULES.iter());
    rules.extend(secrets::RULES.iter());
    rules.extend(iam::RULES.iter());
    rules.extend(quantum::RULES.iter());
    rules
}

/// Returns the examples that the catalog test runs.
pub fn examples() -> &'static [Example] {
    &iam::EXAMPLES
}

/// Finds a rule by id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    catalog().into_iter().find(|rule| rule.id == id)
}

/// Runs every enabled rule on every resource of the context.
pub fn evaluate(context: &Context) -> Vec<Finding> {
    catalog()
        .into_iter()
        .flat_map(|rule| evaluate_rule(context, rule))
        .collect()
}

/// Runs one rule, unless the configuration turns it off, on every resource
/// of its type in the context. Each service that could not be read gives
/// one UNKNOWN finding.
pub fn evaluate_rule(context: &Context, rule: &Rule) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(settings) = context.config.rule_settings(rule) else {
        return findings;
    };
    let ou_paths = context.ou_paths();
    let severity = settings.severity;
    let threshold = settings.threshold;
    let resources = context.resources(rule.resource_type);
    for resource in &resources {
        let Some(evaluation) = (rule.evaluate)(context, resource, threshold) else {
            continue;
        };
        let (account, region) = resource.place();
        findings.push(Finding {
            rule_id: rule.id.to_owned(),
            title: rule.title.to_owned(),
            severity,
            verdict: evaluation.verdict,
            resource_type: rule.resource_type,
            resource_arn: resource.arn().to_owned(),
            account_id: account.to_owned(),
            region: region.to_owned(),
            cause: evaluation.cause,
            evidence: evaluation.evidence.to_string(),
            monthly_cost_usd: evaluation.monthly_cost_usd,
            suppressed_by: context.config.exception_for(
                rule,
                resource,
                ou_paths.get(account).copied(),
                context.now,
            ),
        });
    }
    for gap in context.unread_services(rule.resource_type) {
        findings.push(Finding {
            rule_id: rule.id.to_owned(),
            title: rule.title.to_owned(),
            severity,
            verdict: Verdict::Unknown,
            resource_type: rule.resource_type,
            resource_arn: format!("{}/{}/{}", gap.account_id, gap.region, gap.service),
            account_id: gap.account_id.clone(),
            region: gap.region.clone(),
            cause: format!(
                "the scan could not read {} in this account{}: {}",
                gap.service,
                if gap.region.is_empty() {
                    ""
                } else {
                    " and Region"
                },
                gap.error_message.as_deref().unwrap_or(gap.status.as_str())
            ),
            evidence: serde_json::json!({
                "source": "scan coverage",
                "status": gap.status.as_str(),
                "operation": gap.operation,
                "error_code": gap.error_code,
            })
            .to_string(),
            monthly_cost_usd: None,
            suppressed_by: None,
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_kebab_case() {
        let mut ids = std::collections::BTreeSet::new();
        for rule in catalog() {
            assert!(ids.insert(rule.id), "duplicate id {}", rule.id);
            assert!(
                rule.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                rule.id
            );
            assert!(!rule.references.is_empty(), "{} has no reference", rule.id);
            assert!(
                !rule.remediation_cli.is_empty(),
                "{} has no CLI fix",
                rule.id
            );
        }
    }

    #[test]
    fn severities_parse_in_any_case() {
        assert_eq!(Severity::parse("high"), Some(Severity::High));
        assert_eq!(Severity::parse("CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::parse("severe"), None);
        assert!(Severity::Critical > Severity::High);
    }
}
