//! `keyward serve` and `keyward demo` as a user runs them: the address
//! rules, the token, and an API that returns what `keyward query` prints.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::fixture;
use keyward_store::query::QUESTIONS;
use serde_json::Value;

fn keyward() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
    command
        .env_remove("KEYWARD_STORE")
        .env_remove("KEYWARD_SERVE_TOKEN");
    command
}

/// A running keyward process that serves, stopped when dropped.
struct Served {
    child: Child,
    base: String,
    /// The rest of the output, open so that the process can still print.
    _output: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a serving command and reads its output up to the address.
fn start_serving(mut command: Command) -> Served {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the command ended before serving")
            .unwrap();
        if let Some(start) = line.find("http://") {
            let address = line[start..].split_whitespace().next().unwrap();
            let end = address[7..].find('/').map_or(address.len(), |i| i + 7);
            break address[..end].to_owned();
        }
    };
    Served {
        child,
        base,
        _output: lines,
    }
}

/// Sends a GET request and returns the status and body.
fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

fn ingested_store(directory: &Path) -> std::path::PathBuf {
    let store = directory.join("store");
    let events = fixture("queries/events.json");
    let output = keyward()
        .arg("--store")
        .arg(&store)
        .args(["ingest", events.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success());
    store
}

#[test]
fn question_api_matches_keyward_query() {
    let work = tempfile::tempdir().unwrap();
    let store = ingested_store(work.path());
    let mut command = keyward();
    command
        .arg("--store")
        .arg(&store)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let served = start_serving(command);
    let window = ["--from", "2026-05-01", "--to", "2026-05-31"];

    for question in &QUESTIONS {
        let printed = keyward()
            .arg("--store")
            .arg(&store)
            .args(["query", question.name, "--format", "json"])
            .args(window)
            .output()
            .unwrap();
        assert!(printed.status.success(), "{}", question.name);
        let expected: Value = serde_json::from_slice(&printed.stdout).unwrap();

        let path = format!(
            "/api/questions/{}?from=2026-05-01&to=2026-05-31&page_size=500",
            question.name
        );
        let (status, body) = get(&served.base, &path, &[]);
        assert_eq!(status, 200, "{}: {body}", question.name);
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(page["rows"], expected, "{}", question.name);
        assert_eq!(
            page["total"],
            expected.as_array().unwrap().len(),
            "{}",
            question.name
        );
    }
}

#[test]
fn non_loopback_address_needs_a_token() {
    let work = tempfile::tempdir().unwrap();
    let store = ingested_store(work.path());
    let output = keyward()
        .arg("--store")
        .arg(&store)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without a token"), "{stderr}");

    let short = keyward()
        .arg("--store")
        .arg(&store)
        .args(["serve", "--token", "short"])
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("too short"));
}

#[test]
fn token_file_guards_every_request() {
    let work = tempfile::tempdir().unwrap();
    let store = ingested_store(work.path());
    let token_file = work.path().join("token");
    std::fs::write(&token_file, "0123456789abcdef0123456789abcdef\n").unwrap();
    let mut command = keyward();
    command
        .arg("--store")
        .arg(&store)
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file);
    let served = start_serving(command);

    let (status, _) = get(&served.base, "/api/overview", &[]);
    assert_eq!(status, 401);
    let (status, _) = get(&served.base, "/", &[]);
    assert_eq!(status, 401);
    let bearer = ("Authorization", "Bearer 0123456789abcdef0123456789abcdef");
    let (status, body) = get(&served.base, "/api/overview", &[bearer]);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn demo_ends_by_serving_its_store() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("demo");
    let mut command = keyward();
    command
        .current_dir(work.path())
        .args(["demo", "--out", out.to_str().unwrap()])
        .args(["--accounts", "2", "--regions", "us-east-1", "--days", "20"])
        .args(["--events-per-day", "200", "--listen", "127.0.0.1:0"]);
    let served = start_serving(command);

    let (status, body) = get(&served.base, "/api/overview?since=all", &[]);
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(
        &served.base,
        "/api/questions/sm-operations-brkdwn?since=all",
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    assert!(page["total"].as_u64().unwrap() > 0, "{page}");
    let (status, page) = get(&served.base, "/kms?since=all", &[]);
    assert_eq!(status, 200);
    assert!(page.contains("data-page=\"kms\""), "{page}");
}

/// Counts the assets of the dashboard's `services` rows per class, leaving
/// out the Private CAs, which no readiness rule judges.
fn class_counts_without_authorities(dashboard: &Value) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for row in dashboard["services"].as_array().unwrap() {
        if row["service"] == "Private CAs" {
            continue;
        }
        let class = row["class"].as_str().unwrap().to_owned();
        *counts.entry(class).or_insert(0) += row["assets"].as_u64().unwrap();
    }
    counts
}

/// Counts the findings of the readiness rules per quantum class, from
/// their evidence. A finding without a class counts as `unknown`.
fn class_counts_of_findings(findings: &[Value]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for finding in findings {
        let evidence: Value = serde_json::from_str(finding["evidence"].as_str().unwrap()).unwrap();
        let class = evidence["quantum_class"].as_str().unwrap_or("unknown");
        *counts.entry(class.to_owned()).or_insert(0) += 1;
    }
    counts
}

fn quantum_dashboard(base: &str, query: &str) -> Value {
    let (status, body) = get(base, &format!("/api/quantum{query}"), &[]);
    assert_eq!(status, 200, "{query}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Reads every page of `/api/quantum/assets` for a query that starts with
/// `?` or is empty.
fn quantum_assets(base: &str, query: &str) -> Vec<Value> {
    let separator = if query.is_empty() { "?" } else { "&" };
    let mut rows = Vec::new();
    for page in 1.. {
        let path = format!("/api/quantum/assets{query}{separator}page={page}&page_size=100");
        let (status, body) = get(base, &path, &[]);
        assert_eq!(status, 200, "{path}: {body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        rows.extend(page["rows"].as_array().unwrap().iter().cloned());
        if rows.len() as u64 >= page["total"].as_u64().unwrap() {
            break;
        }
    }
    rows
}

#[test]
fn quantum_api_agrees_with_check() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("demo");
    let generated = keyward()
        .args(["demo", "--no-serve", "--out", out.to_str().unwrap()])
        .args(["--accounts", "2", "--regions", "us-east-1,eu-west-1"])
        .args(["--days", "20", "--events-per-day", "100"])
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let store_path = out.join("store");
    let store = keyward_store::Store::open(&store_path).unwrap();
    let findings = common::query_json(
        &store,
        "SELECT resource_arn, account_id, verdict, evidence FROM findings
         WHERE rule_id IN ('kms-key-quantum-readiness', 'acm-certificate-quantum-readiness')",
    );
    assert!(!findings.is_empty(), "the check judged no key");
    let mut command = keyward();
    command
        .arg("--store")
        .arg(&store_path)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let served = start_serving(command);

    let dashboard = quantum_dashboard(&served.base, "");
    assert_eq!(
        class_counts_without_authorities(&dashboard),
        class_counts_of_findings(&findings)
    );
    let listed = quantum_assets(&served.base, "");
    let at_risk: BTreeSet<&str> = listed
        .iter()
        .filter(|asset| asset["service"] != "Private CAs")
        .map(|asset| asset["arn"].as_str().unwrap())
        .collect();
    let failing: BTreeSet<&str> = findings
        .iter()
        .filter(|finding| finding["verdict"] == "FAIL")
        .map(|finding| finding["resource_arn"].as_str().unwrap())
        .collect();
    assert!(
        !failing.is_empty(),
        "the check found no quantum-vulnerable asset"
    );
    assert_eq!(at_risk, failing);

    // Each key and certificate is in exactly one row of the algorithms.
    let algorithms = dashboard["algorithms"].as_array().unwrap();
    let sum = |column: &str| -> u64 {
        algorithms
            .iter()
            .map(|row| row[column].as_u64().unwrap())
            .sum()
    };
    let services = dashboard["services"].as_array().unwrap();
    let assets_of = |service: &str| -> u64 {
        services
            .iter()
            .filter(|row| row["service"] == service)
            .map(|row| row["assets"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum("keys"), assets_of("KMS keys"));
    assert_eq!(
        sum("certificates"),
        assets_of("ACM certificates") + assets_of("Private CAs")
    );

    let accounts: BTreeSet<&str> = findings
        .iter()
        .map(|finding| finding["account_id"].as_str().unwrap())
        .collect();
    for account in accounts {
        let filtered = quantum_dashboard(&served.base, &format!("?accounts={account}"));
        let of_account: Vec<Value> = findings
            .iter()
            .filter(|finding| finding["account_id"] == account)
            .cloned()
            .collect();
        assert_eq!(
            class_counts_without_authorities(&filtered),
            class_counts_of_findings(&of_account),
            "{account}"
        );
        for row in filtered["accounts"].as_array().unwrap() {
            assert_eq!(row["account"], account);
        }
    }

    let european = quantum_assets(&served.base, "?regions=eu-west-1");
    assert!(!european.is_empty(), "no asset at risk in eu-west-1");
    let regions: BTreeSet<&str> = european
        .iter()
        .map(|asset| asset["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, BTreeSet::from(["eu-west-1"]));

    let sorted = quantum_assets(&served.base, "?sort=algorithm&order=desc");
    let algorithms: Vec<&str> = sorted
        .iter()
        .map(|asset| asset["algorithm"].as_str().unwrap())
        .collect();
    assert!(
        algorithms.is_sorted_by(|a, b| a >= b),
        "not sorted descending: {algorithms:?}"
    );
    assert_eq!(sorted.len(), listed.len());
    let (status, body) = get(&served.base, "/api/quantum/assets?sort=secret", &[]);
    assert_eq!(status, 400, "{body}");

    let (status, body) = get(&served.base, "/api/quantum?regions=nowhere", &[]);
    assert_eq!(status, 400, "{body}");
}
