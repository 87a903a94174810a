//! `keyward export`: write the findings of a check run as JSON, JSON Lines,
//! CSV, SARIF, ASFF or OCSF, or import them into AWS Security Hub.
//!
//! Exit codes: 0 when every finding was written or imported, 1 on an
//! error, 2 for an invalid command line, and 3 when Security Hub did not
//! import some findings, each of which is listed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::ValueEnum;
use keyward_export::asff::{Asff, AsffOptions};
use keyward_export::ocsf::OcsfLines;
use keyward_export::rows::{Csv, JsonArray, JsonLines};
use keyward_export::sarif::Sarif;
use keyward_export::security_hub::{self, ImportReport};
use keyward_export::{Encoder, Export, Inventory, Selection, security_lake, select};
use keyward_store::Store;
use keyward_store::findings::{CheckRecord, FindingRecord};

use super::counted;
use super::scan::{parse_account, parse_endpoint, parse_region};
use crate::EXIT_PARTIAL;

/// Arguments of `keyward export`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// Export this check run instead of the latest; `keyward sql "SELECT *
    /// FROM checks"` lists the runs.
    #[arg(long, value_name = "RUN_ID")]
    run: Option<String>,

    /// Also export passing findings. By default the export has failures,
    /// unknowns, and the passes that resolve a failure of the previous run.
    #[arg(long)]
    all: bool,

    /// Export only the findings of these accounts (comma-separated or
    /// repeated).
    #[arg(long = "account", value_name = "ID", value_delimiter = ',', value_parser = parse_account)]
    accounts: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
    format: ExportFormat,

    /// File to write, or the folder for ocsf-parquet; standard output when
    /// absent.
    #[arg(long, value_name = "FILE_OR_DIR")]
    out: Option<PathBuf>,

    /// Send the findings to a service instead of writing them.
    #[arg(long, value_enum, value_name = "DESTINATION", conflicts_with_all = ["format", "out"])]
    to: Option<Destination>,

    /// Region of Security Hub, and of the product ARN in ASFF findings. By
    /// default the AWS configuration's Region for --to security-hub, and
    /// each finding's own Region for --format asff.
    #[arg(long, value_name = "NAME", value_parser = parse_region)]
    region: Option<String>,

    /// Endpoint URL of Security Hub and STS, for an emulator;
    /// AWS_ENDPOINT_URL also sets it.
    #[arg(long, value_name = "URL", value_parser = parse_endpoint)]
    endpoint_url: Option<String>,
}

/// Format of `keyward export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A JSON array of findings with the rule's risk and remediation.
    Json,
    /// One JSON finding per line.
    Jsonl,
    /// CSV with a header row; evidence and references as JSON text.
    Csv,
    /// SARIF 2.1.0, one run.
    Sarif,
    /// AWS Security Finding Format for Security Hub, as a JSON array.
    Asff,
    /// OCSF 1.1.0 Compliance Findings, one JSON event per line.
    Ocsf,
    /// OCSF 1.1.0 as Parquet in the Amazon Security Lake custom source
    /// layout, under the folder of --out.
    OcsfParquet,
    /// The inventory of the latest scan (or of the scan that --run judged)
    /// as a CycloneDX 1.6 cryptographic bill of materials.
    Cyclonedx,
}

/// Service that `--to` sends findings to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Destination {
    /// AWS Security Hub, with BatchImportFindings.
    SecurityHub,
}

/// Runs `keyward export`.
pub fn run(store_path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    if args.format == ExportFormat::OcsfParquet && args.out.is_none() {
        bail!("--format ocsf-parquet writes a folder tree: add --out DIR");
    }
    let store = Store::open(store_path).map_err(|_| {
        anyhow::anyhow!(
            "no store at {}; run `keyward scan` and `keyward check` first",
            store_path.display()
        )
    })?;
    if args.format == ExportFormat::Cyclonedx && args.to.is_none() {
        return write_bom(&store, &args);
    }
    let check = find_check(&store, args.run.as_deref())?;
    let findings = load_findings(&store, &check, &args)?;
    let inventory = load_inventory(&store, &check)?;
    let export = Export {
        findings: &findings,
        inventory: &inventory,
        keyward_version: env!("CARGO_PKG_VERSION"),
    };
    match args.to {
        Some(Destination::SecurityHub) => send_to_security_hub(&export, &args),
        None => {
            write_export(&export, &args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes the CycloneDX BOM of the scan that `--run` judged, or of the
/// latest scan.
fn write_bom(store: &Store, args: &Args) -> anyhow::Result<ExitCode> {
    let scan_id = match &args.run {
        Some(_) => Some(find_check(store, args.run.as_deref())?.scan_id),
        None => None,
    };
    let snapshot = store.snapshot(scan_id.as_deref())?.with_context(|| {
        format!(
            "the store at {} contains no scan; run `keyward scan` first",
            store.root().display()
        )
    })?;
    let bom =
        keyward_export::cyclonedx::bom(&snapshot, env!("CARGO_PKG_VERSION"), chrono::Utc::now());
    let text = serde_json::to_string_pretty(&bom)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, format!("{text}\n"))
                .with_context(|| format!("failed to write {}", path.display()))?;
            let components = bom["components"].as_array().map_or(0, Vec::len);
            eprintln!(
                "Wrote {} of scan {} to {}.",
                counted(components as u64, "component", "components"),
                snapshot.scan.scan_id,
                path.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Returns the requested run, or the latest.
fn find_check(store: &Store, run: Option<&str>) -> anyhow::Result<CheckRecord> {
    let checks = store.checks()?;
    match run {
        Some(id) => checks.into_iter().find(|check| check.run_id == id).with_context(|| {
            format!("check run {id:?} not found; `keyward sql \"SELECT run_id FROM checks\"` lists them")
        }),
        None => checks.into_iter().next_back().with_context(|| {
            format!(
                "the store at {} contains no check run; run `keyward check` first",
                store.root().display()
            )
        }),
    }
}

fn load_findings(
    store: &Store,
    check: &CheckRecord,
    args: &Args,
) -> anyhow::Result<Vec<FindingRecord>> {
    let selection = if args.all {
        Selection::All
    } else {
        Selection::Actionable
    };
    let mut findings = select(&store.findings(&check.run_id)?, selection);
    if !args.accounts.is_empty() {
        findings.retain(|finding| args.accounts.contains(&finding.account_id));
    }
    Ok(findings)
}

/// Reads the inventory of the scan that the run judged. Without it the
/// findings are exported without resource details.
fn load_inventory(store: &Store, check: &CheckRecord) -> anyhow::Result<Inventory> {
    match store.snapshot(Some(&check.scan_id))? {
        Some(snapshot) => Ok(Inventory::from_snapshot(&snapshot)),
        None => {
            tracing::warn!(
                scan = %check.scan_id,
                "the scan of check {} is not in the store; findings have no resource details",
                check.run_id
            );
            Ok(Inventory::default())
        }
    }
}

fn write_export(export: &Export<'_>, args: &Args) -> anyhow::Result<()> {
    let encoder: Box<dyn Encoder> = match args.format {
        ExportFormat::Json => Box::new(JsonArray),
        ExportFormat::Jsonl => Box::new(JsonLines),
        ExportFormat::Csv => Box::new(Csv),
        ExportFormat::Sarif => Box::new(Sarif),
        ExportFormat::Asff => Box::new(Asff {
            options: AsffOptions {
                region: args.region.clone(),
            },
        }),
        ExportFormat::Ocsf => Box::new(OcsfLines),
        ExportFormat::Cyclonedx => {
            bail!("the CycloneDX BOM is written from the inventory, not from findings")
        }
        ExportFormat::OcsfParquet => {
            let root = args.out.as_deref().unwrap_or(Path::new("."));
            let files = security_lake::write(export, root, args.region.as_deref())
                .with_context(|| format!("failed to write Parquet under {}", root.display()))?;
            eprintln!(
                "Wrote {} to {} under {}.",
                counted(export.findings.len() as u64, "finding", "findings"),
                counted(files.len() as u64, "Parquet file", "Parquet files"),
                root.display()
            );
            return Ok(());
        }
    };
    match &args.out {
        Some(path) => write_file(encoder.as_ref(), export, path)?,
        None => {
            let mut stdout = std::io::stdout().lock();
            encoder.encode(export, &mut stdout)?;
            stdout.flush()?;
        }
    }
    Ok(())
}

/// Writes the export to a hidden file beside `path`, then renames it, so
/// that a failed export leaves no half-written file.
fn write_file(encoder: &dyn Encoder, export: &Export<'_>, path: &Path) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("--out {} names no file", path.display()))?;
    let partial = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let result = (|| -> anyhow::Result<()> {
        let file = std::fs::File::create(&partial)?;
        let mut writer = std::io::BufWriter::new(file);
        encoder.encode(export, &mut writer)?;
        writer
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        std::fs::rename(&partial, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result.with_context(|| format!("failed to write {}", path.display()))?;
    eprintln!(
        "Wrote {} to {}.",
        counted(export.findings.len() as u64, "finding", "findings"),
        path.display()
    );
    Ok(())
}

fn send_to_security_hub(export: &Export<'_>, args: &Args) -> anyhow::Result<ExitCode> {
    let runtime = super::runtime()?;
    let (report, region, account) = runtime.block_on(async {
        let config =
            security_hub::load_config(args.region.clone(), args.endpoint_url.clone()).await;
        let region = config
            .region()
            .map(ToString::to_string)
            .unwrap_or_default();
        let account = security_hub::caller_account(&config)
            .await
            .map_err(|message| {
                anyhow::anyhow!(
                    "cannot identify the current AWS credentials ({message}); configure credentials through the environment, a profile or SSO"
                )
            })?;
        let options = AsffOptions {
            region: Some(region.clone()),
        };
        let findings = keyward_export::asff::findings(export, &options);
        let client = aws_sdk_securityhub::Client::new(&config);
        let report = security_hub::import(&client, &findings, &account).await;
        anyhow::Ok((report, region, account))
    })?;
    print!(
        "{}",
        import_summary(&report, export.findings.len(), &region, &account)
    );
    for failed in &report.failed {
        eprintln!(
            "error: finding {} not imported: {}: {}",
            failed.id, failed.error_code, failed.message
        );
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    })
}

fn import_summary(report: &ImportReport, total: usize, region: &str, account: &str) -> String {
    format!(
        "Imported {} of {} into Security Hub in {region} for account {account} with {}; {} failed.\n",
        report.imported,
        counted(total as u64, "finding", "findings"),
        counted(report.requests as u64, "request", "requests"),
        report.failed.len()
    )
}
