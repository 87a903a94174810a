//! The keyward binary as a user runs it: exit codes, error lines, output
//! formats, and a store that survives a killed ingest.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::fixture;

fn keyward(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("KEYWARD_STORE")
        .output()
        .unwrap()
}

/// Ingests the hand-checked query dataset into `DIR/store` and returns the
/// store's path.
fn store_with_dataset(directory: &Path) -> std::path::PathBuf {
    let store = directory.join("store");
    let dataset = fixture("queries/events.json");
    let ingest = keyward(&store, &["ingest", dataset.to_str().unwrap()]);
    assert!(
        ingest.status.success(),
        "{}",
        String::from_utf8_lossy(&ingest.stderr)
    );
    store
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_gzip(path: &Path, content: &[u8]) {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(content).unwrap();
    std::fs::write(path, encoder.finish().unwrap()).unwrap();
}

fn record(index: usize, day: u32) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2024-05-{day:02}T10:00:{:02}Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"us-east-1","eventID":"id-{index}","requestParameters":{{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab","padding":"{}"}},"recipientAccountId":"111122223333"}}"#,
        index % 60,
        "x".repeat(200)
    )
}

/// Writes 300 gzip files of `records` records each into `tree`, the
/// records of file `n` on day `day_of(n)` of May 2024. Returns the number
/// of records written.
fn write_tree(tree: &Path, records: usize, day_of: impl Fn(usize) -> u32) -> usize {
    std::fs::create_dir_all(tree).unwrap();
    let mut index = 0;
    for file in 0..300 {
        let day = day_of(file);
        let lines: Vec<String> = (0..records)
            .map(|_| {
                index += 1;
                record(index, day)
            })
            .collect();
        let body = format!("{{\"Records\":[{}]}}", lines.join(","));
        write_gzip(&tree.join(format!("f{file:04}.json.gz")), body.as_bytes());
    }
    index
}

/// Writes into `tree` a valid published record (`good.json`, one event),
/// an invalid one (`invalid.json`) and a gzip file of 500 records
/// (`whole.json.gz`).
fn write_good_and_invalid(tree: &Path) {
    std::fs::create_dir_all(tree).unwrap();
    std::fs::copy(
        fixture("cloudtrail/kms/ct-decrypt.1.json"),
        tree.join("good.json"),
    )
    .unwrap();
    std::fs::copy(
        fixture("cloudtrail/invalid-as-published/kms/ct-encrypt.1.json"),
        tree.join("invalid.json"),
    )
    .unwrap();
    let records: Vec<String> = (0..500).map(|i| record(i, 1)).collect();
    let file = format!("{{\"Records\":[{}]}}", records.join(","));
    write_gzip(&tree.join("whole.json.gz"), file.as_bytes());
}

#[test]
fn bad_files_reported_and_exit_code_partial() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("logs");
    write_good_and_invalid(&tree);
    let mut truncated = std::fs::read(tree.join("whole.json.gz")).unwrap();
    truncated.truncate(truncated.len() / 2);
    std::fs::write(tree.join("truncated.json.gz"), truncated).unwrap();
    std::fs::write(tree.join("empty.json.gz"), b"").unwrap();
    std::os::unix::fs::symlink(tree.join("missing.json"), tree.join("dangling.json")).unwrap();

    let store = work.path().join("store");
    let output = keyward(&store, &["ingest", "--no-progress", tree.to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    for name in [
        "invalid.json",
        "truncated.json.gz",
        "empty.json.gz",
        "dangling.json",
    ] {
        let line = stderr.lines().find(|line| line.contains(name));
        assert!(line.is_some(), "no error line names {name}:\n{stderr}");
    }
    assert!(!stderr.contains("good.json"), "{stderr}");
    assert!(stderr.contains("invalid JSON"), "{stderr}");
    assert!(stderr.contains("gzip"), "{stderr}");
    assert!(stderr.contains("the file is empty"), "{stderr}");
    let summary = text(&output.stdout);
    assert!(summary.contains("4 failed"), "{summary}");

    let count = keyward(
        &store,
        &["sql", "--format", "csv", "SELECT count(*) AS n FROM events"],
    );
    assert!(count.status.success());
    let stored: u64 = text(&count.stdout).lines().nth(1).unwrap().parse().unwrap();
    // The good file and the whole gzip; records that the truncated gzip
    // yielded before its error are kept too, when the decoder returned any.
    assert!(stored >= 501, "{stored}");
}

#[test]
fn dry_run_stores_nothing() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("logs");
    write_good_and_invalid(&tree);
    let tree = tree.to_str().unwrap();
    let store = work.path().join("store");
    let summary_of =
        |output: &Output| -> serde_json::Value { serde_json::from_slice(&output.stdout).unwrap() };

    let dry = keyward(&store, &["ingest", "--dry-run", "--no-progress", tree]);
    assert_eq!(dry.status.code(), Some(3), "{}", text(&dry.stderr));
    assert!(text(&dry.stderr).contains("invalid.json"));
    assert!(
        text(&dry.stdout)
            .starts_with("dry run, nothing stored: 3 files (2 read, 0 unchanged, 1 failed")
    );
    assert!(
        text(&dry.stdout).contains("; 501 records read: 501 crypto events, 0 of other services,"),
        "{}",
        text(&dry.stdout)
    );
    assert!(!store.exists(), "a dry run created the store");

    let args = ["ingest", "--no-progress", "--summary", "json", tree];
    let dry_args = [
        "ingest",
        "--dry-run",
        "--no-progress",
        "--summary",
        "json",
        tree,
    ];
    let dry = summary_of(&keyward(&store, &dry_args));
    let ingested = summary_of(&keyward(&store, &args));
    for field in [
        "files_ingested",
        "files_failed",
        "records_read",
        "events_read",
        "errors",
    ] {
        assert_eq!(dry[field], ingested[field], "{field}");
    }
    assert_eq!(dry["events_stored"], 0);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(ingested["dry_run"], false);
    assert_eq!(ingested["events_stored"], 501);

    // On a store, the files that an ingest would skip are skipped, and the
    // store is left as it was.
    let modified = || -> Vec<_> {
        walk(&store)
            .into_iter()
            .map(|path| (std::fs::metadata(&path).unwrap().modified().unwrap(), path))
            .collect()
    };
    let before = modified();
    let again = summary_of(&keyward(&store, &dry_args));
    assert_eq!(again["files_unchanged"], 2);
    assert_eq!(again["files_failed"], 1);
    assert_eq!(again["files_ingested"], 0);
    assert_eq!(modified(), before);

    let file = work.path().join("file");
    std::fs::write(&file, "not a store").unwrap();
    let on_file = keyward(&file, &["ingest", "--dry-run", tree]);
    assert_eq!(on_file.status.code(), Some(1));
    assert!(text(&on_file.stderr).contains("is not a folder"));
}

#[test]
fn store_url_rejected() {
    let work = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .current_dir(work.path())
        .args(["--store", "s3://bucket/store", "sql", "SELECT 1"])
        .env_remove("KEYWARD_STORE")
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("is a URL"),
        "{}",
        text(&output.stderr)
    );

    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .current_dir(work.path())
        .args(["--store", "s3:bucket", "sql", "SELECT 1"])
        .env_remove("KEYWARD_STORE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(std::fs::read_dir(work.path()).unwrap().next().is_none());
}

#[test]
fn reading_commands_create_nothing() {
    let work = tempfile::tempdir().unwrap();
    let store = store_with_dataset(work.path());
    let entries = || -> Vec<_> {
        walkdir::WalkDir::new(&store)
            .sort_by_file_name()
            .into_iter()
            .map(|entry| entry.unwrap().into_path())
            .collect()
    };
    let before = entries();

    for args in [
        &["query", "kms-access-denied"][..],
        &["sql", "SELECT count(*) FROM findings"],
    ] {
        let output = keyward(&store, args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }

    assert_eq!(entries(), before);
}

#[test]
fn error_lines_escape_file_names() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("logs");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a\nerror: forged\u{1b}[31m.json"), b"{bad").unwrap();

    let output = keyward(
        &work.path().join("store"),
        &["ingest", "--no-progress", tree.to_str().unwrap()],
    );

    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(r"a\nerror: forged\u{1b}[31m.json"),
        "{stderr}"
    );
}

#[test]
fn query_list_snapshot() {
    let work = tempfile::tempdir().unwrap();
    let output = keyward(work.path(), &["query", "--list"]);
    assert!(output.status.success());
    insta::assert_snapshot!(text(&output.stdout));
}

#[test]
fn unknown_question_fails_with_hint() {
    let work = tempfile::tempdir().unwrap();
    let output = keyward(work.path(), &["query", "kms-nothing"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("keyward query --list"));
}

#[test]
fn query_without_store_explains() {
    let work = tempfile::tempdir().unwrap();
    let output = keyward(&work.path().join("none"), &["query", "kms-access-denied"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("no keyward store"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn output_formats() {
    let work = tempfile::tempdir().unwrap();
    let store = store_with_dataset(work.path());
    let args = ["--from", "2026-05-01", "--to", "2026-05-31"];
    let run = |format: &str| {
        let mut all = vec!["query", "sm-operations-brkdwn", "--format", format];
        all.extend(args);
        keyward(&store, &all)
    };

    let json: Vec<serde_json::Value> = serde_json::from_slice(&run("json").stdout).unwrap();
    let lines = text(&run("jsonl").stdout);
    assert_eq!(lines.lines().count(), json.len());
    let csv = text(&run("csv").stdout);
    assert_eq!(csv.lines().next(), Some("operation,account,region,count"));
    assert_eq!(csv.lines().count(), json.len() + 1);
    let table = text(&run("table").stdout);
    assert!(table.contains("| operation"));
}

#[test]
fn killed_ingest_leaves_whole_files() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("logs");
    let index = write_tree(&tree, 400, |file| 1 + (file % 28) as u32);
    let store = work.path().join("store");
    let mut child = spawn_small_ingest(&store, &tree, Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !has_parquet_file(&store.join("events")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let partial = keyward(
        &store,
        &["sql", "--format", "csv", "SELECT count(*) AS n FROM events"],
    );
    assert!(
        partial.status.success(),
        "store unreadable after kill: {}",
        text(&partial.stderr)
    );

    let output = keyward(&store, &["ingest", "--no-progress", tree.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let count = keyward(
        &store,
        &["sql", "--format", "csv", "SELECT count(*) AS n FROM events"],
    );
    let stored: usize = text(&count.stdout).lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(stored, index, "every event once, none twice");
}

#[test]
fn writer_failure_ends_one_thread_run() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("logs");
    write_tree(&tree, 40, |_| 1);
    // A file where the writer needs the folder of the events' day makes
    // the writer fail while most files still wait to be read.
    let empty = work.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let store = work.path().join("store");
    let created = keyward(
        &store,
        &["ingest", "--no-progress", empty.to_str().unwrap()],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    std::fs::create_dir_all(store.join("events")).unwrap();
    std::fs::write(store.join("events").join("eventday=20240501"), b"").unwrap();

    let errors = work.path().join("errors.txt");
    let stderr = Stdio::from(std::fs::File::create(&errors).unwrap());
    let mut child = spawn_small_ingest(&store, &tree, stderr);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };

    let status = status.expect("ingest still running 60 s after the writer failed");
    assert_eq!(status.code(), Some(1));
    let errors = std::fs::read_to_string(&errors).unwrap();
    assert!(errors.contains("eventday=20240501"), "{errors}");
}

/// Starts `keyward ingest` of `tree` at one thread with a 1 MB event buffer,
/// so that the writer runs many times while files still wait to be read.
fn spawn_small_ingest(store: &Path, tree: &Path, stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "--store",
            store.to_str().unwrap(),
            "ingest",
            "--no-progress",
        ])
        .args(["--threads", "1", "--buffer-mb", "1", tree.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

fn has_parquet_file(directory: &Path) -> bool {
    walk(directory)
        .iter()
        .any(|path| path.extension().is_some_and(|e| e == "parquet"))
}

fn walk(directory: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            paths.extend(walk(&path));
        } else {
            paths.push(path);
        }
    }
    paths
}

#[test]
fn sql_rejects_writes() {
    let work = tempfile::tempdir().unwrap();
    let store = store_with_dataset(work.path());
    let statements = [
        "INSERT INTO events SELECT * FROM events LIMIT 1",
        "COPY (SELECT 1) TO '/tmp/keyward-should-not-exist.csv'",
        "CREATE TABLE copy AS SELECT * FROM events",
    ];
    for statement in statements {
        let output = keyward(&store, &["sql", statement]);
        assert_eq!(output.status.code(), Some(1), "{statement} was accepted");
    }
    let count = keyward(
        &store,
        &["sql", "--format", "csv", "SELECT count(*) AS n FROM events"],
    );
    let stored: u64 = text(&count.stdout).lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(stored, 62);
}

#[test]
fn demo_keeps_foreign_folder() {
    let work = tempfile::tempdir().unwrap();
    let precious = work.path().join("precious");
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("thesis.txt"), "keep me").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["demo", "--out", precious.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("not made by keyward demo"));
    assert!(precious.join("thesis.txt").exists());
}

#[test]
fn invalid_option_values_exit_2() {
    let work = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 6] = [
        &["ingest", "--threads", "0", "x"],
        &["query", "kms-operation", "--since", "30x"],
        &["query", "kms-operation", "--since", "99999999999999d"],
        &["query", "kms-operation", "--from", "2022-13-01"],
        &[
            "query",
            "kms-operation",
            "--from",
            "2022-12-03",
            "--to",
            "2022-12-01",
        ],
        &["ingest", "s3:///AWSLogs/"],
    ];
    for args in cases {
        let output = keyward(work.path(), args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn csv_writes_list_columns() {
    let work = tempfile::tempdir().unwrap();
    let store = store_with_dataset(work.path());
    let sql = "SELECT resources_uid FROM events WHERE cardinality(resources_uid) > 0 LIMIT 1";
    let output = keyward(&store, &["sql", "--format", "csv", sql]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let csv = text(&output.stdout);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("arn:aws:"), "{csv}");
}

#[test]
fn verbose_logs_hold_no_credentials() {
    let work = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "-vvv",
            "--store",
            work.path().to_str().unwrap(),
            "ingest",
            "--no-progress",
        ])
        .args([
            "--endpoint-url",
            "http://127.0.0.1:1",
            "s3://keyward-test/AWSLogs/",
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIAKEYWARDTESTKEY")
        .env("AWS_SECRET_ACCESS_KEY", "keyward-test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("KEYWARD_LOG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let logs = text(&output.stderr);
    assert!(logs.contains("s3://keyward-test/AWSLogs/"), "{logs}");
    assert!(!logs.contains("AKIAKEYWARDTESTKEY"));
    assert!(!logs.contains("keyward-test-secret"));
}

#[test]
fn usage_records_failed_rotation() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let event = fixture("cloudtrail/secretsmanager/retrieve-ct-entries.1.json");
    let ingest = keyward(&store, &["ingest", event.to_str().unwrap()]);
    assert!(ingest.status.success(), "{}", text(&ingest.stderr));

    let sql = "SELECT asset, CAST(last_rotation_failed AS VARCHAR) AS failed, \
               last_rotation_failed_event_id AS event_id, last_rotation_succeeded \
               FROM usage WHERE last_rotation_failed IS NOT NULL";
    let output = keyward(&store, &["sql", "--format", "csv", sql]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let csv = text(&output.stdout);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert!(
        rows[0].starts_with(
            "arn:aws:secretsmanager:us-east-2:123456789012:secret:MyDatabaseSecret-a1b2c3,2022-09-13T02:17:48"
        ),
        "{csv}"
    );
    assert!(
        rows[0].ends_with(",EXAMPLE3-90ab-cdef-fedc-ba987EXAMPLE,"),
        "{csv}"
    );
}

#[test]
fn long_partition_values_stored() {
    let work = tempfile::tempdir().unwrap();
    let region = "\u{e9}".repeat(150);
    let account = "1".repeat(300);
    let records = [
        record(1, 1).replace("us-east-1", &region),
        record(2, 1).replace("111122223333", &account),
        record(3, 1),
    ];
    let file = work.path().join("long.json");
    std::fs::write(&file, format!("{{\"Records\":[{}]}}", records.join(","))).unwrap();

    let store = work.path().join("store");
    let output = keyward(&store, &["ingest", "--no-progress", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let sql = "SELECT cloud_region, cloud_account_uid FROM events ORDER BY metadata_uid";
    let rows = keyward(&store, &["sql", "--format", "jsonl", sql]);
    assert!(rows.status.success(), "{}", text(&rows.stderr));
    let rows: Vec<serde_json::Value> = text(&rows.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["cloud_region"], region.as_str());
    assert_eq!(rows[1]["cloud_account_uid"], account.as_str());
    assert_eq!(rows[2]["cloud_region"], "us-east-1");
}

#[test]
fn invalid_query_filters_rejected() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let cases: [&[&str]; 3] = [
        &["query", "kms-operation", "--account", "11111111111"],
        &["query", "kms-operation", "--account", ""],
        &["query", "kms-operation", "--region", "EU-WEST-1"],
    ];
    for args in cases {
        let output = keyward(&store, args);

        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains("invalid"), "{args:?}: {stderr}");
    }
}

#[test]
fn window_on_findings_question_warns() {
    let work = tempfile::tempdir().unwrap();
    let store = store_with_dataset(work.path());

    let output = keyward(&store, &["query", "kms-unused-cmks", "--since", "30d"]);

    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("do not apply"),
        "{}",
        text(&output.stderr)
    );
}
