//! The rules' configuration: thresholds, rules on or off, severity
//! overrides, prices, and exceptions that expire.
//!
//! `keyward.example.toml` at the root of the repository documents every
//! setting.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::{Resource, Rule, Severity};

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML of the expected shape.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A setting names something that does not exist or is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Prices used to estimate what removing unused resources saves.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Monthly price of a KMS key, in USD.
    #[serde(default = "default_key_price")]
    pub kms_key_month_usd: f64,
    /// Monthly price of a secret, in USD.
    #[serde(default = "default_secret_price")]
    pub secret_month_usd: f64,
}

fn default_key_price() -> f64 {
    1.0
}

fn default_secret_price() -> f64 {
    0.40
}

impl Default for Prices {
    fn default() -> Self {
        Self {
            kms_key_month_usd: default_key_price(),
            secret_month_usd: default_secret_price(),
        }
    }
}

/// Settings of one rule in the file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Whether the rule runs; default true.
    pub enabled: Option<bool>,
    /// Threshold in days, for rules that have one.
    pub threshold_days: Option<u32>,
    /// Severity that replaces the rule's own.
    pub severity: Option<String>,
    /// Whether certificates that no AWS resource uses are left out. Only the
    /// certificate expiry rules take it.
    pub skip_not_in_use: Option<bool>,
    /// Whether certificates that ACM cannot renew (imported, or not
    /// eligible for managed renewal) are left out. Only the certificate
    /// expiry rules take it.
    pub skip_not_eligible_for_renewal: Option<bool>,
}

/// Rules that take the certificate options of [`RuleFile`].
const CERTIFICATE_OPTION_RULES: [&str; 2] = ["acm-certificate-expiring", "acm-certificate-expired"];

/// Certificates that a certificate expiry rule leaves out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CertificateSkips {
    /// Certificates that no AWS resource uses.
    pub not_in_use: bool,
    /// Certificates that ACM cannot renew.
    pub not_eligible_for_renewal: bool,
}

/// An exception: findings that match are kept but marked suppressed.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// Rule id, or `*` for every rule.
    pub rule: String,
    /// ARN pattern, where `*` matches any text.
    pub arn: Option<String>,
    /// Name pattern: alias, domain or secret name.
    pub name: Option<String>,
    /// Tag that the resource must carry, as `key=value` or `key`.
    pub tag: Option<String>,
    /// Account id.
    pub account: Option<String>,
    /// Organizational unit id (`ou-…`) or root id (`r-…`): matches every
    /// account under it, at any depth.
    pub ou: Option<String>,
    /// Reason for the exception.
    pub reason: String,
    /// Last day on which the exception applies: a TOML date such as
    /// `2027-01-31`, or the same as a string.
    #[serde(deserialize_with = "date")]
    pub expires: NaiveDate,
}

fn date<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Date {
        Toml(toml::value::Datetime),
        Text(String),
    }
    let text = match Date::deserialize(deserializer)? {
        Date::Toml(datetime) => datetime.to_string(),
        Date::Text(text) => text,
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
        serde::de::Error::custom(format!("invalid date {text:?}: expected YYYY-MM-DD"))
    })
}

/// The configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Prices.
    #[serde(default)]
    pub prices: Prices,
    /// Settings per rule id.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleFile>,
    /// Exceptions.
    #[serde(default)]
    pub exceptions: Vec<Exception>,
}

/// A rule's settings after the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleSettings {
    /// Severity.
    pub severity: Severity,
    /// Threshold in days; zero for rules without one.
    pub threshold: u32,
}

/// The checked configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    file: ConfigFile,
}

impl Config {
    /// Parses and checks a configuration file's text against the catalog.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|error| ConfigError::Parse(error.to_string()))?;
        Self::from_file(file)
    }

    /// Checks a configuration built in code, such as from the parameters of
    /// an AWS Config rule, against the catalog, as [`Config::parse`] does.
    pub fn from_file(file: ConfigFile) -> Result<Self, ConfigError> {
        for (id, settings) in &file.rules {
            let Some(rule) = crate::rule(id) else {
                return Err(ConfigError::Invalid(format!(
                    "unknown rule {id:?} in [rules]; `keyward rules` lists them"
                )));
            };
            if let Some(days) = settings.threshold_days {
                let Some(threshold) = rule.threshold else {
                    return Err(ConfigError::Invalid(format!(
                        "rule {id} has no threshold, so threshold_days does not apply"
                    )));
                };
                if days < threshold.min || days > threshold.max {
                    return Err(ConfigError::Invalid(format!(
                        "threshold_days of rule {id} is {days}; it must be from {} to {}",
                        threshold.min, threshold.max
                    )));
                }
            }
            let has_certificate_options = settings.skip_not_in_use.is_some()
                || settings.skip_not_eligible_for_renewal.is_some();
            if has_certificate_options && !CERTIFICATE_OPTION_RULES.contains(&id.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "skip_not_in_use and skip_not_eligible_for_renewal apply only to {}, not to rule {id}",
                    CERTIFICATE_OPTION_RULES.join(" and ")
                )));
            }
            if let Some(severity) = &settings.severity
                && Severity::parse(severity).is_none()
            {
                return Err(ConfigError::Invalid(format!(
                    "severity {severity:?} of rule {id} is invalid; use informational, low, medium, high or critical"
                )));
            }
        }
        for exception in &file.exceptions {
            if exception.rule != "*" && crate::rule(&exception.rule).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "unknown rule {:?} in an exception; use a rule id or \"*\"",
                    exception.rule
                )));
            }
            let selects = exception.arn.is_some()
                || exception.name.is_some()
                || exception.tag.is_some()
                || exception.account.is_some()
                || exception.ou.is_some();
            if !selects {
                return Err(ConfigError::Invalid(format!(
                    "the exception for rule {} ({}) selects nothing; give arn, name, tag, account or ou",
                    exception.rule, exception.reason
                )));
            }
            if let Some(ou) = &exception.ou
                && !is_ou_or_root_id(ou)
            {
                return Err(ConfigError::Invalid(format!(
                    "invalid ou {ou:?} in the exception for rule {}: expected an OU id such as ou-ab12-11111111 or a root id such as r-ab12",
                    exception.rule
                )));
            }
        }
        Ok(Self { file })
    }

    /// Prices.
    pub fn prices(&self) -> &Prices {
        &self.file.prices
    }

    /// Settings of a rule, or `None` when the rule is off.
    pub fn rule_settings(&self, rule: &Rule) -> Option<RuleSettings> {
        let file = self.file.rules.get(rule.id);
        if file.and_then(|f| f.enabled) == Some(false) {
            return None;
        }
        let severity = file
            .and_then(|f| f.severity.as_deref())
            .and_then(Severity::parse)
            .unwrap_or(rule.severity);
        let threshold = file
            .and_then(|f| f.threshold_days)
            .or(rule.threshold.map(|t| t.default))
            .unwrap_or(0);
        Some(RuleSettings {
            severity,
            threshold,
        })
    }

    /// Certificates that a rule leaves out, by its settings.
    pub fn certificate_skips(&self, rule_id: &str) -> CertificateSkips {
        let file = self.file.rules.get(rule_id);
        CertificateSkips {
            not_in_use: file.and_then(|f| f.skip_not_in_use).unwrap_or(false),
            not_eligible_for_renewal: file
                .and_then(|f| f.skip_not_eligible_for_renewal)
                .unwrap_or(false),
        }
    }

    /// Exceptions whose expiry date is before `now`; they no longer apply.
    pub fn expired_exceptions(&self, now: DateTime<Utc>) -> Vec<&Exception> {
        self.file
            .exceptions
            .iter()
            .filter(|exception| exception.expires < now.date_naive())
            .collect()
    }

    /// Reports whether an exception selects by organizational unit.
    pub fn has_ou_exceptions(&self) -> bool {
        self.file.exceptions.iter().any(|e| e.ou.is_some())
    }

    /// Returns the reason of the first exception in force that matches the
    /// rule and resource. `ou_path` lists the root and OU ids above the
    /// resource's account, or is `None` when they are unknown, and then no
    /// exception by OU matches.
    pub fn exception_for(
        &self,
        rule: &Rule,
        resource: &Resource<'_>,
        ou_path: Option<&[String]>,
        now: DateTime<Utc>,
    ) -> Option<String> {
        self.file
            .exceptions
            .iter()
            .filter(|exception| exception.expires >= now.date_naive())
            .find(|exception| matches(exception, rule, resource, ou_path))
            .map(|exception| format!("{} (until {})", exception.reason, exception.expires))
    }
}

/// Reports whether `id` has the shape of an OU id (`ou-` and two groups of
/// lowercase letters or digits) or of a root id (`r-` and one group).
fn is_ou_or_root_id(id: &str) -> bool {
    let group = |text: &str| {
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = id.strip_prefix("ou-") {
        return rest
            .split_once('-')
            .is_some_and(|(root, unit)| group(root) && group(unit));
    }
    id.strip_prefix("r-").is_some_and(group)
}

fn matches(
    exception: &Exception,
    rule: &Rule,
    resource: &Resource<'_>,
    ou_path: Option<&[String]>,
) -> bool {
    if exception.rule != "*" && exception.rule != rule.id {
        return false;
    }
    if let Some(pattern) = &exception.arn
        && !glob(pattern, resource.arn())
    {
        return false;
    }
    if let Some(pattern) = &exception.name
        && !resource.name().is_some_and(|name| glob(pattern, name))
    {
        return false;
    }
    if let Some(account) = &exception.account
        && resource.place().0 != account
    {
        return false;
    }
    if let Some(ou) = &exception.ou
        && !ou_path.is_some_and(|path| path.contains(ou))
    {
        return false;
    }
    if let Some(tag) = &exception.tag {
        let (key, value) = match tag.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (tag.as_str(), None),
        };
        let tagged = resource
            .tags()
            .iter()
            .any(|t| t.key == key && value.is_none_or(|v| t.value == v));
        if !tagged {
            return false;
        }
    }
    true
}

/// Matches `text` against `pattern`, where `*` matches any run of
/// characters and everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_stars_anywhere() {
        assert!(glob(
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:us-east-1:111122223333:key/abc"
        ));
        assert!(!glob(
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:us-east-1:999999999999:key/abc"
        ));
        assert!(glob("alias/legacy-*", "alias/legacy-app"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "a-b-c"));
        assert!(!glob("a*b*c", "a-c-b"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
    }

    #[test]
    fn thresholds_out_of_range_rejected() {
        let error = Config::parse("[rules.kms-key-unused]\nthreshold_days = 366\n").unwrap_err();
        assert!(error.to_string().contains("from 1 to 365"), "{error}");
        let error = Config::parse("[rules.kms-key-unused]\nthreshold_days = 0\n").unwrap_err();
        assert!(error.to_string().contains("is 0"), "{error}");
        assert!(Config::parse("[rules.kms-key-unused]\nthreshold_days = 365\n").is_ok());
        assert!(Config::parse("[rules.kms-key-unused]\nthreshold_days = 1\n").is_ok());
    }

    #[test]
    fn unknown_rules_and_settings_rejected() {
        let error = Config::parse("[rules.no-such-rule]\nenabled = false\n").unwrap_err();
        assert!(error.to_string().contains("no-such-rule"), "{error}");
        let error = Config::parse("[rules.kms-key-unused]\nthreshhold_days = 3\n").unwrap_err();
        assert!(error.to_string().contains("threshhold_days"), "{error}");
        let error = Config::parse("[rules.kms-key-unused]\nseverity = \"severe\"\n").unwrap_err();
        assert!(error.to_string().contains("severe"), "{error}");
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../../../keyward.example.toml");
        let config = Config::parse(text).unwrap();
        assert_eq!(config.prices().secret_month_usd, 0.40);
        assert_eq!(config.file.exceptions.len(), 4);
    }

    #[test]
    fn ou_ids_are_checked() {
        for good in ["ou-ab12-11111111", "r-ab12"] {
            let text = format!(
                "[[exceptions]]\nrule = \"*\"\nou = \"{good}\"\nreason = \"r\"\nexpires = 2027-01-01\n"
            );
            assert!(Config::parse(&text).is_ok(), "{good}");
        }
        for bad in [
            "ou-ab12",
            "OU-AB12-1111",
            "111122223333",
            "r-",
            "o-a1b2c3d4e5",
        ] {
            let text = format!(
                "[[exceptions]]\nrule = \"*\"\nou = \"{bad}\"\nreason = \"r\"\nexpires = 2027-01-01\n"
            );
            let error = Config::parse(&text).unwrap_err();
            assert!(error.to_string().contains("invalid ou"), "{bad}: {error}");
        }
    }

    #[test]
    fn exception_needs_expiry_and_selector() {
        let missing_expiry = "[[exceptions]]\nrule = \"*\"\naccount = \"1\"\nreason = \"r\"\n";
        assert!(Config::parse(missing_expiry).is_err());
        let selects_nothing =
            "[[exceptions]]\nrule = \"*\"\nreason = \"r\"\nexpires = 2027-01-01\n";
        let error = Config::parse(selects_nothing).unwrap_err();
        assert!(error.to_string().contains("selects nothing"), "{error}");
    }
}
