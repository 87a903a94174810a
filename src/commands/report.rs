//! `keyward report`: write the overview and every failing finding of the
//! latest check as one self-contained HTML file, and print it to PDF
//! through a headless Chromium where one is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use keyward_serve::report::{ReportScope, render};
use keyward_store::Store;

use crate::time_args::now_micros;

/// Names of Chromium's binary, tried in this order on `PATH`.
const CHROMIUM_NAMES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// Milliseconds of page time that Chromium gives the report's script to
/// draw the charts before printing.
const PRINT_SCRIPT_BUDGET_MS: u32 = 10_000;

/// Arguments of `keyward report`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// Write the HTML report to this file.
    #[arg(long, value_name = "FILE", required_unless_present = "pdf")]
    html: Option<PathBuf>,

    /// Write the report as PDF to this file, through a headless Chromium
    /// (found on PATH, or set KEYWARD_CHROMIUM).
    #[arg(long, value_name = "FILE")]
    pdf: Option<PathBuf>,

    /// Keep only this account; repeat for several.
    #[arg(long = "account", value_name = "ID", value_parser = super::scan::parse_account)]
    accounts: Vec<String>,

    /// Keep only this Region; repeat for several.
    #[arg(long = "region", value_name = "NAME", value_parser = super::scan::parse_region)]
    regions: Vec<String>,
}

/// Runs `keyward report`.
pub fn run(store_path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let chromium = match &args.pdf {
        Some(_) => Some(find_chromium()?),
        None => None,
    };
    let store = Store::open(store_path)?;
    let scope = ReportScope {
        accounts: args.accounts,
        regions: args.regions,
    };
    let runtime = super::runtime()?;
    let html = runtime
        .block_on(render(&store, &scope, now_micros()))
        .context("failed to build the report")?;

    let scratch = tempfile::tempdir().context("failed to create a temporary folder")?;
    let html_path = match &args.html {
        Some(path) => path.clone(),
        None => scratch.path().join("keyward-report.html"),
    };
    std::fs::write(&html_path, html)
        .with_context(|| format!("failed to write {}", html_path.display()))?;
    if args.html.is_some() {
        println!("Wrote the HTML report to {}", html_path.display());
    }
    if let (Some(pdf), Some(chromium)) = (&args.pdf, chromium) {
        print_to_pdf(&chromium, &html_path, pdf, scratch.path())?;
        println!("Wrote the PDF report to {}", pdf.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Finds Chromium: `KEYWARD_CHROMIUM`, or a known name on `PATH`.
fn find_chromium() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("KEYWARD_CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for directory in std::env::split_paths(&path) {
        for name in CHROMIUM_NAMES {
            let candidate = directory.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!(
        "--pdf needs a headless Chromium, and none of {} is on PATH; install one (on Debian: \
         apt-get install chromium) or set KEYWARD_CHROMIUM to its path, or write --html only",
        CHROMIUM_NAMES.join(", ")
    )
}

/// Prints the HTML file to PDF with a headless Chromium that has a fresh
/// profile in `scratch` and no network.
fn print_to_pdf(chromium: &Path, html: &Path, pdf: &Path, scratch: &Path) -> anyhow::Result<()> {
    let html = std::path::absolute(html)
        .with_context(|| format!("failed to resolve {}", html.display()))?;
    let pdf_path =
        std::path::absolute(pdf).with_context(|| format!("failed to resolve {}", pdf.display()))?;
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-pdf-header-footer",
        // The report loads nothing, and this proxy makes sure of it.
        "--proxy-server=http://127.0.0.1:9",
    ]);
    // Chromium refuses to start its sandbox as root.
    if running_as_root() {
        command.arg("--no-sandbox");
    }
    command
        .arg(format!(
            "--user-data-dir={}",
            scratch.join("profile").display()
        ))
        .arg(format!("--virtual-time-budget={PRINT_SCRIPT_BUDGET_MS}"))
        .arg(format!("--print-to-pdf={}", pdf_path.display()))
        .arg(format!("file://{}", html.display()));
    let output = command
        .output()
        .with_context(|| format!("failed to run {}", chromium.display()))?;
    let written = std::fs::metadata(&pdf_path).is_ok_and(|meta| meta.len() > 0);
    if !output.status.success() || !written {
        bail!(
            "{} failed to print {} to PDF ({}): {}",
            chromium.display(),
            html.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}
