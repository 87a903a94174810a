//! `keyward export` as a user runs it: a store filled by a scan of a moto
//! server of the test's own and a check, then every format, and the import
//! into Security Hub.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

#[path = "../crates/keyward-scan/tests/common/mod.rs"]
mod emulator;
mod emulator_cli;

use std::path::{Path, PathBuf};
use std::process::Command;

use emulator::{Action, Moto, Proxy, make_certificate};
use emulator_cli::{keyward, sdk_config, text};
use keyward_export::ocsf_schema::Schema;

/// Secret value stored in moto, which no export may contain.
const SECRET_VALUE: &str = "never-read-4f1c";

/// Creates a key without rotation and a secret without rotation, scans
/// and checks them, and returns the store and the key id.
fn checked_store(moto: &Moto, work: &Path) -> (PathBuf, String) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key_id = runtime.block_on(async {
        let config = sdk_config(&moto.endpoint).await;
        let key = aws_sdk_kms::Client::new(&config)
            .create_key()
            .description("=HYPERLINK(\"http://example.invalid\")")
            .send()
            .await
            .unwrap();
        aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name("db-password")
            .secret_string(SECRET_VALUE)
            .send()
            .await
            .unwrap();
        key.key_metadata.unwrap().key_id
    });
    let store = work.join("store");
    let scan = keyward(&store, &moto.endpoint, &["scan", "--regions", "us-east-1"]);
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan.stderr));
    let check = keyward(&store, &moto.endpoint, &["check"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stderr));
    (store, key_id)
}

/// Runs `keyward export --format FORMAT --out FILE` and returns the file's
/// text.
fn export_to_file(store: &Path, endpoint: &str, format: &str, out: &Path) -> String {
    let output = keyward(
        store,
        endpoint,
        &["export", "--format", format, "--out", out.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("Wrote "),
        "{}",
        text(&output.stderr)
    );
    let content = std::fs::read_to_string(out).unwrap();
    assert!(
        !content.contains(SECRET_VALUE),
        "{format} contains the secret value"
    );
    content
}

/// Path of the SARIF validator that `scripts/test` installs into `.venv`.
fn sarif_kit() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYWARD_TEST_SARIF_KIT") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/sarif-kit");
    assert!(
        path.exists(),
        "sarif-kit not found: run scripts/test, which installs it into .venv"
    );
    path
}

fn ocsf_schema() -> Schema {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/keyward-export/tests/fixtures/ocsf/schema-1.1.0");
    Schema::load(&root).unwrap()
}

#[test]
fn export_writes_every_format() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    let (store, key_id) = checked_store(&moto, work.path());
    let out = |name: &str| work.path().join(name);

    let json = export_to_file(&store, &moto.endpoint, "json", &out("findings.json"));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert!(rows.len() >= 2, "{json}");
    assert!(rows.iter().all(|row| row["verdict"] != "PASS"));
    let rotation = rows
        .iter()
        .find(|row| row["rule_id"] == "kms-key-rotation")
        .unwrap();
    assert!(
        rotation["resource_arn"]
            .as_str()
            .unwrap()
            .ends_with(&key_id)
    );
    assert_eq!(rotation["evidence"]["rotation_enabled"], false);
    assert!(rotation["risk"].is_string());
    assert!(rotation["remediation"].is_string());

    let all = keyward(
        &store,
        &moto.endpoint,
        &["export", "--all", "--format", "jsonl"],
    );
    assert_eq!(all.status.code(), Some(0), "{}", text(&all.stderr));
    let lines: Vec<serde_json::Value> = text(&all.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(lines.len() > rows.len());
    assert!(lines.iter().any(|line| line["verdict"] == "PASS"));

    let csv = export_to_file(&store, &moto.endpoint, "csv", &out("findings.csv"));
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "run_id");
    assert!(header.iter().any(|column| column == "remediation_cli"));
    assert_eq!(reader.records().count(), rows.len());

    let sarif_path = out("findings.sarif");
    let sarif = export_to_file(&store, &moto.endpoint, "sarif", &sarif_path);
    let validation = Command::new(sarif_kit())
        .arg("validate")
        .arg(&sarif_path)
        .output()
        .unwrap();
    assert_eq!(
        validation.status.code(),
        Some(0),
        "SARIF schema errors: {}",
        text(&validation.stderr)
    );
    let log: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    assert_eq!(
        log["runs"][0]["results"].as_array().unwrap().len(),
        rows.len()
    );

    let asff = export_to_file(&store, &moto.endpoint, "asff", &out("findings.asff.json"));
    let findings: Vec<serde_json::Value> = serde_json::from_str(&asff).unwrap();
    assert_eq!(findings.len(), rows.len());
    for finding in &findings {
        for name in [
            "SchemaVersion",
            "Id",
            "ProductArn",
            "GeneratorId",
            "AwsAccountId",
            "Types",
            "CreatedAt",
            "UpdatedAt",
            "Severity",
            "Title",
            "Description",
            "Resources",
        ] {
            assert!(finding.get(name).is_some(), "ASFF finding without {name}");
        }
        assert_eq!(finding["SchemaVersion"], "2018-10-08");
        assert_eq!(
            finding["ProductArn"],
            "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
        );
    }
    let key_finding = findings
        .iter()
        .find(|finding| finding["GeneratorId"] == "keyward/kms-key-rotation")
        .unwrap();
    let details = &key_finding["Resources"][0]["Details"]["AwsKmsKey"];
    assert_eq!(details["KeyId"], key_id.as_str());
    assert_eq!(
        details["Description"],
        "=HYPERLINK(\"http://example.invalid\")"
    );

    let ocsf = export_to_file(&store, &moto.endpoint, "ocsf", &out("findings.ocsf.jsonl"));
    let schema = ocsf_schema();
    let mut events = 0;
    for line in ocsf.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let errors = schema.validate(&event);
        assert!(errors.is_empty(), "{errors:#?}\n{line}");
        events += 1;
    }
    assert_eq!(events, rows.len());

    let lake = out("lake");
    let parquet = keyward(
        &store,
        &moto.endpoint,
        &[
            "export",
            "--format",
            "ocsf-parquet",
            "--out",
            lake.to_str().unwrap(),
        ],
    );
    assert_eq!(parquet.status.code(), Some(0), "{}", text(&parquet.stderr));
    let partition = lake.join("ext/keyward/region=us-east-1/accountId=123456789012");
    let days: Vec<PathBuf> = std::fs::read_dir(&partition)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(days.len(), 1);
    let day = days[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        day.starts_with("eventDay=") && day.len() == "eventDay=YYYYMMDD".len(),
        "{day}"
    );
    let files: Vec<PathBuf> = std::fs::read_dir(&days[0])
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let bytes = std::fs::read(&files[0]).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    assert!(files[0].extension().is_some_and(|e| e == "parquet"));
}

#[test]
fn sarif_validator_rejects_a_broken_log() {
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("broken.sarif");
    std::fs::write(&path, r#"{"version": "2.1.0", "runs": [{"results": []}]}"#).unwrap();
    let validation = Command::new(sarif_kit())
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    // A run without `tool` is invalid SARIF: the check above can fail.
    assert_eq!(
        validation.status.code(),
        Some(1),
        "{}",
        text(&validation.stderr)
    );
}

#[test]
fn invalid_export_options_are_rejected() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let empty = keyward(&store, &moto.endpoint, &["export"]);
    assert_eq!(empty.status.code(), Some(1));
    assert!(
        text(&empty.stderr).contains("no store"),
        "{}",
        text(&empty.stderr)
    );

    let scan = keyward(&store, &moto.endpoint, &["scan", "--regions", "us-east-1"]);
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan.stderr));
    let unchecked = keyward(&store, &moto.endpoint, &["export"]);
    assert_eq!(unchecked.status.code(), Some(1));
    assert!(
        text(&unchecked.stderr).contains("no check run"),
        "{}",
        text(&unchecked.stderr)
    );
    let check = keyward(&store, &moto.endpoint, &["check"]);
    assert!(check.status.code().is_some(), "{}", text(&check.stderr));
    let missing_run = keyward(&store, &moto.endpoint, &["export", "--run", "nope"]);
    assert_eq!(missing_run.status.code(), Some(1));
    assert!(text(&missing_run.stderr).contains("check run \"nope\" not found"));

    let no_folder = keyward(
        &store,
        &moto.endpoint,
        &["export", "--format", "ocsf-parquet"],
    );
    assert_eq!(no_folder.status.code(), Some(1));
    assert!(text(&no_folder.stderr).contains("--out DIR"));

    for args in [
        &["export", "--to", "security-hub", "--format", "csv"][..],
        &["export", "--region", "bad region"],
        &["export", "--account", "12"],
        &["export", "--format", "xml"],
    ] {
        let output = keyward(&store, &moto.endpoint, args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}

/// Returns every finding in Security Hub, with `GetFindings`.
fn security_hub_findings(endpoint: &str) -> Vec<aws_sdk_securityhub::types::AwsSecurityFinding> {
    // Deserializing a finding of the Security Hub SDK in a debug build
    // needs more stack than a test thread's 2 MiB, so the request runs on
    // a worker thread with a larger stack.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_stack_size(32 * 1024 * 1024)
        .enable_all()
        .build()
        .unwrap();
    let endpoint = endpoint.to_owned();
    runtime
        .block_on(runtime.spawn(async move {
            let config = sdk_config(&endpoint).await;
            let client = aws_sdk_securityhub::Client::new(&config);
            let mut findings = Vec::new();
            let mut pages = client.get_findings().into_paginator().send();
            while let Some(page) = pages.next().await {
                findings.extend(page.unwrap().findings.unwrap_or_default());
            }
            findings
        }))
        .unwrap()
}

#[test]
fn security_hub_import_then_resolution() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    let (store, key_id) = checked_store(&moto, work.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let import = keyward(
        &store,
        &moto.endpoint,
        &[
            "export",
            "--to",
            "security-hub",
            "--endpoint-url",
            &moto.endpoint,
        ],
    );
    assert_eq!(import.status.code(), Some(0), "{}", text(&import.stderr));
    assert!(
        text(&import.stdout).contains("0 failed"),
        "{}",
        text(&import.stdout)
    );

    let asff = keyward(&store, &moto.endpoint, &["export", "--format", "asff"]);
    let expected: Vec<serde_json::Value> = serde_json::from_slice(&asff.stdout).unwrap();
    let imported = security_hub_findings(&moto.endpoint);
    assert_eq!(imported.len(), expected.len());
    for finding in &expected {
        let id = finding["Id"].as_str().unwrap();
        let found = imported.iter().find(|f| f.id() == Some(id));
        let found = found.unwrap_or_else(|| panic!("{id} not in Security Hub"));
        assert_eq!(found.generator_id(), finding["GeneratorId"].as_str());
        assert_eq!(found.aws_account_id(), Some("123456789012"));
        assert!(found.resources()[0].id().is_some());
    }
    let rotation_id = expected
        .iter()
        .find(|finding| finding["GeneratorId"] == "keyward/kms-key-rotation")
        .unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Rotation turned on: the next check resolves the finding, and the
    // import archives it.
    runtime.block_on(async {
        let config = sdk_config(&moto.endpoint).await;
        aws_sdk_kms::Client::new(&config)
            .enable_key_rotation()
            .key_id(&key_id)
            .send()
            .await
            .unwrap();
    });
    let rescan = keyward(&store, &moto.endpoint, &["scan", "--regions", "us-east-1"]);
    assert_eq!(rescan.status.code(), Some(0), "{}", text(&rescan.stderr));
    let check = keyward(&store, &moto.endpoint, &["check"]);
    assert!(
        text(&check.stdout).contains("1 resolved"),
        "{}",
        text(&check.stdout)
    );
    let again = keyward(
        &store,
        &moto.endpoint,
        &[
            "export",
            "--to",
            "security-hub",
            "--endpoint-url",
            &moto.endpoint,
        ],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let imported = security_hub_findings(&moto.endpoint);
    let resolved = imported
        .iter()
        .find(|finding| finding.id() == Some(rotation_id.as_str()))
        .unwrap();
    assert_eq!(resolved.record_state().unwrap().as_str(), "ARCHIVED");
    let compliance = resolved.compliance().unwrap().status().unwrap();
    assert_eq!(compliance.as_str(), "PASSED");
    let workflow = resolved.workflow().unwrap().status().unwrap();
    assert_eq!(workflow.as_str(), "RESOLVED");
}

/// Returns the `Id` of the first finding of a `BatchImportFindings` body.
fn first_finding_id(body: &str) -> String {
    let request: serde_json::Value = serde_json::from_str(body).unwrap();
    request["Findings"][0]["Id"].as_str().unwrap().to_owned()
}

#[test]
fn throttling_is_retried_and_rejections_are_listed() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    let (store, _) = checked_store(&moto, work.path());
    // moto neither throttles nor rejects a finding that names a resource,
    // so the proxy returns Security Hub's responses to the import instead.
    // It throttles two attempts, then rejects one finding.
    let imports = std::sync::atomic::AtomicUsize::new(0);
    let proxy = Proxy::start(&moto.endpoint, move |request| {
        if request.path != "/findings/import" {
            return Action::Forward;
        }
        match imports.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
            0 | 1 => Action::json_error(429, "TooManyRequestsException", "Rate exceeded"),
            _ => {
                let id = first_finding_id(&request.body);
                let body = serde_json::json!({
                    "FailedCount": 1,
                    "SuccessCount": 0,
                    "FailedFindings": [{
                        "Id": id,
                        "ErrorCode": "InvalidInput",
                        "ErrorMessage": "Finding rejected by the test",
                    }],
                });
                Action::Respond {
                    status: 200,
                    content_type: "application/json",
                    body: body.to_string(),
                }
            }
        }
    });
    let output = keyward(
        &store,
        &proxy.endpoint,
        &[
            "export",
            "--to",
            "security-hub",
            "--endpoint-url",
            &proxy.endpoint,
        ],
    );
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("InvalidInput: Finding rejected by the test"),
        "{stderr}"
    );
    assert!(stderr.contains("error: finding keyward/"), "{stderr}");
    assert!(
        text(&output.stdout).contains("1 failed"),
        "{}",
        text(&output.stdout)
    );
    let attempts = proxy
        .requests()
        .iter()
        .filter(|request| request.path == "/findings/import")
        .count();
    assert_eq!(attempts, 3);
}

#[test]
fn transient_rejections_are_sent_again() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    let (store, _) = checked_store(&moto, work.path());
    // moto never rejects a finding for a transient reason, so the proxy
    // rejects the first finding of the first import with an
    // InternalException and forwards every later request to moto.
    let rejected = std::sync::Mutex::new(None::<String>);
    let proxy = Proxy::start(&moto.endpoint, move |request| {
        if request.path != "/findings/import" {
            return Action::Forward;
        }
        let mut rejected = rejected.lock().unwrap();
        if rejected.is_some() {
            return Action::Forward;
        }
        let id = first_finding_id(&request.body);
        *rejected = Some(id.clone());
        let body = serde_json::json!({
            "FailedCount": 1,
            "SuccessCount": 0,
            "FailedFindings": [{
                "Id": id,
                "ErrorCode": "InternalException",
                "ErrorMessage": "Internal service error",
            }],
        });
        Action::Respond {
            status: 200,
            content_type: "application/json",
            body: body.to_string(),
        }
    });
    let output = keyward(
        &store,
        &proxy.endpoint,
        &[
            "export",
            "--to",
            "security-hub",
            "--endpoint-url",
            &proxy.endpoint,
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    let imports: Vec<String> = proxy
        .requests()
        .iter()
        .filter(|request| request.path == "/findings/import")
        .map(|request| request.body.clone())
        .collect();
    assert_eq!(imports.len(), 2);
    let resent: serde_json::Value = serde_json::from_str(&imports[1]).unwrap();
    let resent = resent["Findings"].as_array().unwrap();
    assert_eq!(resent.len(), 1);
    assert_eq!(
        resent[0]["Id"].as_str().unwrap(),
        first_finding_id(&imports[0])
    );
}

/// Python of the test environment, beside the `moto_server` that
/// `scripts/test` installs into `.venv`.
fn test_python() -> PathBuf {
    let moto_server = std::env::var_os("KEYWARD_TEST_MOTO_SERVER").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server"),
        PathBuf::from,
    );
    moto_server.with_file_name("python")
}

#[test]
fn cyclonedx_bom_validates_and_lists_each_asset_once() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = sdk_config(&moto.endpoint).await;
        aws_sdk_kms::Client::new(&config)
            .create_key()
            .key_spec(aws_sdk_kms::types::KeySpec::EccNistP384)
            .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
            .send()
            .await
            .unwrap();
        let (certificate, private_key) =
            make_certificate("ec-secp256r1", 86_400 * 90, "bom.example.com");
        aws_sdk_acm::Client::new(&config)
            .import_certificate()
            .certificate(aws_sdk_acm::primitives::Blob::new(certificate))
            .private_key(aws_sdk_acm::primitives::Blob::new(private_key))
            .send()
            .await
            .unwrap();
    });
    let work = tempfile::tempdir().unwrap();
    let (store, key_id) = checked_store(&moto, work.path());
    let path = work.path().join("bom.json");
    let content = export_to_file(&store, &moto.endpoint, "cyclonedx", &path);
    let bom: serde_json::Value = serde_json::from_str(&content).unwrap();

    // cyclonedx-python-lib validates against the CycloneDX 1.6 JSON schema
    // that it ships.
    let script = "import sys\n\
        from cyclonedx.schema import SchemaVersion\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
        print(error or 'valid')\n\
        sys.exit(1 if error else 0)\n";
    let validation = Command::new(test_python())
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        validation.status.success(),
        "{}{}",
        text(&validation.stdout),
        text(&validation.stderr)
    );

    let components = bom["components"].as_array().unwrap();
    let references: Vec<&str> = components
        .iter()
        .map(|component| component["bom-ref"].as_str().unwrap())
        .collect();
    let key = references
        .iter()
        .filter(|reference| reference.ends_with(&format!(":key/{key_id}")))
        .count();
    assert_eq!(key, 1, "{references:?}");
    let secrets: Vec<&serde_json::Value> = components
        .iter()
        .filter(|component| {
            component["cryptoProperties"]["relatedCryptoMaterialProperties"]["type"] == "credential"
        })
        .collect();
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0]["name"], "db-password");
    let aes = components
        .iter()
        .find(|component| component["bom-ref"] == "algorithm:AES-256-GCM")
        .unwrap();
    assert_eq!(
        aes["cryptoProperties"]["algorithmProperties"]["nistQuantumSecurityLevel"],
        5
    );
    let names: Vec<&str> = components
        .iter()
        .filter_map(|component| component["name"].as_str())
        .collect();
    assert!(names.contains(&"ECDSA-P384"), "{names:?}");
    assert!(names.contains(&"ECDSA-P256"), "{names:?}");
    assert!(names.contains(&"bom.example.com"), "{names:?}");
}
