//! The ground truth of a generated organization: for every asset, its last
//! use and the verdict each rule must reach with the default configuration.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Verdict of one rule on one asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Verdict {
    /// The asset complies.
    #[serde(rename = "PASS")]
    Pass,
    /// The asset does not comply.
    #[serde(rename = "FAIL")]
    Fail,
    /// The facts could not be read.
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

impl Verdict {
    /// Returns `Pass` when `ok`, else `Fail`.
    pub fn from_ok(ok: bool) -> Self {
        if ok { Self::Pass } else { Self::Fail }
    }

    /// Returns the verdict as findings write it: `PASS`, `FAIL` or
    /// `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// What the generator built one asset to be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectedAsset {
    /// ARN of the asset, or `ACCOUNT/REGION/SERVICE` for a service that the
    /// inventory could not read.
    pub arn: String,
    /// Security Hub resource type, as in the findings.
    pub resource_type: String,
    /// Account.
    pub account_id: String,
    /// Region; empty for IAM.
    pub region: String,
    /// Short name of the situation the asset was built to show, such as
    /// `pending-deletion-refused`.
    pub scenario: String,
    /// Latest successful use in CloudTrail, if any.
    #[serde(with = "chrono::serde::ts_seconds_option")]
    pub last_use: Option<DateTime<Utc>>,
    /// Verdict of each rule that applies, by rule id. Rules that do not
    /// apply to the asset are absent.
    pub verdicts: BTreeMap<String, Verdict>,
}

/// Counts of what the generator wrote, for comparison with the summary of
/// `keyward ingest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrailCounts {
    /// CloudTrail log files, digest and Insights files included.
    pub files: u64,
    /// Records written, duplicates included.
    pub records: u64,
    /// Distinct events of the cryptographic services.
    pub crypto_events: u64,
    /// Records that repeat an earlier delivery.
    pub duplicates: u64,
    /// Records of other services.
    pub other_events: u64,
    /// Digest and Insights files, which ingest skips.
    pub skipped_files: u64,
}

/// The ground truth file, `truth.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Seed of the generator.
    pub seed: u64,
    /// End of the generated period, and the time the rules judge at.
    pub now: DateTime<Utc>,
    /// Days of CloudTrail.
    pub days: u32,
    /// Organization id.
    pub organization_id: String,
    /// Account ids, management account first.
    pub accounts: Vec<String>,
    /// Regions.
    pub regions: Vec<String>,
    /// What the CloudTrail files contain.
    pub trail: TrailCounts,
    /// Every asset, with the verdicts the rules must reach.
    pub assets: Vec<ExpectedAsset>,
}

impl Truth {
    /// Returns the expected verdict of every rule on every asset, keyed by
    /// `(rule id, ARN)`.
    pub fn verdicts(&self) -> BTreeMap<(String, String), Verdict> {
        let mut verdicts = BTreeMap::new();
        for asset in &self.assets {
            for (rule, verdict) in &asset.verdicts {
                verdicts.insert((rule.clone(), asset.arn.clone()), *verdict);
            }
        }
        verdicts
    }
}

/// One difference between the findings and the ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Rule id.
    pub rule_id: String,
    /// ARN of the asset.
    pub arn: String,
    /// Verdict the truth expects; `None` when the rule should not judge
    /// the asset.
    pub expected: Option<Verdict>,
    /// Verdict found; `None` when the findings have none.
    pub found: Option<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let expected = self.expected.map_or("no finding", Verdict::as_str);
        let found = self.found.as_deref().unwrap_or("no finding");
        write!(
            f,
            "{} on {}: expected {expected}, found {found}",
            self.rule_id, self.arn
        )
    }
}

impl Truth {
    /// Compares findings, given as `(rule id, ARN, verdict)`, with the
    /// truth, and returns the number of agreeing verdicts and every
    /// difference.
    pub fn compare<'a>(
        &self,
        findings: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> (usize, Vec<Mismatch>) {
        let mut expected = self.verdicts();
        let mut agreeing = 0;
        let mut mismatches = Vec::new();
        for (rule, arn, verdict) in findings {
            let want = expected.remove(&(rule.to_owned(), arn.to_owned()));
            let agrees = want.is_some_and(|want| want.as_str() == verdict);
            if agrees {
                agreeing += 1;
            } else {
                mismatches.push(Mismatch {
                    rule_id: rule.to_owned(),
                    arn: arn.to_owned(),
                    expected: want,
                    found: Some(verdict.to_owned()),
                });
            }
        }
        for ((rule_id, arn), want) in expected {
            mismatches.push(Mismatch {
                rule_id,
                arn,
                expected: Some(want),
                found: None,
            });
        }
        (agreeing, mismatches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> Truth {
        Truth {
            assets: vec![ExpectedAsset {
                arn: "arn:aws:kms:us-east-1:111122223333:key/k".to_owned(),
                resource_type: "AwsKmsKey".to_owned(),
                account_id: "111122223333".to_owned(),
                region: "us-east-1".to_owned(),
                scenario: "healthy".to_owned(),
                last_use: None,
                verdicts: BTreeMap::from([
                    ("kms-key-rotation".to_owned(), Verdict::Pass),
                    ("kms-key-unused".to_owned(), Verdict::Fail),
                ]),
            }],
            ..Truth::default()
        }
    }

    #[test]
    fn compare_counts_agreement() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/k";
        let findings = [
            ("kms-key-rotation", arn, "PASS"),
            ("kms-key-unused", arn, "FAIL"),
        ];
        let (agreeing, mismatches) = truth().compare(findings);
        assert_eq!(agreeing, 2);
        assert!(mismatches.is_empty(), "{mismatches:?}");
    }

    #[test]
    fn compare_reports_each_difference() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/k";
        let findings = [
            ("kms-key-rotation", arn, "FAIL"),
            ("kms-key-multi-region", arn, "PASS"),
        ];
        let (agreeing, mismatches) = truth().compare(findings);
        assert_eq!(agreeing, 0);
        let text: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                format!("kms-key-rotation on {arn}: expected PASS, found FAIL"),
                format!("kms-key-multi-region on {arn}: expected no finding, found PASS"),
                format!("kms-key-unused on {arn}: expected FAIL, found no finding"),
            ]
        );
    }
}
