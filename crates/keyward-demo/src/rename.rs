//! Renaming of generated ids in a planned asset, for an emulator that
//! assigns its own key ids and secret ARNs.

use std::collections::BTreeMap;

use keyward_store::inventory::{KeyRecord, SecretRecord};
use serde_json::Value;

use crate::{Built, Planned};

/// Replaces every occurrence of a key of `names` with its value in the
/// ids, ARNs, policies and CloudTrail events of `asset`.
pub fn built(asset: &mut Built, names: &BTreeMap<String, String>) {
    text(&mut asset.expected.arn, names);
    if let Some(trail) = &mut asset.trail {
        text(&mut trail.arn, names);
        for refusal in &mut trail.activity.refusals {
            text(&mut refusal.error_message, names);
        }
        for event in &mut trail.activity.events {
            json(&mut event.request, names);
            json(&mut event.additional, names);
        }
    }
    match &mut asset.planned {
        Planned::Key(plan) => key(&mut plan.record, names),
        Planned::Secret(plan) => secret(&mut plan.record, names),
        Planned::SecretReplica(record) => secret(record, names),
        Planned::Certificate(record) => {
            text(&mut record.arn, names);
            optional(&mut record.certificate_authority_arn, names);
        }
        Planned::Authority(record) => text(&mut record.arn, names),
        Planned::IamPolicy(_) => {}
    }
}

fn key(record: &mut KeyRecord, names: &BTreeMap<String, String>) {
    text(&mut record.key_id, names);
    text(&mut record.arn, names);
    optional(&mut record.primary_key_arn, names);
    optional(&mut record.policy, names);
    for error in &mut record.read_errors {
        text(error, names);
    }
}

fn secret(record: &mut SecretRecord, names: &BTreeMap<String, String>) {
    text(&mut record.arn, names);
    optional(&mut record.kms_key_id, names);
    optional(&mut record.policy, names);
}

fn optional(value: &mut Option<String>, names: &BTreeMap<String, String>) {
    if let Some(value) = value {
        text(value, names);
    }
}

fn text(value: &mut String, names: &BTreeMap<String, String>) {
    for (old, new) in names {
        if value.contains(old.as_str()) {
            *value = value.replace(old.as_str(), new);
        }
    }
}

fn json(value: &mut Value, names: &BTreeMap<String, String>) {
    match value {
        Value::String(string) => text(string, names),
        Value::Array(items) => items.iter_mut().for_each(|item| json(item, names)),
        Value::Object(fields) => fields.values_mut().for_each(|field| json(field, names)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_replaces_every_name() {
        let names = BTreeMap::from([
            ("old-key".to_owned(), "new-key".to_owned()),
            ("secret:a-XXXXXX".to_owned(), "secret:a-Yb12cd".to_owned()),
        ]);
        let mut value = "key/old-key and secret:a-XXXXXX".to_owned();
        text(&mut value, &names);
        assert_eq!(value, "key/new-key and secret:a-Yb12cd");
    }

    #[test]
    fn json_renames_nested_strings() {
        let names = BTreeMap::from([("old".to_owned(), "new".to_owned())]);
        let mut value = serde_json::json!({"keyId": "old", "list": ["x-old", 3]});
        json(&mut value, &names);
        assert_eq!(
            value,
            serde_json::json!({"keyId": "new", "list": ["x-new", 3]})
        );
    }
}
