//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use keyward_ingest::{IngestOptions, IngestSummary, Problem, Source, ingest};
use keyward_store::Store;

/// Path of a file or folder under `tests/fixtures`.
pub fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

/// Ingests sources into a store, returning the summary and every problem.
pub fn ingest_sources(
    store: &Store,
    sources: &[Source],
    options: &IngestOptions,
) -> (IngestSummary, Vec<Problem>) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut problems = Vec::new();
    let summary = ingest(store, sources, options, runtime.handle(), &mut |problem| {
        problems.push(problem.clone());
    })
    .expect("ingest");
    (summary, problems)
}

/// Ingests local paths with one reader thread per core and no progress bar.
pub fn ingest_paths(store: &Store, paths: &[PathBuf]) -> (IngestSummary, Vec<Problem>) {
    let sources: Vec<Source> = paths.iter().cloned().map(Source::Local).collect();
    ingest_sources(store, &sources, &IngestOptions::default())
}

/// Ingests local paths with one reader thread, so that files are read in
/// path order. Of two records with the same event key, the store keeps the
/// one read first, so tests whose fixtures repeat a key with other content
/// need this order to be fixed.
pub fn ingest_paths_in_order(store: &Store, paths: &[PathBuf]) -> (IngestSummary, Vec<Problem>) {
    let sources: Vec<Source> = paths.iter().cloned().map(Source::Local).collect();
    let options = IngestOptions {
        threads: 1,
        ..IngestOptions::default()
    };
    ingest_sources(store, &sources, &options)
}

/// Runs SQL over a store and returns the rows as JSON objects.
pub fn query_json(store: &Store, sql: &str) -> Vec<serde_json::Value> {
    use keyward_store::query::output::{OutputFormat, write_batches};
    use keyward_store::query::{open_session, run_sql};

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let batches = runtime.block_on(async {
        let session = open_session(store).await.expect("session");
        run_sql(&session, sql).await.expect("query")
    });
    let mut out = Vec::new();
    write_batches(&batches, OutputFormat::Json, &mut out).expect("json output");
    serde_json::from_slice(&out).expect("json rows")
}

/// The CloudTrail files that the Security Lake tests map to OCSF: the
/// hand-checked dataset and the published examples of the cryptographic
/// services.
pub const CLOUDTRAIL_FIXTURES: [&str; 6] = [
    "queries/events.json",
    "queries/names.json",
    "cloudtrail/kms",
    "cloudtrail/acm",
    "cloudtrail/secretsmanager",
    "cloudtrail/eventbridge",
];

/// Path of the Python that `scripts/test` installs sqlglot and DuckDB for.
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYWARD_TEST_PYTHON") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        path.exists(),
        "Python with sqlglot and DuckDB not found: run scripts/test, which installs them into .venv"
    );
    path
}

/// Runs `tests/security-lake/lake.py` with arguments and standard input,
/// and returns its standard output. It runs under the Python of
/// `KEYWARD_TEST_PYTHON`, which `scripts/test` points at `.venv`, where
/// sqlglot and DuckDB are installed.
pub fn lake(args: &[&str], input: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/security-lake/lake.py");
    let mut child = Command::new(python())
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lake.py");
    child
        .stdin
        .take()
        .expect("stdin of lake.py")
        .write_all(input.as_bytes())
        .expect("write to lake.py");
    let output = child.wait_with_output().expect("wait for lake.py");
    assert!(
        output.status.success(),
        "lake.py {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("lake.py output is UTF-8")
}

/// Lists every file under the fixtures, as `lake.py` takes them.
pub fn fixture_files(relative: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    for path in relative.iter().map(|path| fixture(path)) {
        for entry in walkdir::WalkDir::new(&path).sort_by_file_name() {
            let entry = entry.expect("list fixtures");
            if entry.file_type().is_file() {
                files.push(entry.path().display().to_string());
            }
        }
    }
    files
}

pub mod dashboard;
pub mod webdriver;
