//! The IAM policies in `deploy/` allow exactly the calls that the scanner
//! makes, and nothing in the project reads a secret value, a private key
//! or a data key.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// IAM service prefix of the calls in each source file of the scanner.
/// `accounts.rs` calls two services and `organization.rs` calls only the
/// scanning account's, so both are handled by operation.
const FILE_SERVICES: [(&str, &str); 6] = [
    ("kms.rs", "kms"),
    ("acm.rs", "acm"),
    ("pca.rs", "acm-pca"),
    ("secrets.rs", "secretsmanager"),
    ("regions.rs", "account"),
    ("iam.rs", "iam"),
];

/// Calls of the scanning account itself, outside the audit role.
const SCANNER_OPERATIONS: [(&str, &str); 5] = [
    ("ListAccounts", "organizations"),
    ("ListRoots", "organizations"),
    ("ListOrganizationalUnitsForParent", "organizations"),
    ("ListAccountsForParent", "organizations"),
    ("AssumeRole", "sts"),
];

/// `sts:GetCallerIdentity` needs no permission.
const UNRESTRICTED_OPERATIONS: [&str; 1] = ["GetCallerIdentity"];

fn snake_case(operation: &str) -> String {
    let mut snake = String::new();
    for (index, character) in operation.chars().enumerate() {
        if character.is_ascii_uppercase() && index > 0 {
            snake.push('_');
        }
        snake.push(character.to_ascii_lowercase());
    }
    snake
}

/// Operation names that a source file passes to `Unit::call` or
/// `CallError::from_sdk`, each checked against the SDK method that the
/// same call sends.
fn operations_in(source: &str, file: &str) -> Vec<String> {
    let mut operations = Vec::new();
    for marker in [".call(", "from_sdk("] {
        for (at, _) in source.match_indices(marker) {
            let rest = source[at + marker.len()..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let operation = rest.split('"').next().unwrap().to_owned();
            if marker == ".call(" {
                // The request follows the name: `client.method()`.
                let method = rest
                    .split_once("client")
                    .and_then(|(_, after)| after.trim_start().strip_prefix('.'))
                    .map(|after| after.split('(').next().unwrap().trim().to_owned());
                assert_eq!(
                    method.as_deref(),
                    Some(snake_case(&operation).as_str()),
                    "{file}: the call named {operation} sends another operation"
                );
            }
            operations.push(operation);
        }
    }
    operations
}

/// IAM actions of the scanner's code: (audit role actions, scanning
/// account actions).
fn code_actions() -> (BTreeSet<String>, BTreeSet<String>) {
    let source_dir = workspace().join("crates/keyward-scan/src");
    let (mut audit, mut scanner) = (BTreeSet::new(), BTreeSet::new());
    for entry in std::fs::read_dir(&source_dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        for operation in operations_in(&source, &file) {
            if UNRESTRICTED_OPERATIONS.contains(&operation.as_str()) {
                continue;
            }
            if let Some((_, service)) = SCANNER_OPERATIONS.iter().find(|(op, _)| *op == operation) {
                scanner.insert(format!("{service}:{operation}"));
                continue;
            }
            let service = FILE_SERVICES
                .iter()
                .find(|(name, _)| *name == file)
                .map(|(_, service)| *service)
                .unwrap_or_else(|| panic!("{file} calls {operation}, of no known service"));
            audit.insert(format!("{service}:{operation}"));
        }
    }
    (audit, scanner)
}

fn policy_actions(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut actions = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        match &statement["Action"] {
            serde_json::Value::String(action) => {
                actions.insert(action.clone());
            }
            serde_json::Value::Array(list) => {
                actions.extend(list.iter().map(|a| a.as_str().unwrap().to_owned()));
            }
            other => panic!("unexpected Action {other}"),
        }
    }
    actions
}

/// Actions listed in the role policy of the CloudFormation template.
fn template_actions(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let policies = text.split("Policies:").nth(1).unwrap();
    let policies = policies.split("Outputs:").next().unwrap();
    policies
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter(|item| item.contains(':') && !item.contains(' '))
        .map(str::to_owned)
        .collect()
}

#[test]
fn audit_policy_allows_exactly_the_calls_of_the_scanner() {
    let (audit, scanner) = code_actions();
    let deploy = workspace().join("deploy");
    assert_eq!(
        policy_actions(&deploy.join("iam/keyward-audit-policy.json")),
        audit
    );
    assert_eq!(
        template_actions(&deploy.join("cloudformation/keyward-audit-role.yaml")),
        audit
    );
    assert_eq!(
        policy_actions(&deploy.join("iam/keyward-scanner-policy.json")),
        scanner
    );
    assert!(audit.len() >= 15, "{audit:?}");
}

/// Files of the project, without build output and virtual environments.
fn project_files(root: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            project_files(&path, into);
        } else {
            into.push(path);
        }
    }
}

#[test]
fn nothing_reads_secret_values_private_keys_or_data_keys() {
    // Spelled in pieces, so that this file does not match itself.
    let methods = [
        [".get_secret", "_value("],
        [".batch_get_secret", "_value("],
        [".export_certi", "ficate("],
        [".decr", "ypt("],
        [".generate_data", "_key"],
        [".get_parameters_for", "_import("],
    ]
    .map(|parts| parts.concat());
    let actions = [
        ["secretsmanager:GetSecret", "Value"],
        ["secretsmanager:BatchGetSecret", "Value"],
        ["acm:ExportCerti", "ficate"],
        ["kms:Decr", "ypt"],
        ["kms:GenerateData", "Key"],
    ]
    .map(|parts| parts.concat());
    let wildcards = [
        "kms:*",
        "secretsmanager:*",
        "acm:*",
        "secretsmanager:Get*",
        "kms:Gen*",
        "\"*\"",
    ];

    let mut files = Vec::new();
    project_files(&workspace(), &mut files);
    let mut checked = 0;
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if extension == "rs" {
            checked += 1;
            for method in &methods {
                assert!(
                    !text.contains(method.as_str()),
                    "{} calls {method}",
                    path.display()
                );
            }
        }
        let is_policy = path.starts_with(workspace().join("deploy"));
        if is_policy {
            for action in &actions {
                assert!(
                    !text.contains(action.as_str()),
                    "{} allows {action}",
                    path.display()
                );
            }
            for wildcard in wildcards {
                let action_line = text.lines().any(|line| {
                    let line = line.trim().trim_start_matches("- ").trim_end_matches(',');
                    line == wildcard
                });
                assert!(!action_line, "{} allows {wildcard}", path.display());
            }
        }
    }
    assert!(checked > 20, "only {checked} Rust files found");
}
