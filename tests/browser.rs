//! The dashboards and the HTML report in a real browser: Debian's headless
//! Chromium, driven over WebDriver by chromedriver, against `keyward serve`
//! on a free loopback port.
//!
//! Screenshots of every page are kept in `target/browser-screenshots/`.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::dashboard::{
    ACCOUNT_A, ACCOUNT_B, CERT_EXPIRING, CERT_LATER, CERT_PENDING, KEY_A, KEY_B_SIGNING,
    MARKUP_DESCRIPTION, MARKUP_KEY_ALGORITHM, QUOTED_ALIAS, SCRIPT_TAG_VALUE, SECRET_A,
    dashboard_store,
};
use common::fixture;
use common::webdriver::{Driver, Session};
use serde_json::Value;

/// The window of the hand-checked results in `tests/fixtures/queries`.
const WINDOW: &str = "from=2026-05-01&to=2026-05-31";

fn keyward_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_keyward"))
}

fn screenshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/browser-screenshots")
        .join(format!("{name}.png"))
}

/// `keyward serve` on a free loopback port, stopped when dropped.
struct Server {
    child: Child,
    base: String,
    /// The rest of the output, open so that the server can still print.
    _output: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(store: &Path) -> Self {
        let mut child = Command::new(keyward_binary())
            .arg("--store")
            .arg(store)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("KEYWARD_STORE")
            .env_remove("KEYWARD_SERVE_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut output = BufReader::new(child.stdout.take().unwrap());
        output.read_line(&mut line).unwrap();
        let start = line.find("http://").expect("serve printed no address");
        let address = line[start..].split_whitespace().next().unwrap();
        Self {
            child,
            base: address.trim_end_matches('/').to_owned(),
            _output: output,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a hand-checked result and adds up its `count` per value of
/// `column`, keeping the rows that `keep` accepts.
fn expected_sums(
    question: &str,
    column: &str,
    keep: impl Fn(&Value) -> bool,
) -> BTreeMap<String, f64> {
    let path = fixture(&format!("queries/expected/{question}.json"));
    let rows: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut sums = BTreeMap::new();
    for row in rows.iter().filter(|row| keep(row)) {
        let name = row[column].as_str().unwrap_or("").to_owned();
        *sums.entry(name).or_insert(0.0) += row["count"].as_f64().unwrap();
    }
    sums
}

/// Returns a pie chart's slices as name to value.
fn pie_slices(session: &Session, chart: &str) -> BTreeMap<String, f64> {
    let script = format!(
        "return window.keywardCharts[{chart:?}].getOption().series[0].data\
         .map(function (d) {{ return [d.name, d.value]; }})"
    );
    let value = session.execute(&script);
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_owned(),
                pair[1].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Returns a bar chart's values as (category, series) to value, leaving
/// out zeros that only fill the stacks.
fn bar_values(session: &Session, chart: &str) -> BTreeMap<(String, String), f64> {
    let script = format!(
        "var option = window.keywardCharts[{chart:?}].getOption();\
         var categories = option.xAxis[0].data;\
         var out = [];\
         option.series.forEach(function (series) {{\
           series.data.forEach(function (value, index) {{\
             if (value) {{ out.push([categories[index], series.name, value]); }}\
           }});\
         }});\
         return out;"
    );
    let value = session.execute(&script);
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|triple| {
            let key = (
                triple[0].as_str().unwrap().to_owned(),
                triple[1].as_str().unwrap().to_owned(),
            );
            (key, triple[2].as_f64().unwrap())
        })
        .collect()
}

/// Loads a page, waits for its data, saves a screenshot and checks that
/// the console has no error.
fn open_page(session: &Session, url: &str, screenshot: &str) {
    session.goto(url);
    let state = session.wait_until_ready();
    let message = session.execute("return document.getElementById('message').textContent");
    assert_eq!(state, "true", "{url} failed to load: {message}");
    session.screenshot(&screenshot_path(screenshot));
    let errors: Vec<Value> = session
        .console()
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "{url} logged errors: {errors:#?}");
    let injected = session.execute("return window.keywardInjected === undefined");
    assert_eq!(injected, true, "{url} ran a script from the store");
}

fn body_text(session: &Session) -> String {
    session
        .execute("return document.body.innerText")
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn dashboards_in_chromium() {
    let work = tempfile::tempdir().unwrap();
    let store = dashboard_store(keyward_binary(), work.path());
    let server = Server::start(&store);
    let driver = Driver::start();
    let session = driver.session(&work.path().join("profile"), &[]);
    let base = &server.base;

    check_overview(&session, base);
    check_kms(&session, base);
    check_certificates(&session, base);
    check_secrets(&session, base);
    check_quantum(&session, base);
    check_findings(&session, base);
    check_asset_page(&session, base, &store);
}

fn check_overview(session: &Session, base: &str) {
    open_page(session, &format!("{base}/"), "overview");
    let severities = bar_values(session, "severities");
    assert!(
        severities.values().sum::<f64>() > 0.0,
        "no open finding drawn: {severities:?}"
    );
    let trend = session.execute(
        "return window.keywardCharts.trend.getOption().series.map(function (s) { return s.data; })",
    );
    let failing = trend[0].as_array().unwrap();
    assert_eq!(failing.len(), 2, "one point per check: {trend}");
    assert!(
        failing[0].as_f64() > failing[1].as_f64(),
        "the second check fixed a key's rotation: {trend}"
    );
    let assets = bar_values(session, "assets");
    assert_eq!(
        assets.get(&("KMS keys".to_owned(), "Enabled".to_owned())),
        Some(&4.0),
        "{assets:?}"
    );
    assert_eq!(
        assets.get(&("Secrets".to_owned(), "Active".to_owned())),
        Some(&2.0),
        "{assets:?}"
    );
}

fn check_kms(session: &Session, base: &str) {
    open_page(session, &format!("{base}/kms?{WINDOW}"), "kms");
    let operations = pie_slices(session, "kms-operations");
    assert_eq!(
        operations,
        expected_sums("kms-operation", "operation", |_| true)
    );

    let denied = bar_values(session, "kms-denied");
    let denied_total: f64 = denied.values().sum();
    let expected_denied: f64 = expected_sums("kms-access-denied", "operation", |_| true)
        .values()
        .sum();
    assert_eq!(denied_total, expected_denied, "{denied:?}");

    let rotation = bar_values(session, "kms-rotation");
    assert_eq!(
        rotation,
        BTreeMap::from([
            (("111122223333".to_owned(), "eu-west-1".to_owned()), 1.0),
            (("111122223333".to_owned(), "us-east-1".to_owned()), 1.0),
        ])
    );
    let unused =
        session.execute("return document.querySelector('#kms-unused .big-number').textContent");
    assert_eq!(unused, "1");

    let text = body_text(session);
    assert!(
        text.contains(QUOTED_ALIAS),
        "the alias is not shown as text"
    );
    assert!(
        text.contains(MARKUP_DESCRIPTION),
        "the description is not shown as text"
    );

    // A filter changes the numbers: account B alone.
    open_page(
        session,
        &format!("{base}/kms?{WINDOW}&accounts={ACCOUNT_B}"),
        "kms-account-b",
    );
    let filtered = pie_slices(session, "kms-operations");
    let expected = expected_sums("kms-operation", "operation", |row| {
        row["account"] == ACCOUNT_B
    });
    assert_eq!(filtered, expected);
    assert_ne!(filtered, operations, "the account filter changed nothing");
    let selected = session.execute(
        "return Array.from(document.querySelector('select[name=accounts]').selectedOptions)\
         .map(function (o) { return o.value; })",
    );
    assert_eq!(
        selected,
        serde_json::json!([ACCOUNT_B]),
        "the filter is not kept"
    );
}

fn check_certificates(session: &Session, base: &str) {
    open_page(
        session,
        &format!("{base}/certificates?{WINDOW}"),
        "certificates",
    );
    let operations = pie_slices(session, "cert-operations");
    assert_eq!(
        operations,
        expected_sums("cert-operation-brkdown", "operation", |_| true)
    );

    let expiring = bar_values(session, "cert-expiring");
    let account = |arn: &str| arn.split(':').nth(4).unwrap().to_owned();
    let region = |arn: &str| arn.split(':').nth(3).unwrap().to_owned();
    assert_eq!(
        expiring,
        BTreeMap::from([
            ((account(CERT_EXPIRING), region(CERT_EXPIRING)), 1.0),
            ((account(CERT_LATER), region(CERT_LATER)), 1.0),
        ])
    );

    let issued = bar_values(session, "cert-issued");
    let expected_issued = expected_sums("certs-issued", "account", |_| true);
    let drawn: BTreeMap<String, f64> = issued
        .into_iter()
        .map(|((account, _), value)| (account, value))
        .collect();
    assert_eq!(drawn, expected_issued);
    let pending =
        session.execute("return document.querySelector('#cert-pending .big-number').textContent");
    assert_eq!(pending, "1");
    let grand_total = session
        .execute("return document.querySelector('#cert-pivot tr.grand td:last-child').textContent");
    let expected_total: f64 = expected_sums("cert-operation-brkdown", "operation", |_| true)
        .values()
        .sum();
    assert_eq!(grand_total, expected_total.to_string());
}

fn check_secrets(session: &Session, base: &str) {
    open_page(session, &format!("{base}/secrets?{WINDOW}"), "secrets");
    let operations = pie_slices(session, "sm-operations");
    assert_eq!(
        operations,
        expected_sums("sm-operations-brkdwn", "operation", |_| true)
    );
    let deleted = bar_values(session, "sm-deleted");
    let drawn: BTreeMap<String, f64> = deleted
        .into_iter()
        .map(|((account, _), value)| (account, value))
        .collect();
    assert_eq!(drawn, expected_sums("sm-deleted", "account", |_| true));
    let unused =
        session.execute("return document.querySelector('#sm-unused .big-number').textContent");
    assert_eq!(unused, "1");
}

/// Returns the ARNs that the table of a panel links to, in order.
fn linked_arns(session: &Session, panel: &str) -> Vec<String> {
    let script = format!(
        "return Array.from(document.querySelectorAll('#{panel} tbody a.arn'))\
         .map(function (a) {{ return a.textContent; }})"
    );
    let value = session.execute(&script);
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|arn| arn.as_str().unwrap().to_owned())
        .collect()
}

fn check_quantum(session: &Session, base: &str) {
    open_page(session, &format!("{base}/quantum"), "quantum");
    let pair = |category: &str, class: &str| (category.to_owned(), class.to_owned());
    let services = bar_values(session, "pq-services");
    assert_eq!(
        services,
        BTreeMap::from([
            (pair("KMS keys", "quantum-safe"), 3.0),
            (pair("KMS keys", "quantum-vulnerable"), 1.0),
            (pair("ACM certificates", "quantum-vulnerable"), 3.0),
            (pair("Private CAs", "unknown"), 1.0),
        ])
    );
    let accounts = bar_values(session, "pq-accounts");
    assert_eq!(
        accounts,
        BTreeMap::from([
            (pair(ACCOUNT_A, "quantum-safe"), 2.0),
            (pair(ACCOUNT_A, "quantum-vulnerable"), 2.0),
            (pair(ACCOUNT_A, "unknown"), 1.0),
            (pair(ACCOUNT_B, "quantum-safe"), 1.0),
            (pair(ACCOUNT_B, "quantum-vulnerable"), 2.0),
        ])
    );
    assert_eq!(
        linked_arns(session, "table-quantum-assets"),
        [CERT_LATER, CERT_EXPIRING, CERT_PENDING, KEY_B_SIGNING],
        "vulnerable assets by account, Region and ARN"
    );
    let text = body_text(session);
    assert!(
        text.contains(MARKUP_KEY_ALGORITHM),
        "the unknown key algorithm is not shown as text"
    );
    assert!(text.contains("RSA-2048"), "the algorithm table is missing");
    let navigation = session.execute(
        "return Array.from(document.querySelectorAll('a[data-nav]'))\
         .map(function (a) { return a.textContent; })",
    );
    assert!(
        navigation
            .as_array()
            .unwrap()
            .contains(&Value::from("Quantum readiness")),
        "{navigation}"
    );

    open_page(
        session,
        &format!("{base}/quantum?accounts={ACCOUNT_B}"),
        "quantum-account-b",
    );
    assert_eq!(
        linked_arns(session, "table-quantum-assets"),
        [CERT_PENDING, KEY_B_SIGNING]
    );
    let filtered: BTreeMap<(String, String), f64> = bar_values(session, "pq-accounts");
    assert_eq!(
        filtered,
        BTreeMap::from([
            (pair(ACCOUNT_B, "quantum-safe"), 1.0),
            (pair(ACCOUNT_B, "quantum-vulnerable"), 2.0),
        ])
    );

    // The links of the list lead to the asset's page, with the filters.
    session.click("#table-quantum-assets tbody a.arn");
    let state = session.wait_until_ready();
    assert_eq!(state, "true");
    let title = session.execute("return document.getElementById('asset-title').textContent");
    assert!(title.as_str().unwrap().ends_with(CERT_PENDING), "{title}");
    let asset_url = session.execute("return location.href");
    assert!(
        asset_url.as_str().unwrap().contains(ACCOUNT_B),
        "the link dropped the filters: {asset_url}"
    );
}

fn check_findings(session: &Session, base: &str) {
    open_page(session, &format!("{base}/findings"), "findings");
    let total =
        session.execute("return document.querySelector('[data-table=findings]').dataset.total");
    assert!(
        total.as_str().unwrap().parse::<u32>().unwrap() > 0,
        "{total}"
    );

    open_page(
        session,
        &format!("{base}/findings?rule=kms-key-rotation&sort=resource_arn&order=desc"),
        "findings-rotation",
    );
    let resources = session.execute(
        "return Array.from(document.querySelectorAll('[data-table=findings] tbody a.arn'))\
         .map(function (a) { return a.textContent; })",
    );
    let resources: Vec<&str> = resources
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap())
        .collect();
    assert_eq!(resources.len(), 2, "{resources:?}");
    assert!(
        resources[0] > resources[1],
        "not sorted descending: {resources:?}"
    );
}

fn check_asset_page(session: &Session, base: &str, store: &Path) {
    // The asset links of the KMS page lead to the asset's page.
    open_page(session, &format!("{base}/kms?{WINDOW}"), "kms");
    session.click("#table-kms-top-keys tbody a.arn");
    let state = session.wait_until_ready();
    assert_eq!(state, "true");
    let title = session.execute("return document.getElementById('asset-title').textContent");
    assert_eq!(title, format!("KMS key: {KEY_A}"));
    let asset_url = session.execute("return location.href");
    assert!(
        asset_url.as_str().unwrap().contains(WINDOW),
        "the link dropped the filters: {asset_url}"
    );
    open_page(session, asset_url.as_str().unwrap(), "asset-key");

    let points = session.execute(
        "return window.keywardCharts['asset-timeline'].getOption().series\
         .map(function (s) { return s.data.reduce(function (a, b) { return a + b; }, 0); })",
    );
    let store = keyward_store::Store::open(store).unwrap();
    let expected = common::query_json(
        &store,
        &format!(
            "SELECT count(CASE WHEN status = 'Success' THEN 1 END) AS successes,
                    count(CASE WHEN status = 'Failure' THEN 1 END) AS failures
             FROM crypto_events
             WHERE asset = '{KEY_A}' AND time >= '2026-05-01T00:00:00Z'
               AND time < '2026-05-31T00:00:00Z'"
        ),
    );
    assert_eq!(points[0], expected[0]["successes"], "successes per day");
    assert_eq!(points[1], expected[0]["failures"], "failures per day");

    let text = body_text(session);
    assert!(
        text.contains(SCRIPT_TAG_VALUE),
        "the tag value is not shown as text"
    );
    assert!(
        text.contains("999988887777"),
        "the policy's other account is not named"
    );
    let scripts = session.execute("return document.querySelectorAll('script').length");
    assert_eq!(scripts, 2);

    open_page(
        session,
        &format!("{base}/asset?arn={}", SECRET_A.replace('/', "%2F")),
        "asset-secret",
    );
    assert!(body_text(session).contains("secret-unused"));
}

#[test]
fn report_opens_offline_in_chromium() {
    let work = tempfile::tempdir().unwrap();
    let store = dashboard_store(keyward_binary(), work.path());
    let report = work.path().join("report.html");
    let pdf = work.path().join("report.pdf");
    let output = Command::new(keyward_binary())
        .arg("--store")
        .arg(&store)
        .args(["report", "--html", report.to_str().unwrap()])
        .args(["--pdf", pdf.to_str().unwrap()])
        .env_remove("KEYWARD_STORE")
        .env("KEYWARD_CHROMIUM", common::webdriver::chromium())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pdf_bytes = std::fs::read(&pdf).unwrap();
    assert!(pdf_bytes.starts_with(b"%PDF"), "not a PDF file");

    let driver = Driver::start();
    // Any request that slipped past the offline switch would go to a port
    // where nothing listens.
    let session = driver.session(
        &work.path().join("profile"),
        &["--proxy-server=http://127.0.0.1:9"],
    );
    session.set_offline();
    open_page(&session, &format!("file://{}", report.display()), "report");

    let loaded = session.execute("return performance.getEntriesByType('resource').length");
    assert_eq!(loaded, 0, "the report loaded a resource");
    let store = keyward_store::Store::open(&store).unwrap();
    let failing = common::query_json(
        &store,
        "SELECT count(*) AS n FROM findings WHERE verdict = 'FAIL' AND suppressed_by IS NULL",
    );
    let rows =
        session.execute("return document.querySelectorAll('#failing-findings tbody tr').length");
    assert_eq!(rows, failing[0]["n"], "one row per failing finding");
    let severities = bar_values(&session, "severities");
    assert_eq!(
        severities.values().sum::<f64>(),
        failing[0]["n"].as_f64().unwrap(),
        "the severity chart counts every failing finding"
    );
    let text = body_text(&session);
    assert!(
        text.contains("kms-key-external-access"),
        "a failing rule is missing"
    );
    assert!(text.contains("999988887777"), "the evidence is missing");
}
