//! `keyward scan`: read the live inventory of KMS keys, certificates and
//! secrets into the store.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use keyward_scan::{Progress, ScanOptions, Service, gap_text, load_config, scan};
use keyward_store::Store;
use keyward_store::inventory::{CoverageRecord, CoverageStatus, Snapshot};
use serde::Serialize;

use super::counted;
use crate::EXIT_PARTIAL;

/// Arguments of `keyward scan`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// Scan every active account of the AWS organization, through the audit
    /// role in each member account. Run from the management account or a
    /// delegated administrator.
    #[arg(long)]
    org: bool,

    /// Role to assume in member accounts.
    #[arg(long, value_name = "NAME", default_value = "KeywardAudit")]
    role_name: String,

    /// External id that the audit role's trust policy requires.
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,

    /// Scan only these accounts (comma-separated or repeated).
    #[arg(long, value_name = "ID", value_delimiter = ',', value_parser = parse_account)]
    accounts: Vec<String>,

    /// Leave out these accounts (comma-separated or repeated).
    #[arg(long, value_name = "ID", value_delimiter = ',', value_parser = parse_account)]
    exclude_accounts: Vec<String>,

    /// Scan only these Regions (comma-separated or repeated); by default
    /// every Region that each account has enabled.
    #[arg(long, value_name = "NAME", value_delimiter = ',', value_parser = parse_region)]
    regions: Vec<String>,

    /// Services to read (comma-separated or repeated): kms, acm, acm-pca,
    /// secretsmanager, iam. All by default. IAM is read once per account.
    #[arg(long, value_name = "NAME", value_delimiter = ',', value_parser = parse_service)]
    services: Vec<Service>,

    /// API calls in flight at once, across all accounts and Regions.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=512))]
    concurrency: u16,

    /// Endpoint URL for every AWS service, for an emulator;
    /// AWS_ENDPOINT_URL also sets it.
    #[arg(long, value_name = "URL", value_parser = parse_endpoint)]
    endpoint_url: Option<String>,

    /// How to print the summary of the scan.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    summary: SummaryFormat,

    /// Never draw a progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// Format of the scan summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SummaryFormat {
    /// Lines of text.
    Text,
    /// One JSON object.
    Json,
}

fn parse_service(text: &str) -> Result<Service, String> {
    Service::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
        format!(
            "unknown service {text:?}; expected one of {}",
            names.join(", ")
        )
    })
}

/// Checks an account id: twelve digits.
pub fn parse_account(text: &str) -> Result<String, String> {
    let id = text.trim();
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_owned())
    } else {
        Err(format!("invalid account id {text:?}: expected 12 digits"))
    }
}

/// Checks a Region name: lowercase words and a number joined by hyphens,
/// as in `us-east-1` or `eusc-de-east-1`.
pub fn parse_region(text: &str) -> Result<String, String> {
    let name = text.trim();
    let parts: Vec<&str> = name.split('-').collect();
    let words_ok = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()));
    let number_ok = parts
        .last()
        .is_some_and(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if words_ok && number_ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "invalid Region {text:?}: expected a name such as us-east-1"
        ))
    }
}

/// Checks an endpoint URL: http or https, with a host.
pub fn parse_endpoint(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(' ') => {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "invalid endpoint URL {text:?}: expected http://HOST[:PORT] or https://HOST[:PORT]"
        )),
    }
}

/// Runs `keyward scan`.
pub fn run(store_path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let mut services = args.services.clone();
    services.sort();
    services.dedup();
    if services.is_empty() {
        services = Service::ALL.to_vec();
    }
    let options = ScanOptions {
        organization: args.org,
        role_name: args.role_name,
        external_id: args.external_id,
        accounts: args.accounts,
        exclude_accounts: args.exclude_accounts,
        regions: args.regions,
        services,
        concurrency: usize::from(args.concurrency),
        endpoint_url: args.endpoint_url,
        ..ScanOptions::default()
    };
    if options.role_name.is_empty() || options.role_name.contains(['/', ':']) {
        bail!("--role-name must be a role name, not a path or ARN");
    }

    let store = Store::create_or_open(store_path)
        .with_context(|| format!("failed to open the store at {}", store_path.display()))?;
    let runtime = super::runtime()?;
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    let snapshot = scan_into_store(&store, &options, &runtime, show_progress)?;
    match args.summary {
        SummaryFormat::Json => println!("{}", serde_json::to_string(&Summary::of(&snapshot))?),
        SummaryFormat::Text => print!("{}", summary_text(&snapshot)),
    }
    Ok(if snapshot.scan.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    })
}

/// Scans and writes the snapshot into the store.
pub fn scan_into_store(
    store: &Store,
    options: &ScanOptions,
    runtime: &tokio::runtime::Runtime,
    show_progress: bool,
) -> anyhow::Result<Snapshot> {
    let config = runtime.block_on(load_config(options));
    scan_with_config_into_store(store, &config, options, runtime, show_progress)
}

/// Scans with an SDK configuration of the caller's, such as one with fixed
/// emulator credentials, and writes the snapshot into the store.
pub fn scan_with_config_into_store(
    store: &Store,
    config: &aws_config::SdkConfig,
    options: &ScanOptions,
    runtime: &tokio::runtime::Runtime,
    show_progress: bool,
) -> anyhow::Result<Snapshot> {
    // The lock is taken first, so that a scan does not run for minutes and
    // then find the store busy.
    let _lock = store.lock()?;
    let progress = BarProgress::new(show_progress);
    let snapshot = runtime.block_on(scan(config, options, &progress))?;
    progress.bar.finish_and_clear();
    store
        .write_snapshot(&snapshot)
        .context("failed to write the inventory to the store")?;
    Ok(snapshot)
}

/// Formats the text summary of a scan: counts, then each coverage gap.
pub fn summary_text(snapshot: &Snapshot) -> String {
    Summary::of(snapshot).text()
}

/// A progress bar over the units of work, drawn only on a terminal.
struct BarProgress {
    bar: ProgressBar,
}

impl BarProgress {
    fn new(visible: bool) -> Self {
        let bar = if visible {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {pos}/{len} services read {wide_bar} {msg}")
        {
            bar.set_style(style);
        }
        Self { bar }
    }
}

impl Progress for BarProgress {
    fn units(&self, total: u64) {
        self.bar.set_length(total);
    }

    fn unit_done(&self, coverage: &CoverageRecord) {
        self.bar.inc(1);
        self.bar
            .set_message(format!("{} {}", coverage.account_id, coverage.region));
    }
}

/// Counts and gaps of a scan, for the summary.
#[derive(Debug, Serialize)]
struct Summary {
    scan_id: String,
    complete: bool,
    seconds: f64,
    accounts: u32,
    account_regions: u32,
    keys: usize,
    aliases: usize,
    certificates: usize,
    certificate_authorities: usize,
    secrets: usize,
    iam_policies: usize,
    api_calls: u64,
    assets_read_in_part: u64,
    gaps: Vec<Gap>,
}

/// One coverage gap.
#[derive(Debug, Serialize)]
struct Gap {
    account_id: String,
    region: String,
    service: String,
    status: &'static str,
    description: String,
}

impl Summary {
    fn of(snapshot: &Snapshot) -> Self {
        let scan = &snapshot.scan;
        let seconds = (scan.finished_at - scan.started_at).num_milliseconds() as f64 / 1000.0;
        Self {
            scan_id: scan.scan_id.clone(),
            complete: scan.complete,
            seconds,
            accounts: scan.accounts,
            account_regions: scan.account_regions,
            keys: snapshot.keys.len(),
            aliases: snapshot.aliases.len(),
            certificates: snapshot.certificates.len(),
            certificate_authorities: snapshot.authorities.len(),
            secrets: snapshot.secrets.len(),
            iam_policies: snapshot.iam_policies.len(),
            api_calls: snapshot.coverage.iter().map(|r| u64::from(r.calls)).sum(),
            assets_read_in_part: snapshot
                .coverage
                .iter()
                .map(|r| u64::from(r.partial_assets))
                .sum(),
            gaps: snapshot
                .coverage
                .iter()
                .filter(|row| row.status != CoverageStatus::Ok)
                .map(|row| Gap {
                    account_id: row.account_id.clone(),
                    region: row.region.clone(),
                    service: row.service.clone(),
                    status: row.status.as_str(),
                    description: gap_text(row),
                })
                .collect(),
        }
    }

    fn text(&self) -> String {
        let mut text = format!(
            "Scanned {} ({}) in {:.1} s with {}: {}, {}, {}, {}, {}, {}.\n",
            counted(u64::from(self.accounts), "account", "accounts"),
            counted(
                u64::from(self.account_regions),
                "account and Region pair",
                "account and Region pairs"
            ),
            self.seconds,
            counted(self.api_calls, "API call", "API calls"),
            counted(self.keys as u64, "KMS key", "KMS keys"),
            counted(self.aliases as u64, "alias", "aliases"),
            counted(self.certificates as u64, "certificate", "certificates"),
            counted(
                self.certificate_authorities as u64,
                "certificate authority",
                "certificate authorities"
            ),
            counted(self.secrets as u64, "secret", "secrets"),
            counted(self.iam_policies as u64, "IAM policy", "IAM policies"),
        );
        if self.assets_read_in_part > 0 {
            text.push_str(&format!(
                "{} read in part; their read_errors name the failed calls.\n",
                counted(self.assets_read_in_part, "asset was", "assets were")
            ));
        }
        if self.gaps.is_empty() {
            text.push_str("Coverage is complete.\n");
        } else {
            text.push_str(&format!(
                "{}; what they hide is unknown, and `keyward check` reports it as UNKNOWN:\n",
                counted(self.gaps.len() as u64, "coverage gap", "coverage gaps")
            ));
            for gap in &self.gaps {
                let place = if gap.region.is_empty() {
                    format!("account {}", gap.account_id)
                } else {
                    format!("account {} {}", gap.account_id, gap.region)
                };
                text.push_str(&format!("  {place} {}: {}\n", gap.service, gap.description));
            }
        }
        text.push_str(&format!("Scan {} stored.\n", self.scan_id));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert_eq!(
            parse_account(" 111122223333 ").as_deref(),
            Ok("111122223333")
        );
        assert!(parse_account("abc").is_err());
        assert!(parse_account("11112222333").is_err());
    }

    #[test]
    fn region_names_are_checked() {
        for good in ["us-east-1", "eu-west-2", "us-gov-west-1", "eusc-de-east-1"] {
            assert_eq!(parse_region(good).as_deref(), Ok(good));
        }
        for bad in ["", "bad region", "US-WEST-2", "nope", "us-east", "us--1"] {
            assert!(parse_region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_need_a_scheme_and_host() {
        assert!(parse_endpoint("http://127.0.0.1:5000").is_ok());
        assert!(parse_endpoint("https://kms.example").is_ok());
        for bad in ["not a url", "ftp://host", "http://", "127.0.0.1:5000"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }
}
