//! `keyward demo`: ingest the CloudTrail examples built into keyward and
//! answer every built-in question on them.
//!
//! The examples are published CloudTrail records from AWS documentation and
//! security tools. Some files are invalid as published, and their errors
//! show how keyward reports bad input and goes on.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use keyward_ingest::{IngestOptions, Source, ingest};
use keyward_scan::ScanOptions;
use keyward_store::Store;
use keyward_store::query::catalog::QUESTIONS;
use keyward_store::query::output::{OutputFormat, write_batches};
use keyward_store::query::{QuestionFilters, TimeWindow, open_session, run_sql};
use rust_embed::RustEmbed;

use crate::time_args::now_micros;

#[derive(RustEmbed)]
#[folder = "tests/fixtures/cloudtrail/"]
#[exclude = "*.md"]
#[exclude = "expected.json"]
struct Examples;

/// Arguments of `keyward demo`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// Folder for the example logs and the store. An existing folder is
    /// only replaced when an earlier demo made it.
    #[arg(long, value_name = "DIR", default_value = "keyward-demo")]
    out: PathBuf,

    /// Also scan the live inventory of the current AWS credentials' account
    /// (or of the emulator at --endpoint-url) into the demo store, and print
    /// it.
    #[arg(long)]
    scan: bool,

    /// With --scan: every account of the organization, through the
    /// KeywardAudit role.
    #[arg(long, requires = "scan")]
    org: bool,

    /// Endpoint URL of an AWS emulator to scan; implies --scan.
    #[arg(long, value_name = "URL", value_parser = super::scan::parse_endpoint)]
    endpoint_url: Option<String>,

    /// Regions to scan (comma-separated); by default every enabled Region.
    #[arg(long, value_name = "NAME", value_delimiter = ',', value_parser = super::scan::parse_region)]
    regions: Vec<String>,

    /// End without serving the dashboard.
    #[arg(long)]
    no_serve: bool,

    #[command(flatten)]
    listen: super::serve::ListenArgs,
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
    let logs = args.out.join("cloudtrail");
    let store_path = args.out.join("store");
    prepare_folder(&args.out)?;
    let files = write_examples(&logs)?;
    println!(
        "Wrote {files} CloudTrail example files to {}",
        logs.display()
    );

    let store = Store::create_or_open(&store_path)?;
    let runtime = super::runtime()?;
    let options = IngestOptions::default();
    let mut problems = 0;
    let summary = ingest(
        &store,
        &[Source::Local(logs)],
        &options,
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
        let session = open_session(&store).await?;
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
    drop(stdout);

    let mut code = ExitCode::SUCCESS;
    if args.scan || args.endpoint_url.is_some() {
        let options = ScanOptions {
            organization: args.org,
            regions: args.regions,
            endpoint_url: args.endpoint_url,
            ..ScanOptions::default()
        };
        println!("\n== Scanning the live inventory");
        let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let snapshot = super::scan::scan_into_store(&store, &options, &runtime, show_progress)?;
        print!("{}", super::scan::summary_text(&snapshot));
        if !snapshot.scan.complete {
            code = ExitCode::from(crate::EXIT_PARTIAL);
        }
        println!(
            "`keyward --store {} inventory keys` (or certificates, secrets, coverage) prints it.",
            store_path.display()
        );
        println!("\n== Checking the inventory and the CloudTrail usage with the rules");
        let summary = super::check::check_and_summarize(&store, &runtime)?;
        print!("{summary}");
    }
    println!(
        "\nThe store is in {}; try `keyward --store {} query --list`.",
        store_path.display(),
        store_path.display()
    );
    if !args.no_serve {
        println!("\n== Serving the dashboard on the demo store");
        // The examples span several years, so the pages open on all stored
        // time rather than on the questions' default windows.
        super::serve::serve_store(&store, &listen, &runtime, "/?since=all")?;
    }
    Ok(code)
}

/// File that marks a folder as one `keyward demo` made, so that a later
/// demo may replace it.
const DEMO_MARKER: &str = ".keyward-demo";

/// Creates the output folder, or empties one that an earlier demo made.
/// Any other existing folder is left alone and the demo stops.
fn prepare_folder(out: &std::path::Path) -> anyhow::Result<()> {
    let is_empty = std::fs::read_dir(out).map(|mut entries| entries.next().is_none());
    match is_empty {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("failed to read {}", out.display()));
        }
        Ok(true) => {}
        Ok(false) if out.join(DEMO_MARKER).is_file() => {
            for name in ["cloudtrail", "store"] {
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

fn write_examples(folder: &std::path::Path) -> anyhow::Result<usize> {
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
