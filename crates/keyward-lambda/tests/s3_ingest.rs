//! The ingest mode against the S3 of the AWS emulator moto: log files that
//! S3 event notifications name go into a store kept under an S3 prefix,
//! once each, however often they or their records are delivered.
//!
//! The S3 events follow the message structure in the Amazon S3 user guide
//! ("Event message structure", version 2.1); moto does not send event
//! notifications to a function, so the tests build them.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

#[path = "../../keyward-scan/tests/common/mod.rs"]
mod common;

use std::io::Write;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_lambda_events::event::s3::S3Event;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use keyward_lambda::ingest::{StoreLocation, handle_s3_event};
use keyward_store::Store;
use serde_json::{Value, json};

use common::Moto;

const ACCOUNT: &str = "111122223333";
const TRAIL_BUCKET: &str = "org-trail";
const STORE_BUCKET: &str = "keyward";

async fn client(endpoint: &str) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// A KMS `Decrypt` record of the test account at a minute of 1 March 2026.
fn decrypt(event_id: &str, minute: u32) -> Value {
    json!({
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:app",
            "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/session"),
            "accountId": ACCOUNT,
        },
        "eventTime": format!("2026-03-01T10:{minute:02}:00Z"),
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "10.0.0.1",
        "userAgent": "aws-sdk-java",
        "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        "responseElements": null,
        "requestID": format!("request-{event_id}"),
        "eventID": event_id,
        "readOnly": true,
        "resources": [{
            "accountId": ACCOUNT,
            "type": "AWS::KMS::Key",
            "ARN": format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        }],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    })
}

fn log_key(name: &str) -> String {
    format!("AWSLogs/o-exampleorg/{ACCOUNT}/CloudTrail/us-east-1/2026/03/01/{name}.json.gz")
}

async fn put_log(s3: &Client, key: &str, records: &[Value]) {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(json!({"Records": records}).to_string().as_bytes())
        .unwrap();
    let body = encoder.finish().unwrap();
    s3.put_object()
        .bucket(TRAIL_BUCKET)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

/// An S3 event notification for objects of the trail bucket, with keys
/// URL-encoded as S3 sends them.
fn s3_event(event_name: &str, keys: &[&str]) -> S3Event {
    let records: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-03-01T10:05:00.000Z",
                "eventName": event_name,
                "userIdentity": {"principalId": "AWS:AROAEXAMPLE:cloudtrail"},
                "requestParameters": {"sourceIPAddress": "10.0.0.2"},
                "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "keyward-ingest",
                    "bucket": {
                        "name": TRAIL_BUCKET,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": format!("arn:aws:s3:::{TRAIL_BUCKET}"),
                    },
                    "object": {
                        "key": key.replace(' ', "+"),
                        "size": 1024,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            })
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).unwrap()
}

/// Downloads the store under the prefix into a folder and opens it.
async fn download_store(s3: &Client, prefix: &str, folder: &std::path::Path) -> Store {
    let listing = s3
        .list_objects_v2()
        .bucket(STORE_BUCKET)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    for object in listing.contents() {
        let key = object.key().unwrap();
        let bytes = s3
            .get_object()
            .bucket(STORE_BUCKET)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let path = folder.join(key.strip_prefix(prefix).unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    Store::open(folder).unwrap()
}

fn stored_event_ids(store: &Store) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let batches = runtime.block_on(async {
        let session = keyward_store::query::open_session(store).await.unwrap();
        keyward_store::query::run_sql(&session, "SELECT metadata_uid FROM events ORDER BY 1")
            .await
            .unwrap()
    });
    let mut json = Vec::new();
    keyward_store::query::output::write_batches(
        &batches,
        keyward_store::query::output::OutputFormat::Json,
        &mut json,
    )
    .unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&json).unwrap();
    rows.iter()
        .map(|row| row["metadata_uid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_ingested_once() {
    let moto = Moto::start();
    let s3 = client(&moto.endpoint).await;
    for bucket in [TRAIL_BUCKET, STORE_BUCKET] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let store = StoreLocation::parse("s3://keyward/stores/org").unwrap();
    let work = tempfile::tempdir().unwrap();

    let first = log_key("111122223333_CloudTrail_us-east-1_20260301T1005Z_first");
    put_log(
        &s3,
        &first,
        &[decrypt("e1", 1), decrypt("e2", 2), decrypt("e3", 3)],
    )
    .await;
    let event = s3_event("ObjectCreated:Put", &[&first]);
    let outcome = handle_s3_event(&s3, &store, &event, work.path())
        .await
        .unwrap();
    assert_eq!(outcome.objects, 1);
    assert_eq!(outcome.events_stored, 3);

    // S3 may send the same notification twice.
    let again = handle_s3_event(&s3, &store, &event, work.path())
        .await
        .unwrap();
    assert_eq!(again.events_stored, 0);
    assert_eq!(again.duplicates, 3);

    // A later delivery repeats one record and adds one, and its key has a
    // space, which the notification encodes as '+'.
    let second = log_key("111122223333_CloudTrail_us-east-1_20260301T1010Z_second copy");
    put_log(&s3, &second, &[decrypt("e3", 3), decrypt("e4", 4)]).await;
    let event = s3_event("ObjectCreated:Put", &[&second]);
    let outcome = handle_s3_event(&s3, &store, &event, work.path())
        .await
        .unwrap();
    assert_eq!(outcome.events_stored, 1);
    assert_eq!(outcome.duplicates, 1);

    let local = tempfile::tempdir().unwrap();
    let downloaded = download_store(&s3, "stores/org/", local.path()).await;
    let ids = tokio::task::spawn_blocking(move || stored_event_ids(&downloaded))
        .await
        .unwrap();
    assert_eq!(ids, ["e1", "e2", "e3", "e4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_other_objects_skipped() {
    let moto = Moto::start();
    let s3 = client(&moto.endpoint).await;
    s3.create_bucket()
        .bucket(STORE_BUCKET)
        .send()
        .await
        .unwrap();
    let store = StoreLocation::parse("s3://keyward/stores/org/").unwrap();
    let work = tempfile::tempdir().unwrap();
    let event = s3_event(
        "ObjectCreated:Put",
        &[
            &format!("AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/03/01/digest.json.gz"),
            "AWSLogs/README.txt",
        ],
    );
    let outcome = handle_s3_event(&s3, &store, &event, work.path())
        .await
        .unwrap();
    assert_eq!(outcome.objects, 0);
    assert_eq!(outcome.skipped, 2);

    let removed = s3_event("ObjectRemoved:Delete", &[&log_key("gone")]);
    let outcome = handle_s3_event(&s3, &store, &removed, work.path())
        .await
        .unwrap();
    assert_eq!(outcome.skipped, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_object_fails_with_its_name() {
    let moto = Moto::start();
    let s3 = client(&moto.endpoint).await;
    for bucket in [TRAIL_BUCKET, STORE_BUCKET] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let store = StoreLocation::parse("s3://keyward/org").unwrap();
    let work = tempfile::tempdir().unwrap();
    let key = log_key("truncated");
    s3.put_object()
        .bucket(TRAIL_BUCKET)
        .key(&key)
        .body(ByteStream::from(vec![0x1f, 0x8b, 0x08, 0x00]))
        .send()
        .await
        .unwrap();
    let event = s3_event("ObjectCreated:Put", &[&key]);
    let error = handle_s3_event(&s3, &store, &event, work.path())
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains(&key), "{message}");
}
