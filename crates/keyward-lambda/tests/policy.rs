//! The role of the function in the CloudFormation template allows exactly
//! the calls that the function makes: the scanner's reads of KMS, ACM and
//! Secrets Manager, and `config:PutEvaluations`, plus writing its logs. The
//! role of the ingest template allows exactly the S3 calls of the ingest
//! mode and of the S3 reader it uses.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Scanner files that the function's reads go through, with their IAM
/// service prefix.
const SCANNER_FILES: [(&str, &str); 3] = [
    ("kms.rs", "kms"),
    ("acm.rs", "acm"),
    ("secrets.rs", "secretsmanager"),
];

/// Actions that the Lambda service uses to deliver the function's logs.
const LOG_ACTIONS: [&str; 2] = ["logs:CreateLogStream", "logs:PutLogEvents"];

fn pascal_case(method: &str) -> String {
    method
        .split('_')
        .map(|word| {
            let mut characters = word.chars();
            let first = characters.next().unwrap().to_ascii_uppercase();
            std::iter::once(first).chain(characters).collect::<String>()
        })
        .collect()
}

/// Operations of the SDK methods called on a `client` in a source file.
fn client_methods(source: &str) -> BTreeSet<String> {
    source
        .match_indices("client")
        .filter_map(|(at, _)| {
            let rest = source[at + "client".len()..].trim_start();
            let method = rest.strip_prefix('.')?.split('(').next()?;
            let is_method =
                !method.is_empty() && method.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            is_method.then(|| pascal_case(method))
        })
        .collect()
}

fn code_actions() -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let scanner = workspace().join("crates/keyward-scan/src");
    for (file, service) in SCANNER_FILES {
        let source = std::fs::read_to_string(scanner.join(file)).unwrap();
        for operation in client_methods(&source) {
            actions.insert(format!("{service}:{operation}"));
        }
    }
    let lambda = workspace().join("crates/keyward-lambda/src");
    for entry in std::fs::read_dir(lambda).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for operation in client_methods(&source) {
            actions.insert(format!("config:{operation}"));
        }
    }
    actions
}

/// Actions of the function role's policy in the template.
fn template_actions() -> BTreeSet<String> {
    let path = workspace().join("deploy/cloudformation/keyward-config-rules.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let role = text.split("  FunctionRole:").nth(1).unwrap();
    let policies = role.split("Policies:").nth(1).unwrap();
    let policies = policies.split("\n  FunctionLogGroup:").next().unwrap();
    policies
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter(|item| item.contains(':') && !item.contains(' '))
        .map(str::to_owned)
        .collect()
}

#[test]
fn client_methods_become_operations() {
    let source = "client\n    .put_evaluations()\n    .send(); client.list_keys().limit(1)";
    let methods: Vec<String> = client_methods(source).into_iter().collect();
    assert_eq!(methods, ["ListKeys", "PutEvaluations"]);
}

#[test]
fn role_matches_function_calls() {
    let mut template = template_actions();
    for action in LOG_ACTIONS {
        assert!(template.remove(action), "the role lacks {action}");
    }
    let code = code_actions();
    assert!(code.contains("config:PutEvaluations"), "{code:?}");
    assert!(code.contains("kms:GetKeyLastUsage"), "{code:?}");
    assert_eq!(template, code);
}

/// Operations of the S3 client methods called on `receiver` in a source
/// file; `clone` is not an operation.
fn methods_on(source: &str, receiver: &str) -> BTreeSet<String> {
    source
        .match_indices(receiver)
        .filter_map(|(at, _)| {
            let rest = source[at + receiver.len()..].trim_start();
            let method = rest.strip_prefix('.')?.split('(').next()?;
            let is_method = !method.is_empty()
                && method != "clone"
                && method
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            is_method.then(|| pascal_case(method))
        })
        .collect()
}

/// IAM action of an S3 operation: listing needs `s3:ListBucket`.
fn s3_action(operation: &str) -> String {
    match operation {
        "ListObjectsV2" => "s3:ListBucket".to_owned(),
        other => format!("s3:{other}"),
    }
}

#[test]
fn ingest_role_matches_function_calls() {
    let text =
        std::fs::read_to_string(workspace().join("deploy/cloudformation/keyward-ingest.yaml"))
            .unwrap();
    let policies = text.split("Policies:").nth(1).unwrap();
    let policies = policies.split("\n  FunctionLogGroup:").next().unwrap();
    let mut template: BTreeSet<String> = policies
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            line.strip_prefix("- ")
                .or_else(|| line.strip_prefix("Action: "))
        })
        .filter(|item| item.contains(':') && !item.contains(' '))
        .map(str::to_owned)
        .collect();
    for action in LOG_ACTIONS {
        assert!(template.remove(action), "the role lacks {action}");
    }

    let lambda =
        std::fs::read_to_string(workspace().join("crates/keyward-lambda/src/ingest.rs")).unwrap();
    let reader =
        std::fs::read_to_string(workspace().join("crates/keyward-ingest/src/s3.rs")).unwrap();
    let mut code = methods_on(&lambda, "s3");
    code.extend(methods_on(&reader, ".client"));
    let code: BTreeSet<String> = code.iter().map(|operation| s3_action(operation)).collect();
    assert!(code.contains("s3:PutObject"), "{code:?}");
    assert!(code.contains("s3:GetObject"), "{code:?}");
    assert_eq!(template, code);
}
