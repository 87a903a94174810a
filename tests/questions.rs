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
