//! `keyward ingest`: read CloudTrail log files, or the OCSF files of Amazon
//! Security Lake's CloudTrail source, into the store.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use keyward_ingest::{IngestOptions, IngestSummary, Source, dry_run, ingest};
use keyward_store::Store;
use keyward_store::query::output::escape_for_terminal;

use super::counted;
use crate::{EXIT_PARTIAL, UsageError};

/// Arguments of `keyward ingest`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// Files, folder trees or s3://bucket/prefix URLs of CloudTrail logs, or
    /// of Security Lake's CloudTrail source (OCSF Parquet or JSON).
    #[arg(required = true, value_name = "SOURCE")]
    sources: Vec<String>,

    /// Reader threads, 1 to 256; defaults to the number of cores, at most 8.
    /// Each reader adds about 6 MB of memory.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,

    /// Read files again even when the store has them unchanged.
    #[arg(long)]
    force: bool,

    /// Read and check the files, and report what an ingest would read and
    /// every problem, but change nothing: no events are stored, no file is
    /// recorded as ingested, and a missing store is not created.
    #[arg(long)]
    dry_run: bool,

    /// S3 endpoint URL, for an S3-compatible server; AWS_ENDPOINT_URL also
    /// sets it.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,

    /// How to print the summary of the run.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    summary: SummaryFormat,

    /// Never draw a progress bar.
    #[arg(long)]
    no_progress: bool,

    /// Megabytes of events held in memory before they are written to the
    /// store; larger values write fewer, larger files.
    #[arg(long, value_name = "MB", default_value_t = 24,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    buffer_mb: u16,
}

/// Format of the run summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SummaryFormat {
    /// One line of text.
    Text,
    /// One JSON object.
    Json,
}

/// Runs `keyward ingest`.
pub fn run(store_path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let sources = args
        .sources
        .iter()
        .map(|text| Source::parse(text).map_err(|error| UsageError(error.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut options = IngestOptions {
        endpoint_url: args.endpoint_url,
        progress: !args.no_progress && std::io::stderr().is_terminal(),
        force: args.force,
        flush_bytes: Some(usize::from(args.buffer_mb) << 20),
        ..IngestOptions::default()
    };
    if let Some(threads) = args.threads {
        options.threads = usize::from(threads);
    }

    let runtime = super::runtime()?;
    let mut report = |problem: &keyward_ingest::Problem| {
        use std::io::Write;
        let line = escape_for_terminal(&problem.to_string()).into_owned();
        let _ = writeln!(std::io::stderr(), "error: {line}");
    };
    let open_failed = || format!("failed to open the store at {}", store_path.display());
    let summary = if args.dry_run {
        // A dry run reads the manifest of an existing store, to skip the
        // files that an ingest would skip, and creates none.
        let store = Store::open_if_exists(store_path).with_context(open_failed)?;
        dry_run(
            store.as_ref(),
            &sources,
            &options,
            runtime.handle(),
            &mut report,
        )?
    } else {
        let store = Store::create_or_open(store_path).with_context(open_failed)?;
        ingest(&store, &sources, &options, runtime.handle(), &mut report)?
    };
    print_summary(&summary, args.summary)?;
    Ok(if summary.is_partial() {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_summary(summary: &IngestSummary, format: SummaryFormat) -> anyhow::Result<()> {
    match format {
        SummaryFormat::Json => println!("{}", serde_json::to_string(summary)?),
        SummaryFormat::Text => println!("{}", summary_line(summary)),
    }
    Ok(())
}

/// Formats the one-line summary of a run.
pub fn summary_line(summary: &IngestSummary) -> String {
    let megabytes = summary.bytes_uncompressed as f64 / 1e6;
    let rate = if summary.seconds > 0.0 {
        megabytes / summary.seconds
    } else {
        0.0
    };
    let skipped = summary.digest_files + summary.insight_files + summary.other_files;
    let not_records = summary.digests + summary.not_cloudtrail;
    let (prefix, read_in_full, events) = if summary.dry_run {
        let events = counted(summary.events_read, "crypto event", "crypto events");
        ("dry run, nothing stored: ", "read", events)
    } else {
        let stored = counted(
            summary.events_stored,
            "crypto event stored",
            "crypto events stored",
        );
        let events = format!(
            "{stored}, {}",
            counted(summary.duplicates, "duplicate", "duplicates")
        );
        ("", "ingested", events)
    };
    format!(
        "{prefix}{} ({} {read_in_full}, {} unchanged, {} failed, {} skipped); {}: {events}, \
         {} of other services, {}; {} (digests or not CloudTrail); {}; \
         {megabytes:.1} MB in {:.2} s ({rate:.1} MB/s)",
        counted(summary.files + skipped, "file", "files"),
        summary.files_ingested,
        summary.files_unchanged,
        summary.files_failed,
        skipped,
        counted(summary.records_read, "record read", "records read"),
        summary.other_events,
        counted(
            summary.insight_records,
            "Insights record",
            "Insights records"
        ),
        counted(
            not_records,
            "other JSON value skipped",
            "other JSON values skipped"
        ),
        counted(summary.errors, "error", "errors"),
        summary.seconds,
    )
}
