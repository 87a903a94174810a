//! Ingest of the published CloudTrail records in `tests/fixtures/cloudtrail`
//! (sources and licenses in its SOURCES.md): every valid record is read,
//! every invalid file is reported by name, and a second run stores nothing.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use keyward_cloudtrail::{ReadOptions, read_log};
use keyward_store::Store;
use serde::Deserialize;

use common::{fixture, ingest_paths, query_json};

#[derive(Deserialize)]
struct Expected {
    files: BTreeMap<String, ExpectedFile>,
}

#[derive(Deserialize)]
struct ExpectedFile {
    records: u64,
    crypto: u64,
    kind: String,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(fixture("cloudtrail/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Records without `eventTime` that a reader cannot place in time: these
/// published fragments are counted as records in `expected.json` but are
/// reported as errors by keyward, which needs the time of every event.
fn is_timeless_fragment(path: &str) -> bool {
    const FRAGMENTS: [&str; 5] = [
        "aws_secretsmanager_retrieve_secrets_batch.batchgetsecretvalue.json",
        "aws_secretsmanager_retrieve_secrets_catchall.batchgetsecretvalue-catch-all-with-other-filters.json",
        "aws_secretsmanager_retrieve_secrets_catchall.batchgetsecretvalue-catch-all.json",
        "aws_secretsmanager_retrieve_secrets_multiregion.batchgetsecretvalue-in-us-east-1.json",
        "aws_secretsmanager_retrieve_secrets_multiregion.non-batch-getsecretvalue-event-no-match.json",
    ];
    path.strip_prefix("practitioners/panther/")
        .is_some_and(|name| FRAGMENTS.contains(&name))
}

#[test]
fn reader_counts_match_expected() {
    let mut mismatches = Vec::new();
    for (path, expected) in &expected().files {
        let bytes = std::fs::read(fixture(&format!("cloudtrail/{path}"))).unwrap();
        let mut events = 0u64;
        let summary = read_log(bytes.as_slice(), &ReadOptions::default(), &mut |_| {
            events += 1
        });
        let outcome = match expected.kind.as_str() {
            "records" if is_timeless_fragment(path) => summary.error_count > 0,
            "records" => {
                summary.error_count == 0
                    && events == expected.crypto
                    && summary.records == expected.records
            }
            "invalid" => summary.error_count > 0,
            "digest" => summary.digests == 1 && events == 0,
            "insight" => summary.insight_records == expected.records && events == 0,
            "not-cloudtrail" => summary.not_cloudtrail > 0 && events == 0,
            other => panic!("unknown kind {other} for {path}"),
        };
        if !outcome {
            mismatches.push(format!(
                "{path}: expected {} records, {} crypto ({}); read {} records, {events} crypto, \
                 errors {:?}",
                expected.records, expected.crypto, expected.kind, summary.records, summary.errors
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn corpus_ingests_and_reingests_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::create_or_open(directory.path()).unwrap();
    let tree = fixture("cloudtrail");
    let (first, problems) = ingest_paths(&store, std::slice::from_ref(&tree));

    let expected = expected();
    let invalid: Vec<&String> = expected
        .files
        .iter()
        .filter(|(path, file)| file.kind == "invalid" || is_timeless_fragment(path))
        .map(|(path, _)| path)
        .collect();
    for path in &invalid {
        let full = Path::new(&tree).join(path);
        let full = std::path::absolute(full).unwrap().display().to_string();
        let reported = problems.iter().any(|problem| problem.source == full);
        assert!(reported, "no problem reported for {path}");
    }
    assert!(first.is_partial());
    assert_eq!(first.files_failed, invalid.len() as u64);
    assert_eq!(first.files_ingested + first.files_failed, first.files);
    assert_eq!(
        first.digest_files + first.insight_files,
        0,
        "the fixtures are not in the layout"
    );
    assert!(first.events_stored > 100);

    let stored = query_json(&store, "SELECT count(*) AS n FROM events");
    assert_eq!(stored[0]["n"], first.events_stored);

    let (second, again) = ingest_paths(&store, &[tree]);
    assert_eq!(second.events_stored, 0);
    assert_eq!(second.files_unchanged, first.files_ingested);
    assert_eq!(second.files_failed, first.files_failed);
    assert_eq!(
        again.len(),
        problems.len(),
        "bad files are reported on every run"
    );
    let stored_again = query_json(&store, "SELECT count(*) AS n FROM events");
    assert_eq!(stored_again, stored);
}
