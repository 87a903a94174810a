//! The built-in questions on a dataset whose answers were worked out by
//! hand (`tests/fixtures/queries/README.md` describes it).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use keyward_store::Store;
use keyward_store::query::catalog::QUESTIONS;
use keyward_store::query::{QuestionFilters, TimeWindow};
use serde_json::Value;

use common::{fixture, ingest_paths, query_json};

const FROM: &str = "2026-05-01T00:00:00Z";
const TO: &str = "2026-05-31T00:00:00Z";

/// Turns timestamps into microseconds so that `...00Z` and `...00.000Z`
/// compare equal.
fn normalize(row: &Value) -> Value {
    let Value::Object(fields) = row else {
        return row.clone();
    };
    let normalized = fields
        .iter()
        .map(|(name, value)| {
            let time = value
                .as_str()
                .and_then(keyward_cloudtrail::parse_event_time);
            let is_time = matches!(name.as_str(), "last_used" | "last_denied");
            let value = match (is_time, time) {
                (true, Some(micros)) => Value::from(micros),
                _ => value.clone(),
            };
            (name.clone(), value)
        })
        .collect();
    Value::Object(normalized)
}

#[test]
fn questions_match_hand_checked_answers() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::create_or_open(directory.path()).unwrap();
    let (summary, problems) = ingest_paths(&store, &[fixture("queries/events.json")]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        summary.duplicates, 1,
        "the dataset holds one duplicate delivery"
    );

    let filters = QuestionFilters {
        window: TimeWindow {
            from: keyward_cloudtrail::parse_event_time(FROM),
            to: keyward_cloudtrail::parse_event_time(TO),
        },
        ..QuestionFilters::default()
    };
    let mut failures = Vec::new();
    for question in &QUESTIONS {
        let path = fixture(&format!("queries/expected/{}.json", question.name));
        let expected: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let actual = query_json(&store, &question.sql(&filters));
        let expected: Vec<Value> = expected.iter().map(normalize).collect();
        let actual: Vec<Value> = actual.iter().map(normalize).collect();
        if expected != actual {
            failures.push(format!(
                "{}:\nexpected {}\nactual   {}",
                question.name,
                serde_json::to_string_pretty(&expected).unwrap(),
                serde_json::to_string_pretty(&actual).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn account_and_region_filters() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::create_or_open(directory.path()).unwrap();
    ingest_paths(&store, &[fixture("queries/events.json")]);
    let question = QUESTIONS
        .iter()
        .find(|q| q.name == "sm-operations-brkdwn")
        .unwrap();

    let filters = QuestionFilters {
        accounts: vec!["444455556666".to_owned()],
        regions: vec!["eu-west-1".to_owned()],
        ..QuestionFilters::default()
    };
    let rows = query_json(&store, &question.sql(&filters));
    assert!(!rows.is_empty());
    for row in &rows {
        assert_eq!(row["account"], "444455556666");
        assert_eq!(row["region"], "eu-west-1");
    }
}

#[test]
fn usage_index_covers_keys_and_secrets() {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::create_or_open(directory.path()).unwrap();
    ingest_paths(&store, &[fixture("queries/events.json")]);

    let secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db/password-a1B2c3";
    let rows = query_json(
        &store,
        &format!("SELECT * FROM usage WHERE asset = '{secret}'"),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["service"], "secretsmanager.amazonaws.com");
    assert_eq!(rows[0]["account"], "111122223333");
    assert_eq!(rows[0]["last_operation"], "GetSecretValue");
    assert_eq!(
        rows[0]["uses"], 5,
        "four reads in the window and one before it"
    );

    let key = "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-1111-4111-8111-111111111111";
    let operations = query_json(
        &store,
        &format!(
            "SELECT operation, successes, failures FROM usage_by_operation \
             WHERE asset = '{key}' ORDER BY operation"
        ),
    );
    assert!(operations.iter().any(|row| row["operation"] == "Decrypt"));
    let keys = query_json(
        &store,
        &format!("SELECT principal_accounts FROM usage WHERE asset = '{key}'"),
    );
    assert_eq!(
        keys[0]["principal_accounts"].as_array().map(Vec::len),
        Some(1)
    );
}

/// Builds a successful CloudTrail record with the given time, account,
/// source, operation, request parameters and `resources[]` ARNs.
fn record(
    time: &str,
    account: &str,
    service: &str,
    operation: &str,
    request: Value,
    resources: &[&str],
) -> Value {
    let resources: Vec<Value> = resources
        .iter()
        .map(|arn| serde_json::json!({ "ARN": arn }))
        .collect();
    serde_json::json!({
        "eventVersion": "1.08",
        "eventTime": time,
        "eventSource": service,
        "eventName": operation,
        "awsRegion": "us-east-1",
        "eventID": format!("{operation}-{time}-{account}"),
        "recipientAccountId": account,
        "userIdentity": { "type": "AssumedRole", "arn": format!("arn:aws:sts::{account}:assumed-role/App/s") },
        "requestParameters": request,
        "resources": resources,
    })
}

/// Ingests records, written as one log file, into a new store. Returns the
/// temporary folder that contains both, the store and the events stored.
fn ingested(records: &[Value]) -> (tempfile::TempDir, Store, u64) {
    let directory = tempfile::tempdir().unwrap();
    let log = directory.path().join("log.json");
    let content = serde_json::json!({ "Records": records });
    std::fs::write(&log, content.to_string()).unwrap();
    let store = Store::create_or_open(directory.path().join("store")).unwrap();
    let (summary, problems) = ingest_paths(&store, &[log]);
    assert!(problems.is_empty(), "{problems:?}");
    (directory, store, summary.events_stored)
}

/// Ingests records into a new store and returns `(day, asset)` of the
/// events named `operation`, in time order.
fn assets_of(records: &[Value], operation: &str) -> Vec<(String, String)> {
    let (_directory, store, _) = ingested(records);

    let rows = query_json(
        &store,
        &format!(
            "SELECT to_char(time, '%Y-%m-%d') AS day, asset FROM crypto_events \
             WHERE api_operation = '{operation}' ORDER BY time"
        ),
    );
    rows.iter()
        .map(|row| {
            let text = |name: &str| row[name].as_str().unwrap_or_default().to_owned();
            (text("day"), text("asset"))
        })
        .collect()
}

/// Copies `(day, asset)` pairs into owned strings.
fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(day, asset)| ((*day).to_owned(), (*asset).to_owned()))
        .collect()
}

const KMS: &str = "kms.amazonaws.com";
const SECRETS: &str = "secretsmanager.amazonaws.com";
const OWNER: &str = "111111111111";
const K1: &str = "arn:aws:kms:us-east-1:111111111111:key/k1";
const K2: &str = "arn:aws:kms:us-east-1:111111111111:key/k2";

#[test]
fn alias_resolves_to_target_at_event_time() {
    let alias = |operation: &str, time: &str, target: &str| {
        record(
            time,
            OWNER,
            KMS,
            operation,
            serde_json::json!({ "aliasName": "alias/app", "targetKeyId": target }),
            &[],
        )
    };
    let encrypt = |time: &str| {
        let request = serde_json::json!({ "keyId": "alias/app" });
        record(time, OWNER, KMS, "Encrypt", request, &[])
    };
    let records = [
        encrypt("2026-03-20T00:00:00Z"),
        alias("CreateAlias", "2026-04-01T00:00:00Z", K1),
        encrypt("2026-05-10T00:00:00Z"),
        alias("UpdateAlias", "2026-05-20T00:00:00Z", K2),
        encrypt("2026-05-21T00:00:00Z"),
        alias("UpdateAlias", "2026-06-01T00:00:00Z", K1),
        encrypt("2026-06-02T00:00:00Z"),
    ];

    let assets = assets_of(&records, "Encrypt");

    let expected = [
        ("2026-03-20", K1),
        ("2026-05-10", K1),
        ("2026-05-21", K2),
        ("2026-06-02", K1),
    ];
    assert_eq!(assets, owned(&expected));
}

#[test]
fn alias_moved_back_and_forth_resolves() {
    let alias = |time: &str, target: &str| {
        let request = serde_json::json!({ "aliasName": "alias/app", "targetKeyId": target });
        record(time, OWNER, KMS, "UpdateAlias", request, &[])
    };
    let encrypt = |time: &str| {
        let request = serde_json::json!({ "keyId": "alias/app" });
        record(time, OWNER, KMS, "Encrypt", request, &[])
    };
    let mut records = Vec::new();
    for (day, key) in [(1, K1), (2, K2), (3, K1), (4, K2), (5, K1)] {
        records.push(alias(&format!("2026-05-0{day}T00:00:00Z"), key));
        records.push(encrypt(&format!("2026-05-0{day}T12:00:00Z")));
    }

    let assets = assets_of(&records, "Encrypt");

    let expected = [
        ("2026-05-01", K1),
        ("2026-05-02", K2),
        ("2026-05-03", K1),
        ("2026-05-04", K2),
        ("2026-05-05", K1),
    ];
    assert_eq!(assets, owned(&expected));
}

#[test]
fn full_secret_arn_not_read_as_a_name() {
    // Secret `svc` has the ARN ending `svc-AbCdEf`, and another secret is
    // named `svc-AbCdEf`: that ARN is full, not a partial ARN of the second.
    let svc = "arn:aws:secretsmanager:us-east-1:111111111111:secret:svc-AbCdEf";
    let other = "arn:aws:secretsmanager:us-east-1:111111111111:secret:svc-AbCdEf-XyZ123";
    let read = |time: &str, id: &str, resources: &[&str]| {
        let request = serde_json::json!({ "secretId": id });
        record(time, OWNER, SECRETS, "GetSecretValue", request, resources)
    };
    let records = [
        read("2026-05-01T00:00:00Z", "svc", &[svc]),
        read("2026-05-02T00:00:00Z", "svc-AbCdEf", &[other]),
        read("2026-05-03T00:00:00Z", svc, &[]),
    ];

    let assets = assets_of(&records, "GetSecretValue");

    let expected = [
        ("2026-05-01", svc),
        ("2026-05-02", other),
        ("2026-05-03", svc),
    ];
    assert_eq!(assets, owned(&expected));
}

#[test]
fn alias_arn_resolves_across_accounts() {
    let records = [
        record(
            "2026-05-01T00:00:00Z",
            OWNER,
            KMS,
            "CreateAlias",
            serde_json::json!({ "aliasName": "alias/shared", "targetKeyId": "k1" }),
            &[],
        ),
        record(
            "2026-05-02T00:00:00Z",
            "222222222222",
            KMS,
            "Encrypt",
            serde_json::json!({ "keyId": "arn:aws:kms:us-east-1:111111111111:alias/shared" }),
            &[],
        ),
    ];

    let assets = assets_of(&records, "Encrypt");

    assert_eq!(assets, [("2026-05-02".to_owned(), K1.to_owned())]);
}

#[test]
fn secret_name_and_partial_arn_resolve() {
    let first = "arn:aws:secretsmanager:us-east-1:111111111111:secret:app-AAAAAA";
    let second = "arn:aws:secretsmanager:us-east-1:111111111111:secret:app-BBBBBB";
    let partial = "arn:aws:secretsmanager:us-east-1:111111111111:secret:app";
    let read = |time: &str, id: &str, resources: &[&str]| {
        let request = serde_json::json!({ "secretId": id });
        record(time, OWNER, SECRETS, "GetSecretValue", request, resources)
    };
    let records = [
        read("2026-05-01T00:00:00Z", "app", &[first]),
        read("2026-05-02T00:00:00Z", "app", &[]),
        read("2026-05-02T12:00:00Z", partial, &[]),
        read("2026-05-04T00:00:00Z", "app", &[second]),
        read("2026-05-05T00:00:00Z", partial, &[]),
        read("2026-05-06T00:00:00Z", "app-AAAAAA-extra", &[]),
    ];

    let assets = assets_of(&records, "GetSecretValue");

    let expected = [
        ("2026-05-01", first),
        ("2026-05-02", first),
        ("2026-05-02", first),
        ("2026-05-04", second),
        ("2026-05-05", second),
        ("2026-05-06", "app-AAAAAA-extra"),
    ];
    assert_eq!(assets, owned(&expected));
}

#[test]
fn throttled_call_is_not_last_denied() {
    let failed = |time: &str, error: &str| {
        let request = serde_json::json!({ "keyId": K1 });
        let mut failed = record(time, OWNER, KMS, "Decrypt", request, &[]);
        failed["errorCode"] = Value::from(error);
        failed
    };
    let records = [
        failed("2026-05-01T00:00:00Z", "AccessDeniedException"),
        failed("2026-05-02T00:00:00Z", "ThrottlingException"),
    ];
    let (_directory, store, _) = ingested(&records);
    let question = QUESTIONS
        .iter()
        .find(|q| q.name == "kms-key-usage")
        .unwrap();

    let rows = query_json(&store, &question.sql(&QuestionFilters::default()));

    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["last_denied_error"], "AccessDeniedException");
    assert_eq!(rows[0]["uses"], 0);
    assert_eq!(rows[0]["uses_by_operation"], Value::Null);
}

#[test]
fn cross_account_call_counts_once() {
    let encrypt = |account: &str| {
        let request = serde_json::json!({ "keyId": K1 });
        let mut encrypt = record(
            "2026-05-01T00:00:00Z",
            account,
            KMS,
            "Encrypt",
            request,
            &[K1],
        );
        encrypt["sharedEventID"] = Value::from("shared-1");
        encrypt["userIdentity"]["accountId"] = Value::from("222222222222");
        encrypt
    };
    // CloudTrail writes one record to the caller's account and one to the
    // key owner's, with their own eventID and the same sharedEventID.
    let records = [encrypt("222222222222"), encrypt(OWNER)];
    let (_directory, store, stored) = ingested(&records);
    assert_eq!(stored, 2, "both records are stored");
    let question = QUESTIONS
        .iter()
        .find(|q| q.name == "kms-key-usage")
        .unwrap();

    let rows = query_json(&store, &question.sql(&QuestionFilters::default()));
    let usage = query_json(
        &store,
        &format!("SELECT uses FROM usage WHERE asset = '{K1}'"),
    );
    let operations = query_json(
        &store,
        &format!("SELECT successes FROM usage_by_operation WHERE asset = '{K1}'"),
    );

    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["uses"], 1);
    assert_eq!(rows[0]["uses_by_operation"], "Encrypt=1");
    assert_eq!(rows[0]["principal_accounts"], "222222222222");
    assert_eq!(usage[0]["uses"], 1);
    assert_eq!(operations[0]["successes"], 1);
}

#[test]
fn empty_shared_event_id_joins_nothing() {
    let encrypt = |time: &str| {
        let request = serde_json::json!({ "keyId": K1 });
        let mut encrypt = record(time, OWNER, KMS, "Encrypt", request, &[K1]);
        encrypt["sharedEventID"] = Value::from("");
        encrypt
    };
    let records = [
        encrypt("2026-05-01T00:00:00Z"),
        encrypt("2026-05-02T00:00:00Z"),
    ];
    let (_directory, store, _) = ingested(&records);

    let usage = query_json(
        &store,
        &format!("SELECT uses FROM usage WHERE asset = '{K1}'"),
    );
    let shared = query_json(
        &store,
        "SELECT count(*) AS rows FROM events WHERE shared_event_id IS NOT NULL",
    );

    assert_eq!(usage[0]["uses"], 2);
    assert_eq!(shared[0]["rows"], 0);
}
