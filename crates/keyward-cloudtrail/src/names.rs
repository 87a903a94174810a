//! Names that events bind to assets: KMS aliases to keys, and secret names
//! to secret ARNs.
//!
//! Requests may name a key by alias and a secret by name. The store keeps
//! every binding an event reveals, so that queries can count such a request
//! against the asset itself.

use serde_json::Value;

use crate::event::Event;
use crate::resource::{Scope, normalize_key_id};

/// A name that referred to an asset at a point in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameBinding {
    /// The account of the name.
    pub account: String,
    /// The Region of the name.
    pub region: String,
    /// The name as events store it in their `resource` field: an alias ARN,
    /// or a secret name.
    pub reference: String,
    /// The asset's ARN.
    pub target: String,
    /// When the binding was seen, in microseconds since the epoch.
    pub time: i64,
}

/// Returns the bindings that one event reveals.
pub fn name_bindings(event: &Event) -> Vec<NameBinding> {
    let (Some(account), Some(region)) = (event.account.as_deref(), event.region.as_deref()) else {
        return Vec::new();
    };
    if !event.succeeded() {
        return Vec::new();
    }
    let binding = |reference: String, target: String| NameBinding {
        account: account.to_owned(),
        region: region.to_owned(),
        reference,
        target,
        time: event.time,
    };
    match event.service.as_str() {
        "kms.amazonaws.com" => alias_binding(event, account, region)
            .map(|(alias, key)| vec![binding(alias, key)])
            .unwrap_or_default(),
        "secretsmanager.amazonaws.com" => secret_binding(event)
            .map(|(name, arn)| vec![binding(name, arn)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn alias_binding(event: &Event, account: &str, region: &str) -> Option<(String, String)> {
    if !matches!(event.operation.as_str(), "CreateAlias" | "UpdateAlias") {
        return None;
    }
    let request: Value = serde_json::from_str(event.request_parameters.as_deref()?).ok()?;
    let alias = request.get("aliasName")?.as_str()?;
    let target = request.get("targetKeyId")?.as_str()?;
    let partition = event
        .actor_arn
        .as_deref()
        .and_then(|arn| arn.split(':').nth(1))
        .filter(|partition| !partition.is_empty())
        .unwrap_or("aws");
    let scope = Scope {
        partition,
        region: Some(region),
        account: Some(account),
    };
    Some((
        normalize_key_id(alias, scope),
        normalize_key_id(target, scope),
    ))
}

/// Returns the name and ARN of a secret named by name in the request and by
/// ARN in `resources[]` or in the response.
fn secret_binding(event: &Event) -> Option<(String, String)> {
    let arn = event
        .resource_arns
        .iter()
        .find(|arn| arn.contains(":secretsmanager:"))
        .cloned()
        .or_else(|| {
            let response: Value = serde_json::from_str(event.response_elements.as_deref()?).ok()?;
            ["arn", "aRN", "ARN"]
                .iter()
                .find_map(|field| response.get(*field)?.as_str().map(str::to_owned))
        })?;
    let name = event
        .request_resource_id
        .as_deref()
        .filter(|id| !id.starts_with("arn:"))?;
    Some((name.to_owned(), arn))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(service: &str, operation: &str) -> Event {
        Event {
            service: service.into(),
            operation: operation.into(),
            account: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            time: 5,
            ..Event::default()
        }
    }

    #[test]
    fn create_alias_binds_alias_to_key() {
        let mut create = event("kms.amazonaws.com", "CreateAlias");
        create.request_parameters =
            Some(r#"{"aliasName":"alias/app","targetKeyId":"1234abcd"}"#.to_owned());
        let bindings = name_bindings(&create);
        assert_eq!(bindings.len(), 1);
        assert_eq!(
            bindings[0].reference,
            "arn:aws:kms:us-east-1:111122223333:alias/app"
        );
        assert_eq!(
            bindings[0].target,
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd"
        );
    }

    #[test]
    fn failed_call_binds_nothing() {
        let mut create = event("kms.amazonaws.com", "CreateAlias");
        create.request_parameters =
            Some(r#"{"aliasName":"alias/app","targetKeyId":"1234abcd"}"#.to_owned());
        create.error_code = Some("AccessDenied".into());
        assert!(name_bindings(&create).is_empty());
    }

    #[test]
    fn secret_name_bound_to_resource_arn() {
        let arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf";
        let mut read = event("secretsmanager.amazonaws.com", "GetSecretValue");
        read.request_resource_id = Some("prod/db".to_owned());
        read.resource_arns = vec![arn.to_owned()];
        let bindings = name_bindings(&read);
        assert_eq!(bindings.len(), 1);
        assert_eq!(bindings[0].reference, "prod/db");
        assert_eq!(bindings[0].target, arn);
    }

    #[test]
    fn secret_named_by_arn_binds_nothing() {
        let arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf";
        let mut read = event("secretsmanager.amazonaws.com", "GetSecretValue");
        read.request_resource_id = Some(arn.to_owned());
        read.resource_arns = vec![arn.to_owned()];
        assert!(name_bindings(&read).is_empty());
    }
}
