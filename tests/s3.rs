//! Ingest from S3, against the AWS emulator moto that `scripts/test`
//! starts (its address in `KEYWARD_TEST_AWS_ENDPOINT`): a tree in S3
//! ingests exactly like the same tree on disk.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use keyward_ingest::{IngestOptions, Source};
use keyward_store::Store;

use common::{fixture, ingest_sources, query_json};

fn endpoint() -> String {
    std::env::var("KEYWARD_TEST_AWS_ENDPOINT").expect(
        "KEYWARD_TEST_AWS_ENDPOINT is not set: run scripts/test, which starts the AWS emulator",
    )
}

/// Files of the fixture corpus laid out as CloudTrail delivers them: every
/// valid file of the `kms` folder, gzipped, under one account and Region,
/// plus a digest file that the layout marks for skipping.
fn layout(root: &Path) -> Vec<(String, PathBuf)> {
    let prefix = "AWSLogs/o-test123/111122223333/CloudTrail/us-east-1/2024/05/01";
    let mut files = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(fixture("cloudtrail/kms"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let key = format!("{prefix}/111122223333_CloudTrail_us-east-1_{stem}.json.gz");
        let target = root.join(&key);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(
            std::fs::File::create(&target).unwrap(),
            flate2::Compression::default(),
        );
        encoder.write_all(&std::fs::read(&path).unwrap()).unwrap();
        encoder.finish().unwrap();
        files.push((key, target));
    }
    let digest_key =
        "AWSLogs/o-test123/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/d.json.gz";
    let digest = root.join(digest_key);
    std::fs::create_dir_all(digest.parent().unwrap()).unwrap();
    std::fs::copy(
        fixture("cloudtrail/digest/written-for-tests.digest.json"),
        &digest,
    )
    .unwrap();
    files.push((digest_key.to_owned(), digest));
    files
}

async fn upload(bucket: &str, files: &[(String, PathBuf)]) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    for (key, path) in files {
        let body = ByteStream::from_path(path).await.unwrap();
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .unwrap();
    }
}

fn stored_rows(store: &Store) -> Vec<serde_json::Value> {
    query_json(
        store,
        "SELECT metadata_uid, time, api_operation, resource_uid, cloud_account_uid \
         FROM events ORDER BY time, metadata_uid, api_operation",
    )
}

#[test]
fn s3_tree_ingests_like_local_tree() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    let files = layout(&tree);
    let bucket = "keyward-s3-tree-test";
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(upload(bucket, &files));

    let local_store = Store::create_or_open(work.path().join("local")).unwrap();
    let (local, local_problems) = ingest_sources(
        &local_store,
        &[Source::Local(tree.join("AWSLogs"))],
        &IngestOptions::default(),
    );
    let options = IngestOptions {
        endpoint_url: Some(endpoint()),
        ..IngestOptions::default()
    };
    let s3_store = Store::create_or_open(work.path().join("s3")).unwrap();
    let source = Source::parse(&format!("s3://{bucket}/AWSLogs/o-test123/")).unwrap();
    let (remote, remote_problems) =
        ingest_sources(&s3_store, std::slice::from_ref(&source), &options);

    assert_eq!(local_problems.len(), remote_problems.len());
    assert_eq!(remote.digest_files, 1);
    assert_eq!(remote.files, local.files);
    assert_eq!(remote.records_read, local.records_read);
    assert_eq!(remote.events_stored, local.events_stored);
    assert!(remote.events_stored > 50);
    assert_eq!(stored_rows(&s3_store), stored_rows(&local_store));

    let (again, _) = ingest_sources(&s3_store, &[source], &options);
    assert_eq!(again.events_stored, 0);
    assert_eq!(again.files_unchanged, remote.files_ingested);
}

#[test]
fn missing_bucket_is_a_problem_not_a_crash() {
    let work = tempfile::tempdir().unwrap();
    let store = Store::create_or_open(work.path()).unwrap();
    let options = IngestOptions {
        endpoint_url: Some(endpoint()),
        ..IngestOptions::default()
    };
    let missing = Source::parse("s3://keyward-no-such-bucket/AWSLogs/").unwrap();
    let local = Source::Local(fixture("cloudtrail/kms/ct-decrypt.1.json"));
    let (summary, problems) = ingest_sources(&store, &[missing, local], &options);
    assert_eq!(summary.sources_failed, 1);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .source
            .starts_with("s3://keyward-no-such-bucket")
    );
    assert!(
        problems[0].message.contains("ListObjectsV2"),
        "{}",
        problems[0].message
    );
    assert!(
        problems[0].message.contains("NoSuchBucket"),
        "{}",
        problems[0].message
    );
    assert_eq!(summary.events_stored, 1, "the local file is still ingested");
}

#[test]
fn refused_connection_reported_in_plain_words() {
    let work = tempfile::tempdir().unwrap();
    let store = Store::create_or_open(work.path()).unwrap();
    // A port that was free a moment ago refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = IngestOptions {
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        ..IngestOptions::default()
    };
    let source = Source::parse("s3://keyward-refused/AWSLogs/").unwrap();

    let (summary, problems) = ingest_sources(&store, &[source], &options);

    assert_eq!(summary.sources_failed, 1);
    let message = &problems[0].message;
    assert!(message.contains("ListObjectsV2"), "{message}");
    assert!(!message.contains("DispatchFailure {"), "{message}");
    assert!(!message.contains("Some("), "{message}");
}
