//! AWS Secrets Manager: every secret's metadata and resource policy. The
//! secret value is never read.
//!
//! `ListSecrets` already returns rotation, last access, the KMS key, the
//! primary Region of replicas, the owning service and tags, so the only
//! call per secret is `GetResourcePolicy`.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretListEntry};
use futures_util::StreamExt;
use futures_util::stream;
use keyward_store::inventory::{SecretRecord, Tag};

use crate::context::{Unit, UnitRead, record_gap};
use crate::error::CallError;
use crate::time::utc_opt;

/// Secrets whose policy is read at once within one unit.
const SECRETS_IN_FLIGHT: usize = 8;

pub async fn read(unit: &Unit) -> UnitRead {
    let client = Client::new(&unit.config);
    let mut read = UnitRead {
        coverage: unit.coverage(),
        ..UnitRead::default()
    };
    let listed = match list_secrets(unit, &client, None).await {
        Ok(listed) => listed,
        Err(error) => {
            record_gap(&mut read.coverage, &error);
            return read;
        }
    };
    let secrets: Vec<SecretRecord> = stream::iter(listed)
        .map(|secret| read_policy(unit, &client, secret))
        .buffer_unordered(SECRETS_IN_FLIGHT)
        .collect()
        .await;
    read.coverage.assets = secrets.len() as u32;
    read.coverage.partial_assets =
        secrets.iter().filter(|s| !s.read_errors.is_empty()).count() as u32;
    read.secrets = secrets;
    read
}

/// Reads one secret, given by ARN. A secret that does not exist leaves the
/// read without secrets; a failed `ListSecrets` is a coverage gap.
///
/// `ListSecrets` with a name filter returns the same fields as a full
/// listing, so the secret is judged on the same record as in a scan. The
/// filter matches names by prefix, and the ARN picks the secret among
/// them.
pub async fn read_one(unit: &Unit, arn: &str) -> UnitRead {
    let client = Client::new(&unit.config);
    let mut read = UnitRead {
        coverage: unit.coverage(),
        ..UnitRead::default()
    };
    let filter = Filter::builder()
        .key(FilterNameStringType::Name)
        .values(secret_name(arn))
        .build();
    let listed = match list_secrets(unit, &client, Some(filter)).await {
        Ok(listed) => listed,
        Err(error) => {
            record_gap(&mut read.coverage, &error);
            return read;
        }
    };
    let Some(secret) = listed.into_iter().find(|secret| secret.arn == arn) else {
        return read;
    };
    let secret = read_policy(unit, &client, secret).await;
    read.coverage.assets = 1;
    read.coverage.partial_assets = u32::from(!secret.read_errors.is_empty());
    read.secrets.push(secret);
    read
}

/// Returns the secret name of a secret ARN: the last field, without the
/// hyphen and six characters that Secrets Manager appends.
fn secret_name(arn: &str) -> &str {
    let name = arn.splitn(7, ':').nth(6).unwrap_or(arn);
    match name.rsplit_once('-') {
        Some((base, suffix)) if suffix.len() == 6 && !base.is_empty() => base,
        _ => name,
    }
}

async fn list_secrets(
    unit: &Unit,
    client: &Client,
    filter: Option<Filter>,
) -> Result<Vec<SecretRecord>, CallError> {
    let mut secrets = Vec::new();
    let mut next_token = None;
    loop {
        let page = unit
            .call(
                "ListSecrets",
                client
                    .list_secrets()
                    .set_filters(filter.clone().map(|filter| vec![filter]))
                    .include_planned_deletion(true)
                    .max_results(100)
                    .set_next_token(next_token)
                    .send(),
            )
            .await?;
        secrets.extend(
            page.secret_list()
                .iter()
                .filter_map(|entry| record(unit, entry)),
        );
        match page.next_token() {
            Some(next) if !next.is_empty() => next_token = Some(next.to_owned()),
            _ => return Ok(secrets),
        }
    }
}

fn record(unit: &Unit, entry: &SecretListEntry) -> Option<SecretRecord> {
    let rules = entry.rotation_rules();
    Some(SecretRecord {
        scan_id: unit.scan_id.clone(),
        account_id: unit.account_id.clone(),
        region: unit.region.clone(),
        arn: entry.arn()?.to_owned(),
        name: entry.name().unwrap_or_default().to_owned(),
        description: entry.description().map(str::to_owned),
        kms_key_id: entry.kms_key_id().map(str::to_owned),
        rotation_enabled: entry.rotation_enabled(),
        rotation_lambda_arn: entry.rotation_lambda_arn().map(str::to_owned),
        rotation_interval_days: rules.and_then(|r| r.automatically_after_days()),
        rotation_schedule: rules
            .and_then(|r| r.schedule_expression())
            .map(str::to_owned),
        last_rotated_at: utc_opt(entry.last_rotated_date()),
        next_rotation_at: utc_opt(entry.next_rotation_date()),
        last_changed_at: utc_opt(entry.last_changed_date()),
        last_accessed_at: utc_opt(entry.last_accessed_date()),
        created_at: utc_opt(entry.created_date()),
        deleted_at: utc_opt(entry.deleted_date()),
        primary_region: entry.primary_region().map(str::to_owned),
        owning_service: entry.owning_service().map(str::to_owned),
        policy: None,
        tags: entry
            .tags()
            .iter()
            .map(|tag| Tag {
                key: tag.key().unwrap_or_default().to_owned(),
                value: tag.value().unwrap_or_default().to_owned(),
            })
            .collect(),
        read_errors: Vec::new(),
    })
}

async fn read_policy(unit: &Unit, client: &Client, mut secret: SecretRecord) -> SecretRecord {
    let policy = unit
        .call(
            "GetResourcePolicy",
            client.get_resource_policy().secret_id(&secret.arn).send(),
        )
        .await;
    match policy {
        Ok(output) => secret.policy = output.resource_policy,
        Err(error) => secret.read_errors.push(error.to_string()),
    }
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_name_drops_the_random_suffix() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password-AbC123";
        assert_eq!(secret_name(arn), "prod/db-password");
    }

    #[test]
    fn secret_name_keeps_a_name_without_suffix() {
        assert_eq!(
            secret_name("arn:aws:secretsmanager:us-east-1:1:secret:x"),
            "x"
        );
    }
}
