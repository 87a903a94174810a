//! The CycloneDX cryptographic BOM of a generated organization: `keyward
//! demo` builds the organization and its store, `keyward export --format
//! cyclonedx` writes the BOM, and the test compares it with the store's
//! latest scan and the generator's ground truth.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use keyward_demo::truth::Truth;
use keyward_rules::quantum::{Algorithm, certificate_key_algorithm, kms_algorithm};
use keyward_store::Store;
use keyward_store::inventory::Snapshot;
use serde_json::Value;

/// Text that would show a secret value, a plaintext or a private key in
/// the BOM.
const SECRET_MARKERS: [&str; 6] = [
    "SecretString",
    "SecretBinary",
    "Plaintext",
    "PrivateKey",
    "PRIVATE KEY",
    "-----BEGIN",
];

/// Resource types of truth.json that the BOM lists; IAM policies and
/// roles are not cryptographic assets.
const CRYPTOGRAPHIC_TYPES: [&str; 4] = [
    "AwsKmsKey",
    "AwsCertificateManagerCertificate",
    "AwsAcmPcaCertificateAuthority",
    "AwsSecretsManagerSecret",
];

fn keyward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env_remove("KEYWARD_STORE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .output()
        .expect("run keyward")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Generates the organization under `out` and returns its ground truth.
fn generate(out: &Path) -> Truth {
    let output = keyward(&[
        "demo",
        "--no-serve",
        "--out",
        out.to_str().unwrap(),
        "--accounts",
        "3",
        "--regions",
        "us-east-1,eu-west-1",
        "--days",
        "30",
        "--events-per-day",
        "200",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let truth = std::fs::read_to_string(out.join("truth.json")).unwrap();
    serde_json::from_str(&truth).unwrap()
}

/// Exports the BOM of the store's latest scan to `path` and returns it.
fn export_bom(store: &Path, path: &Path) -> String {
    let output = keyward(&[
        "--store",
        store.to_str().unwrap(),
        "export",
        "--format",
        "cyclonedx",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    std::fs::read_to_string(path).unwrap()
}

/// Validates the BOM with cyclonedx-python-lib, against the CycloneDX 1.6
/// JSON schema that it ships, as `tests/export_cli.rs` does.
fn validate(path: &Path) {
    let script = "import sys\n\
        from cyclonedx.schema import SchemaVersion\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
        print(error or 'valid')\n\
        sys.exit(1 if error else 0)\n";
    let validation = Command::new(common::python())
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        validation.status.success(),
        "{}{}",
        text(&validation.stdout),
        text(&validation.stderr)
    );
}

/// Returns the components of the BOM by `bom-ref`, with how many times
/// each reference occurs.
fn components(bom: &Value) -> (BTreeMap<String, &Value>, BTreeMap<String, usize>) {
    let mut by_reference = BTreeMap::new();
    let mut occurrences = BTreeMap::new();
    for component in bom["components"].as_array().unwrap() {
        let reference = component["bom-ref"].as_str().unwrap().to_owned();
        *occurrences.entry(reference.clone()).or_insert(0) += 1;
        by_reference.insert(reference, component);
    }
    (by_reference, occurrences)
}

fn property<'a>(component: &'a Value, name: &str) -> Option<&'a str> {
    component["properties"]
        .as_array()?
        .iter()
        .find(|property| property["name"] == name)
        .and_then(|property| property["value"].as_str())
}

/// Checks that `reference` names the component of `expected`, and that
/// the component carries the algorithm's primitive, NIST level and class.
fn check_algorithm(
    components: &BTreeMap<String, &Value>,
    asset: &str,
    reference: &Value,
    expected: Option<Algorithm>,
) {
    let Some(expected) = expected else {
        assert!(
            reference.is_null(),
            "{asset}: unknown algorithm, yet refers to {reference}"
        );
        return;
    };
    let wanted = format!("algorithm:{}", expected.name);
    assert_eq!(reference, &Value::from(wanted.clone()), "{asset}");
    let component = components
        .get(&wanted)
        .unwrap_or_else(|| panic!("{asset}: no component {wanted}"));
    let properties = &component["cryptoProperties"]["algorithmProperties"];
    assert_eq!(component["name"], expected.name, "{wanted}");
    assert_eq!(properties["primitive"], expected.primitive, "{wanted}");
    assert_eq!(
        properties["nistQuantumSecurityLevel"], expected.nist_quantum_level,
        "{wanted}"
    );
    assert_eq!(
        property(component, "keyward:quantum-class"),
        Some(expected.class.as_str()),
        "{wanted}"
    );
}

/// Returns every asset ARN of a snapshot.
fn asset_arns(snapshot: &Snapshot) -> BTreeSet<String> {
    let keys = snapshot.keys.iter().map(|key| key.arn.clone());
    let certificates = snapshot.certificates.iter().map(|c| c.arn.clone());
    let authorities = snapshot.authorities.iter().map(|a| a.arn.clone());
    let secrets = snapshot.secrets.iter().map(|secret| secret.arn.clone());
    keys.chain(certificates)
        .chain(authorities)
        .chain(secrets)
        .collect()
}

#[test]
fn demo_organization_bom_matches_inventory() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("demo");
    let truth = generate(&out);
    let store_path = out.join("store");
    let bom_path = work.path().join("bom.json");
    let content = export_bom(&store_path, &bom_path);
    let bom: Value = serde_json::from_str(&content).unwrap();

    validate(&bom_path);
    for marker in SECRET_MARKERS {
        assert!(!content.contains(marker), "the BOM contains {marker:?}");
    }

    let snapshot = Store::open(&store_path).unwrap().snapshot(None).unwrap();
    let snapshot = snapshot.expect("the demo store has a scan");
    assert!(snapshot.keys.len() > 10, "{} keys", snapshot.keys.len());
    assert!(!snapshot.certificates.is_empty(), "no certificate");
    assert!(!snapshot.secrets.is_empty(), "no secret");

    let (components, occurrences) = components(&bom);
    let assets = asset_arns(&snapshot);
    for arn in &assets {
        assert_eq!(occurrences.get(arn), Some(&1), "{arn}");
    }
    let listed: BTreeSet<String> = occurrences
        .keys()
        .filter(|reference| !reference.starts_with("algorithm:"))
        .cloned()
        .collect();
    assert_eq!(listed, assets, "components that are no asset of the scan");
    let mut cryptographic = 0;
    for asset in &truth.assets {
        if CRYPTOGRAPHIC_TYPES.contains(&asset.resource_type.as_str()) {
            assert!(assets.contains(&asset.arn), "{} not in the BOM", asset.arn);
            cryptographic += 1;
        }
    }
    assert!(cryptographic > 10, "{cryptographic} assets in truth.json");

    for key in &snapshot.keys {
        let material = &components[&key.arn]["cryptoProperties"]["relatedCryptoMaterialProperties"];
        let expected = key
            .key_spec
            .as_deref()
            .and_then(|spec| kms_algorithm(spec, key.key_usage.as_deref()));
        check_algorithm(&components, &key.arn, &material["algorithmRef"], expected);
    }
    let certificates = snapshot
        .certificates
        .iter()
        .map(|c| (&c.arn, &c.key_algorithm));
    let authorities = snapshot
        .authorities
        .iter()
        .map(|a| (&a.arn, &a.key_algorithm));
    for (arn, key_algorithm) in certificates.chain(authorities) {
        let properties = &components[arn]["cryptoProperties"]["certificateProperties"];
        let expected = key_algorithm.as_deref().and_then(certificate_key_algorithm);
        check_algorithm(
            &components,
            arn,
            &properties["subjectPublicKeyRef"],
            expected,
        );
    }

    let classes: BTreeSet<&str> = components
        .values()
        .filter_map(|component| property(component, "keyward:quantum-class"))
        .collect();
    // The generator makes no weakened key: its HMAC keys are HMAC_256.
    for class in ["quantum-safe", "quantum-vulnerable"] {
        assert!(classes.contains(class), "no {class} asset: {classes:?}");
    }
}
