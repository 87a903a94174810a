//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

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

pub mod dashboard;
pub mod webdriver;
