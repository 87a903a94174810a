//! Turns keyward's findings into AWS Config evaluations.
//!
//! PASS is COMPLIANT and FAIL is NON_COMPLIANT. An asset that the rule
//! does not judge, or that an exception covers, is NOT_APPLICABLE, and so
//! is UNKNOWN for lack of evidence (for example, `GetKeyLastUsage` has no
//! data for the whole window), with the cause in the annotation: AWS Config
//! does not accept INSUFFICIENT_DATA from a custom rule. UNKNOWN because a
//! call failed is an error, so that the invocation fails rather than
//! report a verdict.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keyward_rules::{Finding, ResourceType, Rule, Verdict};
use keyward_store::inventory::Snapshot;
use unicode_segmentation::UnicodeSegmentation;

/// Maximum length of an annotation that `PutEvaluations` accepts.
pub const ANNOTATION_MAX_CHARS: usize = 256;

/// Compliance type of an evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Compliance {
    /// The resource meets the rule.
    Compliant,
    /// The resource breaks the rule.
    NonCompliant,
    /// The rule does not judge the resource.
    NotApplicable,
}

impl Compliance {
    /// Name in the AWS Config API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compliant => "COMPLIANT",
            Self::NonCompliant => "NON_COMPLIANT",
            Self::NotApplicable => "NOT_APPLICABLE",
        }
    }
}

/// One evaluation for `PutEvaluations`.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// AWS Config's resource type.
    pub resource_type: String,
    /// AWS Config's resource id.
    pub resource_id: String,
    /// Compliance type.
    pub compliance: Compliance,
    /// Reason, at most [`ANNOTATION_MAX_CHARS`] characters.
    pub annotation: String,
    /// Time of the notification or configuration item that triggered the
    /// evaluation.
    pub ordering_time: DateTime<Utc>,
}

impl Evaluation {
    /// Creates an evaluation and cuts its annotation to the allowed length.
    pub fn new(
        resource_type: &str,
        resource_id: &str,
        compliance: Compliance,
        annotation: &str,
        ordering_time: DateTime<Utc>,
    ) -> Self {
        Self {
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
            compliance,
            annotation: cut_annotation(annotation),
            ordering_time,
        }
    }
}

/// An asset of the snapshot, with the id that AWS Config gives it.
struct Asset<'a> {
    config_id: &'a str,
    read_errors: &'a [String],
}

/// Builds one evaluation per asset of the rule's type in the snapshot.
/// `id_override` replaces the resource id of every asset, for a change
/// notification, which names its one resource with AWS Config's own id.
///
/// Returns an error that lists every finding whose verdict is UNKNOWN
/// because an API call failed, and every service that could not be read.
pub fn evaluations(
    rule: &Rule,
    snapshot: &Snapshot,
    findings: &[Finding],
    ordering_time: DateTime<Utc>,
    id_override: Option<&str>,
) -> Result<Vec<Evaluation>, Vec<String>> {
    let resource_type =
        crate::request::config_resource_type(rule.resource_type).ok_or_else(|| {
            vec![format!(
                "rule {} judges no AWS Config resource type",
                rule.id
            )]
        })?;
    let assets = assets(snapshot, rule.resource_type);
    let mut failures = Vec::new();
    let mut judged: BTreeMap<&str, &Finding> = BTreeMap::new();
    for finding in findings {
        match assets.get(finding.resource_arn.as_str()) {
            None => failures.push(format!("{}: {}", finding.resource_arn, finding.cause)),
            Some(asset) if finding.verdict == Verdict::Unknown && !asset.read_errors.is_empty() => {
                failures.push(format!(
                    "{}: {} ({})",
                    finding.resource_arn,
                    finding.cause,
                    asset.read_errors.join("; ")
                ));
            }
            Some(_) => {
                judged.insert(&finding.resource_arn, finding);
            }
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }

    let evaluations = assets
        .iter()
        .map(|(arn, asset)| {
            let id = id_override.unwrap_or(asset.config_id);
            let (compliance, annotation) = match judged.get(arn) {
                Some(finding) => verdict(finding),
                None => (
                    Compliance::NotApplicable,
                    format!("keyward rule {} does not apply to this resource", rule.id),
                ),
            };
            Evaluation::new(resource_type, id, compliance, &annotation, ordering_time)
        })
        .collect();
    Ok(evaluations)
}

/// Returns the compliance and annotation of a finding whose verdict does
/// not come from a failed call.
fn verdict(finding: &Finding) -> (Compliance, String) {
    if let Some(exception) = &finding.suppressed_by {
        return (
            Compliance::NotApplicable,
            format!(
                "exception: {exception}; {}: {}",
                finding.verdict.as_str(),
                finding.cause
            ),
        );
    }
    match finding.verdict {
        Verdict::Pass => (Compliance::Compliant, finding.cause.clone()),
        Verdict::Fail => (Compliance::NonCompliant, finding.cause.clone()),
        Verdict::Unknown => (
            Compliance::NotApplicable,
            format!("unknown: {}", finding.cause),
        ),
    }
}

/// Assets of a type by ARN, with AWS Config's id for each: the key id of a
/// KMS key, the ARN of a certificate or a secret.
fn assets(snapshot: &Snapshot, resource_type: ResourceType) -> BTreeMap<&str, Asset<'_>> {
    match resource_type {
        ResourceType::KmsKey => snapshot
            .keys
            .iter()
            .map(|key| {
                let asset = Asset {
                    config_id: &key.key_id,
                    read_errors: &key.read_errors,
                };
                (key.arn.as_str(), asset)
            })
            .collect(),
        ResourceType::Certificate => snapshot
            .certificates
            .iter()
            .map(|certificate| {
                let asset = Asset {
                    config_id: &certificate.arn,
                    read_errors: &certificate.read_errors,
                };
                (certificate.arn.as_str(), asset)
            })
            .collect(),
        ResourceType::Secret => snapshot
            .secrets
            .iter()
            .map(|secret| {
                let asset = Asset {
                    config_id: &secret.arn,
                    read_errors: &secret.read_errors,
                };
                (secret.arn.as_str(), asset)
            })
            .collect(),
        ResourceType::IamPolicy | ResourceType::IamPrincipal => BTreeMap::new(),
    }
}

/// Cuts an annotation to [`ANNOTATION_MAX_CHARS`], ending a cut one with
/// `…`. The cut falls between grapheme clusters, so no character, and no
/// letter with its combining marks, is split. Length counts UTF-16 code
/// units, which are never fewer than characters, so the limit holds
/// whichever of the two AWS counts.
pub fn cut_annotation(text: &str) -> String {
    let units = |text: &str| text.encode_utf16().count();
    if units(text) <= ANNOTATION_MAX_CHARS {
        return text.to_owned();
    }
    let ellipsis = '…';
    let budget = ANNOTATION_MAX_CHARS - ellipsis.len_utf16();
    let mut cut = String::new();
    let mut used = 0;
    for grapheme in text.graphemes(true) {
        let size = units(grapheme);
        if used + size > budget {
            break;
        }
        cut.push_str(grapheme);
        used += size;
    }
    cut.push(ellipsis);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_annotation_is_kept() {
        assert_eq!(
            cut_annotation("last used 2026-01-02"),
            "last used 2026-01-02"
        );
    }

    #[test]
    fn long_ascii_annotation_is_cut() {
        let cut = cut_annotation(&"a".repeat(300));
        assert_eq!(cut.chars().count(), ANNOTATION_MAX_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn annotation_of_exactly_the_limit_is_kept() {
        let text = "b".repeat(ANNOTATION_MAX_CHARS);
        assert_eq!(cut_annotation(&text), text);
    }

    #[test]
    fn cut_keeps_combining_marks_with_their_letter() {
        // "é" as "e" and a combining acute accent: two characters, one
        // grapheme.
        let text = format!("{}{}", "x".repeat(254), "e\u{301}".repeat(10));
        let cut = cut_annotation(&text);
        assert!(cut.encode_utf16().count() <= ANNOTATION_MAX_CHARS);
        let before_ellipsis = cut.trim_end_matches('…');
        assert!(!before_ellipsis.ends_with('e'), "{before_ellipsis:?}");
    }

    #[test]
    fn cut_counts_astral_characters_as_two_units() {
        let cut = cut_annotation(&"🔑".repeat(200));
        assert!(cut.encode_utf16().count() <= ANNOTATION_MAX_CHARS);
        assert_eq!(cut.chars().filter(|c| *c == '🔑').count(), 127);
    }
}
