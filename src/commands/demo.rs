//! `keyward demo`: the whole pipeline on a generated organization.
//!
//! The demo generates an organization (accounts in organizational units,
//! several Regions, keys, certificates and secrets in every state the rules
//! tell apart, and CloudTrail files over a period), ingests its CloudTrail,
//! stores its inventory as a scan, judges it with the rules, compares every
//! finding with the generator's ground truth, and serves the dashboards.
//!
//! `--emulator URL` creates the organization in the AWS emulator moto
//! instead, scans it there with keyward's scanner, and works out the ground
//! truth from the scanned records (see `demo/emulator.rs`).
//!
//! `--examples` runs the older demo instead: it ingests the published
//! CloudTrail examples built into keyward, from AWS documentation and
//! security tools, and answers every built-in question on them. Some of
//! those files are invalid as published, and their errors show how keyward
//! reports bad input and goes on.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use keyward_demo::truth::Truth;
use keyward_demo::{CLOUDTRAIL_FOLDER, Options};
use keyward_ingest::{IngestOptions, Source, ingest};
use keyward_store::Store;
use keyward_store::query::catalog::QUESTIONS;
use keyward_store::query::output::{OutputFormat, write_batches};
use keyward_store::query::{QuestionFilters, TimeWindow, open_session, run_sql};
use rust_embed::RustEmbed;

use super::counted;
use crate::time_args::now_micros;

mod emulator;

#[derive(RustEmbed)]
#[folder = "tests/fixtures/cloudtrail/"]
#[exclude = "*.md"]
#[exclude = "expected.json"]
struct Examples;

/// Arguments of `keyward demo`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// Folder for the generated organization and its store. An existing
    /// folder is only replaced when an earlier demo made it.
    #[arg(long, value_name = "DIR", default_value = "keyward-demo")]
    out: PathBuf,

    /// Accounts in the organization, the management account included.
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u32).range(2..=5000))]
    accounts: u32,

    /// Regions in which every account has assets (comma-separated).
    #[arg(
        long,
        value_name = "NAME",
        value_delimiter = ',',
        default_value = "us-east-1,eu-west-1,ap-southeast-2",
        value_parser = super::scan::parse_region
    )]
    regions: Vec<String>,

    /// Days of CloudTrail, ending now.
    #[arg(long, value_name = "N", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: u32,

    /// CloudTrail records per day in the whole organization, calls to
    /// other services included.
    #[arg(long, value_name = "N", default_value_t = 4000)]
    events_per_day: u32,

    /// Seed of the generator; the same seed and day give the same
    /// organization.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,

    /// End of the generated period, in RFC 3339 form such as
    /// 2026-06-01T00:00:00Z; by default the time of the run. The rules
    /// judge at this time.
    #[arg(long, value_name = "TIME", value_parser = parse_end)]
    end: Option<chrono::DateTime<chrono::Utc>>,

    /// Ingest the published CloudTrail examples built into keyward and
    /// answer every built-in question on them, instead of generating an
    /// organization.
    #[arg(long, conflicts_with_all = ["accounts", "regions", "days", "events_per_day", "seed", "end"])]
    examples: bool,

    /// Create the organization with its keys, secrets, certificates and
    /// IAM policies in a fresh AWS emulator moto at URL, such as
    /// http://127.0.0.1:5000, and scan it there instead of storing the
    /// generated inventory.
    #[arg(long, value_name = "URL", value_parser = super::scan::parse_endpoint, conflicts_with = "examples")]
    emulator: Option<String>,

    /// End without serving the dashboard.
    #[arg(long)]
    no_serve: bool,

    #[command(flatten)]
    listen: super::serve::ListenArgs,
}

fn parse_end(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&chrono::Utc))
        .map_err(|error| {
            format!("invalid time {text:?}: {error}; use a form such as 2026-06-01T00:00:00Z")
        })
}

/// Runs `keyward demo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let listen = match args.listen.check() {
        Ok(listen) => listen,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Ok(ExitCode::from(2));
        }
    };
    prepare_folder(&args.out)?;
    let runtime = super::runtime()?;
    let store_path = args.out.join("store");
    let store = Store::create_or_open(&store_path)?;
    let (code, start_page) = if args.examples {
        (run_examples(&args, &store, &runtime)?, "/?since=all")
    } else {
        (run_organization(&args, &store, &runtime)?, "/")
    };
    println!(
        "\nThe store is in {}; try `keyward --store {} query --list`.",
        store_path.display(),
        store_path.display()
    );
    if !args.no_serve {
        println!("\n== Serving the dashboard on the demo store");
        super::serve::serve_store(&store, &listen, &runtime, start_page)?;
    }
    Ok(code)
}

/// Generates the organization, stores its inventory (or loads it into an
/// emulator and scans it), ingests its CloudTrail, judges it and compares
/// the findings with the ground truth. Exits with code 1 when a finding
/// disagrees with the truth.
fn run_organization(
    args: &Args,
    store: &Store,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let options = Options {
        accounts: args.accounts,
        regions: args.regions.clone(),
        days: args.days,
        events_per_day: args.events_per_day,
        seed: args.seed,
        now: args.end.unwrap_or_else(chrono::Utc::now),
    };
    println!(
        "== Generating an organization of {} in {} over {} (seed {})",
        counted(u64::from(options.accounts), "account", "accounts"),
        counted(options.regions.len() as u64, "Region", "Regions"),
        counted(u64::from(options.days), "day", "days"),
        options.seed
    );
    let truth = match &args.emulator {
        None => generate_and_store(args, &options, store)?,
        Some(url) => emulator::load_and_scan(args, url, &options, store, runtime)?,
    };

    println!("\n== Ingesting the CloudTrail files");
    let mut problems = 0;
    let summary = ingest(
        store,
        &[Source::Local(args.out.join(CLOUDTRAIL_FOLDER))],
        &IngestOptions::default(),
        runtime.handle(),
        &mut |problem| {
            problems += 1;
            println!("  bad input: {problem}");
        },
    )?;
    println!("{}", super::ingest::summary_line(&summary));
    compare_with_truth(store, runtime, &truth, problems)
}

/// Generates the organization into the output folder and stores its
/// inventory as a scan.
fn generate_and_store(args: &Args, options: &Options, store: &Store) -> anyhow::Result<Truth> {
    let started = std::time::Instant::now();
    let generated = keyward_demo::generate(options, &args.out).with_context(|| {
        format!(
            "failed to generate the organization in {}",
            args.out.display()
        )
    })?;
    print_written(args, &generated.truth, started);

    println!("\n== Storing the inventory as a scan");
    let snapshot = &generated.snapshot;
    store
        .write_snapshot(snapshot)
        .context("failed to write the generated inventory to the store")?;
    println!(
        "{}, {}, {} and {} in {} (scan {})",
        counted(snapshot.keys.len() as u64, "KMS key", "KMS keys"),
        counted(
            snapshot.certificates.len() as u64,
            "certificate",
            "certificates"
        ),
        counted(
            snapshot.authorities.len() as u64,
            "certificate authority",
            "certificate authorities"
        ),
        counted(snapshot.secrets.len() as u64, "secret", "secrets"),
        counted(snapshot.accounts.len() as u64, "account", "accounts"),
        snapshot.scan.scan_id
    );
    Ok(generated.truth)
}

/// Prints what the generator wrote.
fn print_written(args: &Args, truth: &Truth, started: std::time::Instant) {
    println!(
        "Wrote {} with {} to {} in {:.1} s, and the ground truth to {}",
        counted(truth.trail.files, "CloudTrail file", "CloudTrail files"),
        counted(truth.trail.records, "record", "records"),
        args.out.join(CLOUDTRAIL_FOLDER).display(),
        started.elapsed().as_secs_f64(),
        args.out.join(keyward_demo::TRUTH_FILE).display()
    );
}

/// Checks the store with the rules and compares every finding with the
/// ground truth.
fn compare_with_truth(
    store: &Store,
    runtime: &tokio::runtime::Runtime,
    truth: &Truth,
    problems: usize,
) -> anyhow::Result<ExitCode> {
    println!("\n== Checking the inventory and the CloudTrail usage with the rules");
    let (records, summary_text) = super::check::check_and_summarize(store, runtime, truth.now)?;
    print!("{summary_text}");
    let findings = records.iter().map(|r| {
        (
            r.rule_id.as_str(),
            r.resource_arn.as_str(),
            r.verdict.as_str(),
        )
    });
    let (agreeing, mismatches) = truth.compare(findings);
    if mismatches.is_empty() {
        println!(
            "\nEvery finding agrees with the ground truth: {}.",
            counted(agreeing as u64, "verdict", "verdicts")
        );
        Ok(if problems == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(crate::EXIT_PARTIAL)
        })
    } else {
        println!(
            "\n{} disagree with the ground truth ({} agree):",
            counted(mismatches.len() as u64, "finding", "findings"),
            agreeing
        );
        for mismatch in &mismatches {
            println!("  {mismatch}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// Ingests the built-in CloudTrail examples and prints the answer to every
/// built-in question.
fn run_examples(
    args: &Args,
    store: &Store,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let logs = args.out.join("examples");
    let files = write_examples(&logs)?;
    println!(
        "Wrote {files} CloudTrail example files to {}",
        logs.display()
    );
    let mut problems = 0;
    let summary = ingest(
        store,
        &[Source::Local(logs)],
        &IngestOptions::default(),
        runtime.handle(),
        &mut |p| {
            problems += 1;
            println!("  bad input: {p}");
        },
    )?;
    println!("{}", super::ingest::summary_line(&summary));
    if problems > 0 {
        println!(
            "The {problems} problems above are in examples as published: invalid JSON, or \
             records without an eventTime."
        );
    }

    let filters = QuestionFilters {
        window: TimeWindow {
            from: Some(0),
            to: None,
        },
        now: now_micros(),
        ..QuestionFilters::default()
    };
    let mut stdout = std::io::stdout().lock();
    runtime.block_on(async {
        let session = open_session(store).await?;
        for question in &QUESTIONS {
            use std::io::Write;
            writeln!(
                stdout,
                "\n== {} (all stored time): {}",
                question.name, question.description
            )?;
            let batches = run_sql(&session, &question.sql(&filters)).await?;
            write_batches(&batches, OutputFormat::Table, &mut stdout)?;
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// File that marks a folder as one `keyward demo` made, so that a later
/// demo may replace it.
const DEMO_MARKER: &str = ".keyward-demo";

/// Creates the output folder, or empties one that an earlier demo made.
/// Any other existing folder is left alone and the demo stops.
fn prepare_folder(out: &Path) -> anyhow::Result<()> {
    let is_empty = std::fs::read_dir(out).map(|mut entries| entries.next().is_none());
    match is_empty {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("failed to read {}", out.display()));
        }
        Ok(true) => {}
        Ok(false) if out.join(DEMO_MARKER).is_file() => {
            for name in [CLOUDTRAIL_FOLDER, "examples", "store"] {
                let path = out.join(name);
                if path.exists() {
                    std::fs::remove_dir_all(&path)
                        .with_context(|| format!("failed to clear {}", path.display()))?;
                }
            }
        }
        Ok(false) => anyhow::bail!(
            "{} exists and was not made by keyward demo; choose a new folder with --out",
            out.display()
        ),
    }
    std::fs::create_dir_all(out).with_context(|| format!("failed to create {}", out.display()))?;
    std::fs::write(out.join(DEMO_MARKER), "made by keyward demo\n")
        .with_context(|| format!("failed to write {}", out.join(DEMO_MARKER).display()))?;
    Ok(())
}

fn write_examples(folder: &Path) -> anyhow::Result<usize> {
    let mut count = 0;
    for name in Examples::iter() {
        let Some(file) = Examples::get(&name) else {
            continue;
        };
        let path = folder.join(name.as_ref());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create {}", parent.display()))?;
        }
        std::fs::write(&path, file.data.as_ref())
            .with_context(|| format!("failed to write {}", path.display()))?;
        count += 1;
    }
    Ok(count)
}
