//! The quantum readiness dashboard: the KMS keys, ACM certificates and
//! Private CAs of the latest scan, each classed by the algorithm of its key
//! with the functions of `keyward_rules::quantum`.
//!
//! Keys pending deletion and certificates that the readiness rules skip
//! (expired, revoked, failed) are left out, so the counts per account
//! match the summary of `keyward check`. Private CAs that are deleted,
//! expired or failed are left out for the same reason.

use std::collections::BTreeMap;

use keyward_rules::quantum::{
    Algorithm, QuantumClass, certificate_in_scope, certificate_key_algorithm, key_in_scope,
    kms_algorithm,
};
use serde_json::{Value, json};

use crate::data::{Data, Page, Row};
use crate::error::{Result, ServeError};
use crate::filters::{Filters, Order, Paging};

/// Class of an asset whose algorithm was not read or is not known to
/// keyward.
const UNKNOWN_CLASS: &str = "unknown";

/// Classes in the order that the page lists them, the most urgent first.
pub const CLASSES: [&str; 4] = [
    QuantumClass::Vulnerable.as_str(),
    QuantumClass::Weakened.as_str(),
    QuantumClass::Safe.as_str(),
    UNKNOWN_CLASS,
];

/// Columns of the list of quantum-vulnerable and weakened assets.
pub const AT_RISK_COLUMNS: [&str; 6] =
    ["arn", "service", "account", "region", "algorithm", "class"];

/// Private CA statuses whose CA signs nothing any more.
const RETIRED_AUTHORITY_STATUSES: [&str; 3] = ["DELETED", "EXPIRED", "FAILED"];

/// Service of an asset, as the page labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Kms,
    Acm,
    PrivateCa,
}

impl Service {
    fn label(self) -> &'static str {
        match self {
            Self::Kms => "KMS keys",
            Self::Acm => "ACM certificates",
            Self::PrivateCa => "Private CAs",
        }
    }
}

/// A key or certificate with the algorithm of its key.
#[derive(Debug)]
struct Asset {
    service: Service,
    arn: String,
    account: String,
    region: String,
    /// Key spec or key algorithm as AWS returned it, if it was read.
    aws_name: Option<String>,
    /// Algorithm, when keyward recognizes the AWS name.
    algorithm: Option<Algorithm>,
}

impl Asset {
    fn class(&self) -> &'static str {
        self.algorithm
            .map_or(UNKNOWN_CLASS, |algorithm| algorithm.class.as_str())
    }

    /// Returns the algorithm's name, or the AWS name that keyward does not
    /// recognize, or `(not read)`.
    fn algorithm_name(&self) -> String {
        match (&self.algorithm, &self.aws_name) {
            (Some(algorithm), _) => algorithm.name.to_owned(),
            (None, Some(name)) => name.clone(),
            (None, None) => "(not read)".to_owned(),
        }
    }
}

/// Builds the quantum readiness dashboard for the filters' accounts and
/// Regions. The time window does not apply, because the inventory is the
/// latest scan's.
pub async fn quantum(data: &Data, filters: &Filters) -> Result<Value> {
    Ok(summarize(load_assets(data, filters).await?))
}

/// Returns one page of the quantum-vulnerable and weakened assets, sorted
/// by a column of [`AT_RISK_COLUMNS`], or else by class, account, Region
/// and ARN.
pub async fn at_risk_page(data: &Data, filters: &Filters, paging: &Paging) -> Result<Page> {
    let mut assets = load_assets(data, filters).await?;
    assets.sort_by(|a, b| urgency(a).cmp(&urgency(b)));
    let mut rows = at_risk_rows(&assets);
    if let Some(sort) = &paging.sort {
        if !AT_RISK_COLUMNS.contains(&sort.as_str()) {
            return Err(ServeError::invalid(format!(
                "invalid sort column {sort:?}: use one of {}",
                AT_RISK_COLUMNS.join(", ")
            )));
        }
        // The sort is stable, so equal values keep the order of urgency.
        let cell = |row: &Row| {
            row.get(sort)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        rows.sort_by(|a, b| {
            let ordering = cell(a).cmp(&cell(b));
            match paging.order {
                Order::Ascending => ordering,
                Order::Descending => ordering.reverse(),
            }
        });
    }

    let total = rows.len() as u64;
    let rows = rows
        .into_iter()
        .skip(paging.offset())
        .take(paging.page_size)
        .collect();
    Ok(Page {
        columns: AT_RISK_COLUMNS.map(str::to_owned).to_vec(),
        rows,
        total,
        page: paging.page,
        page_size: paging.page_size,
        sort: paging.sort.clone(),
        order: paging.order.as_str(),
    })
}

/// Reads the keys, certificates and Private CAs of the latest scan in the
/// filters' accounts and Regions, and classes each.
async fn load_assets(data: &Data, filters: &Filters) -> Result<Vec<Asset>> {
    let place = filters.place_condition("account_id", "region");
    let (keys, certificates, authorities) = tokio::try_join!(
        data.rows(format!(
            "SELECT arn, account_id, region, key_spec, key_usage, key_state
             FROM keys WHERE {place}"
        )),
        data.rows(format!(
            "SELECT arn, account_id, region, key_algorithm, status
             FROM certificates WHERE {place}"
        )),
        data.rows(format!(
            "SELECT arn, account_id, region, key_algorithm, status
             FROM certificate_authorities WHERE {place}"
        )),
    )?;
    let mut assets = Vec::new();
    assets.extend(keys.iter().filter_map(key_asset));
    assets.extend(certificates.iter().filter_map(certificate_asset));
    assets.extend(authorities.iter().filter_map(authority_asset));
    Ok(assets)
}

fn text(row: &Row, column: &str) -> Option<String> {
    row.get(column).and_then(Value::as_str).map(str::to_owned)
}

fn asset(row: &Row, service: Service, aws_name: Option<String>) -> Asset {
    Asset {
        service,
        arn: text(row, "arn").unwrap_or_default(),
        account: text(row, "account_id").unwrap_or_default(),
        region: text(row, "region").unwrap_or_default(),
        aws_name,
        algorithm: None,
    }
}

fn key_asset(row: &Row) -> Option<Asset> {
    if !key_in_scope(text(row, "key_state").as_deref()) {
        return None;
    }
    let spec = text(row, "key_spec");
    let usage = text(row, "key_usage");
    let mut key = asset(row, Service::Kms, spec.clone());
    key.algorithm = spec
        .as_deref()
        .and_then(|spec| kms_algorithm(spec, usage.as_deref()));
    Some(key)
}

fn certificate_asset(row: &Row) -> Option<Asset> {
    if !certificate_in_scope(text(row, "status").as_deref()) {
        return None;
    }
    Some(certificate_like(row, Service::Acm))
}

fn authority_asset(row: &Row) -> Option<Asset> {
    let status = text(row, "status");
    if RETIRED_AUTHORITY_STATUSES.contains(&status.as_deref().unwrap_or_default()) {
        return None;
    }
    Some(certificate_like(row, Service::PrivateCa))
}

fn certificate_like(row: &Row, service: Service) -> Asset {
    let name = text(row, "key_algorithm");
    let mut certificate = asset(row, service, name.clone());
    certificate.algorithm = name.as_deref().and_then(certificate_key_algorithm);
    certificate
}

/// Counts and properties of one algorithm in the algorithm table.
#[derive(Default)]
struct AlgorithmCounts {
    primitive: Option<&'static str>,
    nist_quantum_level: Option<u8>,
    class: &'static str,
    keys: u64,
    certificates: u64,
}

/// Counts the assets by class, service, account and algorithm.
fn summarize(assets: Vec<Asset>) -> Value {
    json!({
        "window": "latest scan",
        "totals": class_totals(&assets),
        "services": counts_by(&assets, "service", |asset| asset.service.label()),
        "accounts": counts_by(&assets, "account", |asset| asset.account.as_str()),
        "algorithms": algorithm_rows(&assets),
    })
}

/// Returns the position of a class in [`CLASSES`], or that of `unknown`
/// for a name outside it, so that the position is always a valid index.
fn class_rank(class: &str) -> usize {
    CLASSES
        .iter()
        .position(|known| *known == class)
        .unwrap_or(CLASSES.len() - 1)
}

/// Sort key of an asset: the most urgent class first, then account,
/// Region and ARN.
fn urgency(asset: &Asset) -> (usize, &str, &str, &str) {
    (
        class_rank(asset.class()),
        &asset.account,
        &asset.region,
        &asset.arn,
    )
}

/// Counts the assets of each class, with zeros for absent classes.
fn class_totals(assets: &[Asset]) -> Vec<Value> {
    CLASSES
        .iter()
        .map(|class| {
            let count = assets
                .iter()
                .filter(|asset| asset.class() == *class)
                .count();
            json!({ "class": class, "assets": count })
        })
        .collect()
}

/// Counts the assets per value of `column` and class. Rows are ordered by
/// the value, then from the most urgent class.
fn counts_by<'a>(
    assets: &'a [Asset],
    column: &str,
    value: impl Fn(&'a Asset) -> &'a str,
) -> Vec<Value> {
    let mut counts: BTreeMap<(&str, usize), u64> = BTreeMap::new();
    for asset in assets {
        *counts
            .entry((value(asset), class_rank(asset.class())))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((name, rank), count)| {
            let mut row = Row::new();
            row.insert(column.to_owned(), json!(name));
            row.insert("class".to_owned(), json!(CLASSES[rank]));
            row.insert("assets".to_owned(), json!(count));
            Value::Object(row)
        })
        .collect()
}

/// Counts the keys and certificates of each algorithm, the most urgent
/// class first. Names that keyward does not recognize are rows of their
/// own, with class `unknown`.
fn algorithm_rows(assets: &[Asset]) -> Vec<Value> {
    let mut algorithms: BTreeMap<String, AlgorithmCounts> = BTreeMap::new();
    for asset in assets {
        let counts = algorithms.entry(asset.algorithm_name()).or_default();
        counts.primitive = asset.algorithm.map(|algorithm| algorithm.primitive);
        counts.nist_quantum_level = asset
            .algorithm
            .map(|algorithm| algorithm.nist_quantum_level);
        counts.class = asset.class();
        match asset.service {
            Service::Kms => counts.keys += 1,
            Service::Acm | Service::PrivateCa => counts.certificates += 1,
        }
    }

    let mut algorithms: Vec<(String, AlgorithmCounts)> = algorithms.into_iter().collect();
    algorithms.sort_by_key(|(name, counts)| (class_rank(counts.class), name.clone()));
    algorithms
        .into_iter()
        .map(|(name, counts)| {
            json!({
                "algorithm": name,
                "primitive": counts.primitive,
                "nist_quantum_level": counts.nist_quantum_level,
                "class": counts.class,
                "keys": counts.keys,
                "certificates": counts.certificates,
            })
        })
        .collect()
}

/// Lists the quantum-vulnerable and weakened assets, in the order of
/// `assets`, with the columns of [`AT_RISK_COLUMNS`].
fn at_risk_rows(assets: &[Asset]) -> Vec<Row> {
    assets
        .iter()
        .filter(|asset| {
            asset.algorithm.is_some_and(|algorithm| {
                matches!(
                    algorithm.class,
                    QuantumClass::Vulnerable | QuantumClass::Weakened
                )
            })
        })
        .map(|asset| {
            let values = [
                asset.arn.clone(),
                asset.service.label().to_owned(),
                asset.account.clone(),
                asset.region.clone(),
                asset.algorithm_name(),
                asset.class().to_owned(),
            ];
            AT_RISK_COLUMNS
                .iter()
                .zip(values)
                .map(|(column, value)| ((*column).to_owned(), Value::String(value)))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Option<&str>)]) -> Row {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect()
    }

    fn key(arn: &str, account: &str, spec: Option<&str>, usage: &str, state: &str) -> Row {
        row(&[
            ("arn", Some(arn)),
            ("account_id", Some(account)),
            ("region", Some("us-east-1")),
            ("key_spec", spec),
            ("key_usage", Some(usage)),
            ("key_state", Some(state)),
        ])
    }

    fn certificate(arn: &str, account: &str, algorithm: &str, status: &str) -> Row {
        row(&[
            ("arn", Some(arn)),
            ("account_id", Some(account)),
            ("region", Some("eu-west-1")),
            ("key_algorithm", Some(algorithm)),
            ("status", Some(status)),
        ])
    }

    /// Classes a sample of keys, certificates and Private CAs, sorted as
    /// the list of assets at risk sorts them.
    fn sample_assets() -> Vec<Asset> {
        let keys = [
            key(
                "k-aes",
                "111",
                Some("SYMMETRIC_DEFAULT"),
                "ENCRYPT_DECRYPT",
                "Enabled",
            ),
            key("k-rsa", "111", Some("RSA_2048"), "SIGN_VERIFY", "Enabled"),
            key(
                "k-hmac",
                "222",
                Some("HMAC_224"),
                "GENERATE_VERIFY_MAC",
                "Enabled",
            ),
            key(
                "k-new",
                "222",
                Some("FUTURE_SPEC"),
                "ENCRYPT_DECRYPT",
                "Enabled",
            ),
            key(
                "k-gone",
                "222",
                Some("RSA_4096"),
                "ENCRYPT_DECRYPT",
                "PendingDeletion",
            ),
            key("k-unread", "222", None, "ENCRYPT_DECRYPT", "Enabled"),
        ];
        let certificates = [
            certificate("c-ec", "111", "EC_prime256v1", "ISSUED"),
            certificate("c-old", "111", "RSA_2048", "EXPIRED"),
        ];
        let authorities = [
            certificate("ca-pq", "222", "ML_DSA_65", "ACTIVE"),
            certificate("ca-gone", "222", "RSA_2048", "DELETED"),
        ];
        let mut assets: Vec<Asset> = keys.iter().filter_map(key_asset).collect();
        assets.extend(certificates.iter().filter_map(certificate_asset));
        assets.extend(authorities.iter().filter_map(authority_asset));
        assets.sort_by(|a, b| urgency(a).cmp(&urgency(b)));
        assets
    }

    fn sample() -> Value {
        summarize(sample_assets())
    }

    fn sample_at_risk() -> Vec<Row> {
        at_risk_rows(&sample_assets())
    }

    fn count(rows: &Value, filter: &[(&str, &str)]) -> u64 {
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|row| filter.iter().all(|(name, value)| row[*name] == *value))
            .map(|row| row["assets"].as_u64().unwrap())
            .sum()
    }

    #[test]
    fn totals_cover_every_class() {
        let summary = sample();
        let totals = &summary["totals"];
        assert_eq!(count(totals, &[("class", "quantum-vulnerable")]), 2);
        assert_eq!(count(totals, &[("class", "weakened")]), 1);
        assert_eq!(count(totals, &[("class", "quantum-safe")]), 2);
        assert_eq!(count(totals, &[("class", "unknown")]), 2);
        assert_eq!(totals.as_array().unwrap().len(), CLASSES.len());
    }

    #[test]
    fn retired_assets_left_out() {
        let at_risk = sample_at_risk();
        let listed: Vec<&str> = at_risk
            .iter()
            .map(|asset| asset["arn"].as_str().unwrap())
            .collect();
        for retired in ["k-gone", "c-old", "ca-gone"] {
            assert!(!listed.contains(&retired), "{retired} in {listed:?}");
        }
    }

    #[test]
    fn counts_per_service_and_account() {
        let summary = sample();
        let services = &summary["services"];
        let accounts = &summary["accounts"];
        assert_eq!(count(services, &[("service", "KMS keys")]), 5);
        assert_eq!(count(services, &[("service", "ACM certificates")]), 1);
        assert_eq!(
            count(
                services,
                &[("service", "Private CAs"), ("class", "quantum-safe")]
            ),
            1
        );
        assert_eq!(
            count(
                accounts,
                &[("account", "111"), ("class", "quantum-vulnerable")]
            ),
            2
        );
        assert_eq!(
            count(accounts, &[("account", "222"), ("class", "unknown")]),
            2
        );
    }

    #[test]
    fn algorithms_table_names_level_and_class() {
        let summary = sample();
        let algorithms = summary["algorithms"].as_array().unwrap();
        let find = |name: &str| {
            algorithms
                .iter()
                .find(|row| row["algorithm"] == name)
                .unwrap_or_else(|| panic!("{name} missing from {algorithms:?}"))
        };
        let aes = find("AES-256-GCM");
        assert_eq!(aes["primitive"], "ae");
        assert_eq!(aes["nist_quantum_level"], 5);
        assert_eq!(aes["class"], "quantum-safe");
        assert_eq!(aes["keys"], 1);
        let ml_dsa = find("ML-DSA-65");
        assert_eq!(ml_dsa["certificates"], 1);
        assert_eq!(ml_dsa["nist_quantum_level"], 3);
        let unknown = find("FUTURE_SPEC");
        assert_eq!(unknown["class"], "unknown");
        assert!(unknown["primitive"].is_null());
        assert_eq!(find("(not read)")["keys"], 1);
        assert_eq!(algorithms[0]["class"], "quantum-vulnerable");
    }

    #[test]
    fn at_risk_lists_vulnerable_then_weakened() {
        let at_risk = sample_at_risk();
        let listed: Vec<(&str, &str)> = at_risk
            .iter()
            .map(|asset| {
                (
                    asset["arn"].as_str().unwrap(),
                    asset["class"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("c-ec", "quantum-vulnerable"),
                ("k-rsa", "quantum-vulnerable"),
                ("k-hmac", "weakened"),
            ]
        );
        assert_eq!(at_risk[0]["algorithm"], "ECDSA-P256");
        assert_eq!(at_risk[0]["region"], "eu-west-1");
        assert_eq!(at_risk[1]["service"], "KMS keys");
    }
}
