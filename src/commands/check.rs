//! `keyward check`: judge the latest inventory and the CloudTrail usage
//! with the rules, store the findings and print a summary.
//!
//! Exit codes: 0 when no unsuppressed failure is at or above `--fail-on`,
//! 1 when one is, 2 on an error.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::{DateTime, SubsecRound, Utc};
use keyward_rules::{AssetUsage, Config, Context, Finding, Severity, TrailWindow, Verdict};
use keyward_store::Store;
use keyward_store::findings::{CheckRecord, FindingRecord};
use keyward_store::query::output::write_batches;
use keyward_store::query::{RecordBatch, open_session, run_sql};

use super::{Format, counted};

/// Arguments of `keyward check`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// Configuration file: thresholds, rules on or off, severities,
    /// prices and exceptions (see keyward.example.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Exit with code 1 when an unsuppressed failure has this severity or
    /// a higher one.
    #[arg(long, value_name = "SEVERITY", default_value = "low", value_parser = parse_severity)]
    fail_on: Severity,

    /// Judge this scan instead of the latest; `keyward inventory scans`
    /// lists them.
    #[arg(long, value_name = "SCAN_ID")]
    scan: Option<String>,

    /// Also print every failing and unknown finding.
    #[arg(long)]
    details: bool,

    /// Format of the finding list that --details prints.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| {
        format!("invalid severity {text:?}: use informational, low, medium, high or critical")
    })
}

/// Runs `keyward check`. Errors exit with code 2, so that code 1 always
/// means failing findings.
pub fn run(store_path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    match check(store_path, &args) {
        Ok(code) => Ok(code),
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn check(store_path: &Path, args: &Args) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            Config::parse(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Config::default(),
    };
    let store = Store::open(store_path).map_err(|_| {
        anyhow::anyhow!(
            "no store at {}; run `keyward scan` (and `keyward ingest`) first",
            store_path.display()
        )
    })?;
    let Some(snapshot) = store.snapshot(args.scan.as_deref())? else {
        match &args.scan {
            Some(id) => bail!("scan {id:?} not found; `keyward inventory scans` lists them"),
            None => bail!(
                "the store at {} contains no finished scan; run `keyward scan` first",
                store_path.display()
            ),
        }
    };
    let runtime = super::runtime()?;
    let (records, run_id) = evaluate_and_store(&store, snapshot, config, &runtime, Utc::now())?;
    print!("{}", summary_text(&records, &run_id));
    if args.details {
        let sql = "SELECT severity, rule_id, verdict, account_id, region, resource_arn, cause \
                   FROM findings WHERE verdict <> 'PASS' AND suppressed_by IS NULL \
                   ORDER BY CASE severity WHEN 'CRITICAL' THEN 0 WHEN 'HIGH' THEN 1 \
                   WHEN 'MEDIUM' THEN 2 WHEN 'LOW' THEN 3 ELSE 4 END, rule_id, resource_arn";
        let batches = runtime.block_on(async {
            let session = open_session(&store).await?;
            run_sql(&session, sql).await
        })?;
        let mut stdout = std::io::stdout().lock();
        write_batches(&batches, args.format.into(), &mut stdout)?;
    }
    let failing = records.iter().any(|record| {
        record.verdict == "FAIL"
            && record.suppressed_by.is_none()
            && Severity::parse(&record.severity).is_some_and(|s| s >= args.fail_on)
    });
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Judges the latest scan with the default configuration at `now`,
/// stores the findings and returns them with the summary, for
/// `keyward demo`.
pub fn check_and_summarize(
    store: &Store,
    runtime: &tokio::runtime::Runtime,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<FindingRecord>, String)> {
    let Some(snapshot) = store.snapshot(None)? else {
        bail!("the store contains no finished scan");
    };
    let (records, run_id) = evaluate_and_store(store, snapshot, Config::default(), runtime, now)?;
    let summary = summary_text(&records, &run_id);
    Ok((records, summary))
}

/// Evaluates every rule on a snapshot and the store's usage index, and
/// writes the findings with their workflow state.
fn evaluate_and_store(
    store: &Store,
    snapshot: keyward_store::inventory::Snapshot,
    config: Config,
    runtime: &tokio::runtime::Runtime,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<FindingRecord>, String)> {
    let now = now.trunc_subsecs(6);
    for exception in config.expired_exceptions(now) {
        tracing::warn!(
            rule = %exception.rule,
            "an exception expired on {} and no longer applies: {}",
            exception.expires,
            exception.reason
        );
    }

    let (usage, trail) = runtime.block_on(load_usage(store))?;
    let scan_id = snapshot.scan.scan_id.clone();
    let context = Context {
        now,
        snapshot,
        usage,
        trail,
        config,
    };
    let findings = keyward_rules::evaluate(&context);
    warn_about_unknown_ou_paths(&context);

    let _lock = store.lock()?;
    let previous = match store.checks()?.last() {
        Some(last) => store.findings(&last.run_id)?,
        None => Vec::new(),
    };
    let run_id = format!(
        "{}-{:x}",
        now.format("%Y%m%dT%H%M%S%.6fZ"),
        std::process::id()
    );
    let records = to_records(&findings, &previous, &run_id, now, &scan_id);
    let failures = records
        .iter()
        .filter(|r| r.verdict == "FAIL" && r.suppressed_by.is_none())
        .count();
    let check = CheckRecord {
        run_id: run_id.clone(),
        checked_at: now,
        scan_id,
        findings: records.len() as u32,
        failures: failures as u32,
        keyward_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    store
        .write_check(&check, &records)
        .context("failed to write the findings to the store")?;
    Ok((records, run_id))
}

/// Warns once when exceptions select by organizational unit but the scan
/// recorded no OU path for some accounts, whose findings they then cannot
/// suppress.
fn warn_about_unknown_ou_paths(context: &Context) {
    if !context.config.has_ou_exceptions() {
        return;
    }
    let unknown = context.accounts_without_ou_path();
    if let Some(first) = unknown.first() {
        tracing::warn!(
            accounts = unknown.len(),
            "exceptions by ou match no resource of {} whose organizational units the scan did not record, such as {first}; scan with --org from the management account or a delegated administrator",
            counted(unknown.len() as u64, "account", "accounts")
        );
    }
}

/// Reads the usage index and the CloudTrail period per account and Region.
async fn load_usage(
    store: &Store,
) -> anyhow::Result<(
    HashMap<String, AssetUsage>,
    HashMap<(String, String), TrailWindow>,
)> {
    let session = open_session(store).await?;
    let rows = json_rows(
        &run_sql(
            &session,
            "SELECT asset, CAST(last_used AS BIGINT) AS last_used, last_operation, last_event_id, \
             last_principal, uses, principal_accounts, \
             CAST(last_denied AS BIGINT) AS last_denied, last_denied_operation, \
             last_denied_error, last_denied_principal, \
             CAST(last_rotation_failed AS BIGINT) AS last_rotation_failed, \
             last_rotation_failed_event_id, \
             CAST(last_rotation_succeeded AS BIGINT) AS last_rotation_succeeded FROM usage",
        )
        .await?,
    )?;
    let mut usage = HashMap::new();
    for row in rows {
        let Some(asset) = row["asset"].as_str() else {
            continue;
        };
        let text = |name: &str| row[name].as_str().map(str::to_owned);
        usage.insert(
            asset.to_owned(),
            AssetUsage {
                last_used: micros(&row["last_used"]),
                last_operation: text("last_operation"),
                last_event_id: text("last_event_id"),
                last_principal: text("last_principal"),
                uses: row["uses"].as_u64().unwrap_or_default(),
                principal_accounts: row["principal_accounts"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                last_denied: micros(&row["last_denied"]),
                last_denied_operation: text("last_denied_operation"),
                last_denied_error: text("last_denied_error"),
                last_denied_principal: text("last_denied_principal"),
                last_rotation_failed: micros(&row["last_rotation_failed"]),
                last_rotation_failed_event_id: text("last_rotation_failed_event_id"),
                last_rotation_succeeded: micros(&row["last_rotation_succeeded"]),
            },
        );
    }
    let rows = json_rows(
        &run_sql(
            &session,
            "SELECT accountid, region, CAST(min(time) AS BIGINT) AS first, \
             CAST(max(time) AS BIGINT) AS last FROM events GROUP BY 1, 2",
        )
        .await?,
    )?;
    let mut trail = HashMap::new();
    for row in rows {
        let (Some(account), Some(region)) = (row["accountid"].as_str(), row["region"].as_str())
        else {
            continue;
        };
        if let (Some(first), Some(last)) = (micros(&row["first"]), micros(&row["last"])) {
            trail.insert(
                (account.to_owned(), region.to_owned()),
                TrailWindow { first, last },
            );
        }
    }
    Ok((usage, trail))
}

fn micros(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    value.as_i64().and_then(DateTime::from_timestamp_micros)
}

fn json_rows(batches: &[RecordBatch]) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut json = Vec::new();
    write_batches(
        batches,
        keyward_store::query::output::OutputFormat::Json,
        &mut json,
    )?;
    Ok(serde_json::from_slice(&json)?)
}

/// Adds run details and the workflow state: a failure stays `NEW` with its
/// first-seen time carried over; a pass after a failure is `RESOLVED`.
fn to_records(
    findings: &[Finding],
    previous: &[FindingRecord],
    run_id: &str,
    now: DateTime<Utc>,
    scan_id: &str,
) -> Vec<FindingRecord> {
    let before: HashMap<(&str, &str), &FindingRecord> = previous
        .iter()
        .map(|record| {
            (
                (record.rule_id.as_str(), record.resource_arn.as_str()),
                record,
            )
        })
        .collect();
    findings
        .iter()
        .map(|finding| {
            let earlier = before.get(&(finding.rule_id.as_str(), finding.resource_arn.as_str()));
            let failed_before = earlier.is_some_and(|r| r.verdict == "FAIL");
            let workflow = match finding.verdict {
                Verdict::Fail if finding.suppressed_by.is_some() => "SUPPRESSED",
                Verdict::Fail => "NEW",
                Verdict::Pass if failed_before => "RESOLVED",
                _ => "",
            };
            let first_seen = match finding.verdict {
                Verdict::Fail => Some(
                    earlier
                        .filter(|_| failed_before)
                        .and_then(|r| r.first_seen)
                        .unwrap_or(now),
                ),
                _ => None,
            };
            FindingRecord {
                run_id: run_id.to_owned(),
                checked_at: now,
                scan_id: scan_id.to_owned(),
                rule_id: finding.rule_id.clone(),
                title: finding.title.clone(),
                severity: finding.severity.as_str().to_owned(),
                verdict: finding.verdict.as_str().to_owned(),
                resource_type: format!("{:?}", finding.resource_type),
                resource_arn: finding.resource_arn.clone(),
                account_id: finding.account_id.clone(),
                region: finding.region.clone(),
                cause: finding.cause.clone(),
                evidence: finding.evidence.clone(),
                monthly_cost_usd: finding.monthly_cost_usd,
                suppressed_by: finding.suppressed_by.clone(),
                workflow: workflow.to_owned(),
                first_seen,
            }
        })
        .collect()
}

/// Counts keys and certificates per account by their standing against a
/// quantum computer, from the evidence of the post-quantum readiness rules.
fn quantum_summary(records: &[FindingRecord]) -> String {
    const RULES: [&str; 2] = [
        "kms-key-quantum-readiness",
        "acm-certificate-quantum-readiness",
    ];
    let mut by_account: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for record in records
        .iter()
        .filter(|r| RULES.contains(&r.rule_id.as_str()))
    {
        let class = serde_json::from_str::<serde_json::Value>(&record.evidence)
            .ok()
            .and_then(|evidence| evidence["quantum_class"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        *by_account
            .entry(record.account_id.as_str())
            .or_default()
            .entry(class)
            .or_default() += 1;
    }
    if by_account.is_empty() {
        return String::new();
    }
    let mut text = String::from(
        "Post-quantum readiness of keys and certificates by account:
",
    );
    for (account, classes) in &by_account {
        let count = |class: &str| classes.get(class).copied().unwrap_or(0);
        text.push_str(&format!(
            "  {account}: {} quantum-vulnerable, {} weakened, {} quantum-safe, {} unknown\n",
            count("quantum-vulnerable"),
            count("weakened"),
            count("quantum-safe"),
            count("unknown"),
        ));
    }
    text
}

/// Formats the summary: failures by severity and by rule, unknowns,
/// resolved findings, post-quantum readiness by account and what removing
/// unused resources saves.
pub fn summary_text(records: &[FindingRecord], run_id: &str) -> String {
    let mut text = String::new();
    let failing: Vec<&FindingRecord> = records
        .iter()
        .filter(|r| r.verdict == "FAIL" && r.suppressed_by.is_none())
        .collect();
    let unknown = records.iter().filter(|r| r.verdict == "UNKNOWN").count();
    let passed = records.iter().filter(|r| r.verdict == "PASS").count();
    let suppressed = records
        .iter()
        .filter(|r| r.workflow == "SUPPRESSED")
        .count();
    let resolved = records.iter().filter(|r| r.workflow == "RESOLVED").count();
    text.push_str(&format!(
        "{}: {} failing, {} unknown, {} passed, {} suppressed by exceptions, {} resolved since the last check.\n",
        counted(records.len() as u64, "finding", "findings"),
        failing.len(),
        unknown,
        passed,
        suppressed,
        resolved,
    ));
    let mut by_severity: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    let mut by_rule: BTreeMap<(std::cmp::Reverse<Severity>, &str), usize> = BTreeMap::new();
    for record in &failing {
        let severity = Severity::parse(&record.severity).unwrap_or(Severity::Informational);
        *by_severity.entry(std::cmp::Reverse(severity)).or_default() += 1;
        *by_rule
            .entry((std::cmp::Reverse(severity), record.rule_id.as_str()))
            .or_default() += 1;
    }
    if !failing.is_empty() {
        let parts: Vec<String> = by_severity
            .iter()
            .map(|(severity, count)| format!("{} {count}", severity.0.as_str()))
            .collect();
        text.push_str(&format!("Failing by severity: {}.\n", parts.join(", ")));
        text.push_str("Failing by rule:\n");
        for ((severity, rule), count) in &by_rule {
            text.push_str(&format!("  {:<13} {rule}: {count}\n", severity.0.as_str()));
        }
    }
    text.push_str(&quantum_summary(records));
    let savings: f64 = failing.iter().filter_map(|r| r.monthly_cost_usd).sum();
    if savings > 0.0 {
        text.push_str(&format!(
            "Removing the unused keys and secrets would save about USD {savings:.2} a month.\n"
        ));
    }
    text.push_str(&format!(
        "Check {run_id} stored; `keyward check --details` or `keyward sql \"SELECT * FROM findings\"` shows each finding.\n"
    ));
    text
}
