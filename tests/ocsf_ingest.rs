//! `keyward ingest` on Amazon Security Lake's CloudTrail source: OCSF
//! Parquet in Security Lake's layout, on disk and in S3, and OCSF JSON.
//!
//! The crypto events come from the CloudTrail fixtures, mapped to OCSF 1.1
//! API Activity by `tests/security-lake/lake.py`: the store must hold the
//! same events as after ingesting the CloudTrail files themselves. The
//! published Security Lake samples in `tests/fixtures/security-lake` are
//! other services' events, other sources and malformed files.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use keyward_ingest::{IngestOptions, Source};
use keyward_store::Store;
use serde_json::Value;

use common::{
    CLOUDTRAIL_FIXTURES, fixture, fixture_files, ingest_paths, ingest_paths_in_order,
    ingest_sources, lake, query_json,
};

/// Builds the OCSF Parquet of the CloudTrail fixtures under `root`, in
/// Security Lake's layout, and returns `root`.
fn build_lake(root: &Path) -> PathBuf {
    let mut args = vec!["build-cloudtrail".to_owned(), root.display().to_string()];
    args.extend(fixture_files(&CLOUDTRAIL_FIXTURES));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lake(&args, "");
    root.to_path_buf()
}

fn cloudtrail_store(root: &Path) -> Store {
    let store = Store::create_or_open(root).unwrap();
    let paths: Vec<PathBuf> = CLOUDTRAIL_FIXTURES.iter().map(|p| fixture(p)).collect();
    // Two published KMS examples share an event key and differ in
    // additionalEventData. Reading in path order on both sides keeps the
    // same one of them.
    let (_, problems) = ingest_paths_in_order(&store, &paths);
    assert!(problems.is_empty(), "{problems:?}");
    store
}

/// JSON columns whose text differs between CloudTrail's and the mapping's
/// formatting; they compare as JSON values.
const JSON_COLUMNS: [&str; 3] = [
    "api_request_data",
    "api_response_data",
    "additional_event_data",
];

/// Returns every stored event, ordered by key, without the source file and
/// with the JSON columns parsed.
fn events(store: &Store) -> Vec<Value> {
    let rows = query_json(store, "SELECT * FROM events ORDER BY event_key");
    rows.into_iter()
        .map(|mut row| {
            let fields = row.as_object_mut().unwrap();
            fields.remove("source_file");
            for column in JSON_COLUMNS {
                if let Some(Value::String(text)) = fields.get(column) {
                    let parsed = serde_json::from_str(text).unwrap();
                    fields.insert(column.to_owned(), parsed);
                }
            }
            row
        })
        .collect()
}

#[test]
fn ocsf_parquet_matches_cloudtrail() {
    let work = tempfile::tempdir().unwrap();
    let lake_root = build_lake(&work.path().join("lake"));
    let expected = cloudtrail_store(&work.path().join("cloudtrail"));

    let store = Store::create_or_open(work.path().join("ocsf")).unwrap();
    let (summary, problems) = ingest_paths_in_order(&store, &[lake_root]);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(summary.files > 0);
    assert_eq!(summary.files, summary.files_ingested);
    assert!(summary.events_stored > 0);

    let from_ocsf = events(&store);
    let from_cloudtrail = events(&expected);
    assert_eq!(from_ocsf.len(), from_cloudtrail.len());
    for (ocsf, cloudtrail) in from_ocsf.iter().zip(&from_cloudtrail) {
        assert_eq!(ocsf, cloudtrail);
    }
}

#[test]
fn ocsf_events_deduplicate_with_cloudtrail() {
    let work = tempfile::tempdir().unwrap();
    let lake_root = build_lake(&work.path().join("lake"));
    let store = cloudtrail_store(&work.path().join("store"));
    let before = events(&store).len() as u64;

    let (summary, problems) = ingest_paths(&store, std::slice::from_ref(&lake_root));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(summary.events_stored, 0, "the same events under OCSF");
    assert!(summary.duplicates >= before, "{summary:?}");

    let (again, _) = ingest_paths(&store, &[lake_root]);
    assert_eq!(again.files_unchanged, again.files, "re-ingest skips files");
    assert_eq!(again.records_read, 0);
    assert_eq!(events(&store).len() as u64, before);
}

#[test]
fn ocsf_json_lines_ingested() {
    let work = tempfile::tempdir().unwrap();
    let lines = work.path().join("events.ocsf.jsonl");
    let mut args = vec![
        "build-cloudtrail-json".to_owned(),
        lines.display().to_string(),
    ];
    args.extend(fixture_files(&CLOUDTRAIL_FIXTURES));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lake(&args, "");
    let expected = cloudtrail_store(&work.path().join("cloudtrail"));

    let store = Store::create_or_open(work.path().join("ocsf")).unwrap();
    let (summary, problems) = ingest_paths(&store, &[lines]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(summary.files_ingested, 1);
    assert_eq!(events(&store), events(&expected));
}

#[test]
fn security_lake_samples_read() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::create_or_open(directory.path()).unwrap();
    let (summary, problems) = ingest_paths(&store, &[fixture("security-lake/lake")]);

    // Seven published CloudTrail events of other services, in OCSF
    // 1.0.0-rc.2 Parquet; the findings and EKS sources are skipped by path.
    assert_eq!(summary.records_read, 7, "{summary:?}");
    assert_eq!(summary.other_events, 7);
    assert_eq!(summary.events_stored, 0);
    assert_eq!(summary.other_files, 2, "SH_FINDINGS and EKS_AUDIT");
    assert_eq!(summary.files_ingested, 7);

    // The truncated file fails alone, with its name.
    assert_eq!(summary.files_failed, 1);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .source
            .ends_with("truncated-for-tests.gz.parquet"),
        "{}",
        problems[0]
    );
    assert!(
        problems[0].message.contains("invalid Parquet file"),
        "{}",
        problems[0]
    );
    assert!(summary.is_partial());
}

#[test]
fn ocsf_json_samples_read() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::create_or_open(directory.path()).unwrap();
    let (summary, problems) = ingest_paths(&store, &[fixture("security-lake/ocsf-json")]);

    // The 1.1.0 samples and the 1.0.0-rc.2 sample each hold one Direct
    // Connect call; the 1.5.0 sample is invalid JSON as published.
    assert_eq!(summary.records_read, 3, "{summary:?}");
    assert_eq!(summary.other_events, 3);
    assert_eq!(summary.files_ingested, 3);
    assert_eq!(summary.files_failed, 1);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = &problems[0];
    assert!(
        problem
            .source
            .ends_with("aws-cloudtrail.v1.5.0.generic_api_activity.ocsf.json"),
        "{problem}"
    );
    assert!(problem.message.contains("invalid JSON"), "{problem}");
    assert!(problem.message.contains("line "), "{problem}");
}

#[test]
fn ocsf_parquet_from_s3() {
    let Ok(endpoint) = std::env::var("KEYWARD_TEST_AWS_ENDPOINT") else {
        panic!(
            "KEYWARD_TEST_AWS_ENDPOINT is not set: run scripts/test, which starts the AWS emulator"
        );
    };
    let work = tempfile::tempdir().unwrap();
    let lake_root = build_lake(&work.path().join("lake"));
    let mut objects = Vec::new();
    for entry in walkdir::WalkDir::new(&lake_root).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let key = entry.path().strip_prefix(&lake_root).unwrap();
            objects.push((
                format!("lake/{}", key.display()),
                entry.path().to_path_buf(),
            ));
        }
    }
    let flow_logs = "lake/aws/VPC_FLOW/2.0/region=us-east-1/accountId=111122223333/eventDay=20260501/f.gz.parquet";
    objects.push((flow_logs.to_owned(), objects[0].1.clone()));
    let bucket = "keyward-security-lake";
    upload(&endpoint, bucket, &objects);

    let store = Store::create_or_open(work.path().join("store")).unwrap();
    let options = IngestOptions {
        endpoint_url: Some(endpoint),
        ..IngestOptions::default()
    };
    let source = Source::parse(&format!("s3://{bucket}/lake/")).unwrap();
    let (summary, problems) = ingest_sources(&store, &[source], &options);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(summary.other_files, 1, "the VPC_FLOW object is skipped");

    let expected = cloudtrail_store(&work.path().join("cloudtrail"));
    assert_eq!(events(&store), events(&expected));
}

fn upload(endpoint: &str, bucket: &str, objects: &[(String, PathBuf)]) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        for (key, path) in objects {
            let body = ByteStream::from_path(path).await.unwrap();
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(body)
                .send()
                .await
                .unwrap();
        }
    });
}
