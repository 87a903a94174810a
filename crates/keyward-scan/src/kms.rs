//! AWS KMS: keys, with their policy, rotation, grants, tags and last use,
//! and aliases.
//!
//! Every key gets `DescribeKey`, `GetKeyPolicy`, `ListGrants` and
//! `GetKeyLastUsage`. Customer managed keys also get `ListResourceTags`.
//! Symmetric encryption keys with key material from KMS also get
//! `GetKeyRotationStatus` and `ListKeyRotations`. AWS managed keys cannot be
//! tagged and rotate every year, so those calls are left out for them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use aws_config::retry::RetryConfig;

use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeySpec, OriginType};
use futures_util::StreamExt;
use futures_util::stream;
use keyward_store::inventory::{AliasRecord, KeyRecord, Tag};

use crate::context::{Unit, UnitRead, record_gap};
use crate::error::CallError;
use crate::time::{utc, utc_opt};

/// Keys whose details are read at once within one unit.
const KEYS_IN_FLIGHT: usize = 8;

/// Days between the automatic rotations of AWS managed keys.
const AWS_MANAGED_ROTATION_DAYS: i32 = 365;

pub async fn read(unit: &Unit) -> UnitRead {
    let client = Client::new(&unit.config);
    let mut read = UnitRead {
        coverage: unit.coverage(),
        ..UnitRead::default()
    };

    match list_aliases(unit, &client, None).await {
        Ok(aliases) => read.aliases = aliases,
        Err(error) => record_gap(&mut read.coverage, &error),
    }
    let listed = match list_keys(unit, &client).await {
        Ok(keys) => keys,
        Err(error) => {
            record_gap(&mut read.coverage, &error);
            return read;
        }
    };

    let mut aliases_of: HashMap<&str, Vec<String>> = HashMap::new();
    for alias in &read.aliases {
        if let Some(key_id) = &alias.target_key_id {
            aliases_of
                .entry(key_id.as_str())
                .or_default()
                .push(alias.alias_name.clone());
        }
    }
    let unsupported = Mutex::new(None);
    let mut keys: Vec<KeyRecord> = stream::iter(listed)
        .map(|(key_id, arn)| read_key(unit, &client, key_id, arn, &unsupported))
        .buffer_unordered(KEYS_IN_FLIGHT)
        .collect()
        .await;
    for key in &mut keys {
        if let Some(aliases) = aliases_of.get(key.key_id.as_str()) {
            key.aliases = aliases.clone();
            key.aliases.sort();
        }
    }
    read.coverage.assets = keys.len() as u32;
    read.coverage.partial_assets = keys.iter().filter(|k| !k.read_errors.is_empty()).count() as u32;
    read.keys = keys;
    read
}

/// Lists the aliases of the account and Region, or of one key.
async fn list_aliases(
    unit: &Unit,
    client: &Client,
    key_id: Option<&str>,
) -> Result<Vec<AliasRecord>, CallError> {
    let mut aliases = Vec::new();
    let mut marker = None;
    loop {
        let page = unit
            .call(
                "ListAliases",
                client
                    .list_aliases()
                    .set_key_id(key_id.map(str::to_owned))
                    .limit(100)
                    .set_marker(marker)
                    .send(),
            )
            .await?;
        for alias in page.aliases() {
            let Some(name) = alias.alias_name() else {
                continue;
            };
            aliases.push(AliasRecord {
                scan_id: unit.scan_id.clone(),
                account_id: unit.account_id.clone(),
                region: unit.region.clone(),
                alias_name: name.to_owned(),
                arn: alias.alias_arn().map(str::to_owned),
                target_key_id: alias.target_key_id().map(str::to_owned),
                creation_date: utc_opt(alias.creation_date()),
            });
        }
        match page.next_marker() {
            Some(next) if page.truncated() => marker = Some(next.to_owned()),
            _ => return Ok(aliases),
        }
    }
}

/// Key ids and ARNs from `ListKeys`.
async fn list_keys(unit: &Unit, client: &Client) -> Result<Vec<(String, String)>, CallError> {
    let mut keys = Vec::new();
    let mut marker = None;
    loop {
        let page = unit
            .call(
                "ListKeys",
                client.list_keys().limit(1000).set_marker(marker).send(),
            )
            .await?;
        for key in page.keys() {
            if let (Some(id), Some(arn)) = (key.key_id(), key.key_arn()) {
                keys.push((id.to_owned(), arn.to_owned()));
            }
        }
        match page.next_marker() {
            Some(next) if page.truncated() => marker = Some(next.to_owned()),
            _ => return Ok(keys),
        }
    }
}

/// Reads one key, given by key id or ARN, with its aliases. A key that
/// does not exist leaves the read without keys; any other failed
/// `DescribeKey` or `ListAliases` is a coverage gap.
pub async fn read_one(unit: &Unit, key_id: &str) -> UnitRead {
    let client = Client::new(&unit.config);
    let mut read = UnitRead {
        coverage: unit.coverage(),
        ..UnitRead::default()
    };
    let described = unit
        .call("DescribeKey", client.describe_key().key_id(key_id).send())
        .await;
    let metadata = match described {
        Ok(output) => output.key_metadata,
        Err(error) if error.code.as_deref() == Some("NotFoundException") => None,
        Err(error) => {
            record_gap(&mut read.coverage, &error);
            return read;
        }
    };
    let Some(metadata) = metadata else {
        return read;
    };
    let id = metadata.key_id().to_owned();
    let arn = metadata.arn().unwrap_or(key_id).to_owned();

    let aliases = match list_aliases(unit, &client, Some(&id)).await {
        Ok(aliases) => aliases,
        Err(error) => {
            record_gap(&mut read.coverage, &error);
            return read;
        }
    };
    let mut key = read_key(unit, &client, id, arn, &Mutex::new(None)).await;
    key.aliases = aliases.iter().map(|a| a.alias_name.clone()).collect();
    key.aliases.sort();
    read.coverage.assets = 1;
    read.coverage.partial_assets = u32::from(!key.read_errors.is_empty());
    read.aliases = aliases;
    read.keys.push(key);
    read
}

async fn read_key(
    unit: &Unit,
    client: &Client,
    key_id: String,
    arn: String,
    usage_unsupported: &Mutex<Option<CallError>>,
) -> KeyRecord {
    let mut key = KeyRecord {
        scan_id: unit.scan_id.clone(),
        account_id: unit.account_id.clone(),
        region: unit.region.clone(),
        key_id,
        arn,
        ..KeyRecord::default()
    };
    let described = unit
        .call("DescribeKey", client.describe_key().key_id(&key.arn).send())
        .await;
    let metadata = match described {
        Ok(output) => output.key_metadata,
        Err(error) => {
            key.read_errors.push(error.to_string());
            None
        }
    };
    let Some(metadata) = metadata else {
        return key;
    };
    describe(&mut key, &metadata);

    let customer_managed = metadata.key_manager() == Some(&KeyManagerType::Customer);
    let rotates = metadata.key_spec() == Some(&KeySpec::SymmetricDefault)
        && metadata.origin() == Some(&OriginType::AwsKms);
    if !customer_managed {
        key.rotation_enabled = Some(true);
        key.rotation_period_days = Some(AWS_MANAGED_ROTATION_DAYS);
    }
    if customer_managed && rotates {
        read_rotation(unit, client, &mut key).await;
    }
    if customer_managed {
        read_tags(unit, client, &mut key).await;
    }
    read_policy(unit, client, &mut key).await;
    read_grants(unit, client, &mut key).await;
    read_last_usage(unit, client, &mut key, usage_unsupported).await;
    key
}

fn describe(key: &mut KeyRecord, metadata: &KeyMetadata) {
    key.key_manager = metadata.key_manager().map(|v| v.as_str().to_owned());
    key.key_state = metadata.key_state().map(|v| v.as_str().to_owned());
    key.enabled = Some(metadata.enabled());
    key.description = metadata
        .description()
        .filter(|text| !text.is_empty())
        .map(str::to_owned);
    key.key_spec = metadata.key_spec().map(|v| v.as_str().to_owned());
    key.key_usage = metadata.key_usage().map(|v| v.as_str().to_owned());
    key.origin = metadata.origin().map(|v| v.as_str().to_owned());
    key.custom_key_store_id = metadata.custom_key_store_id().map(str::to_owned);
    key.creation_date = utc_opt(metadata.creation_date());
    key.deletion_date = utc_opt(metadata.deletion_date());
    key.pending_deletion_window_days = metadata.pending_deletion_window_in_days();
    key.valid_to = utc_opt(metadata.valid_to());
    key.multi_region = metadata.multi_region();
    if let Some(config) = metadata.multi_region_configuration() {
        key.multi_region_key_type = config
            .multi_region_key_type()
            .map(|v| v.as_str().to_owned());
        key.primary_key_arn = config
            .primary_key()
            .and_then(|primary| primary.arn())
            .map(str::to_owned);
        key.replica_regions = config
            .replica_keys()
            .iter()
            .filter_map(|replica| replica.region())
            .map(str::to_owned)
            .collect();
    }
    let algorithms = metadata
        .encryption_algorithms()
        .iter()
        .map(|a| a.as_str())
        .chain(metadata.signing_algorithms().iter().map(|a| a.as_str()))
        .chain(
            metadata
                .key_agreement_algorithms()
                .iter()
                .map(|a| a.as_str()),
        )
        .chain(metadata.mac_algorithms().iter().map(|a| a.as_str()));
    key.algorithms = algorithms.map(str::to_owned).collect();
}

async fn read_rotation(unit: &Unit, client: &Client, key: &mut KeyRecord) {
    let status = unit
        .call(
            "GetKeyRotationStatus",
            client.get_key_rotation_status().key_id(&key.arn).send(),
        )
        .await;
    match status {
        Ok(status) => {
            key.rotation_enabled = Some(status.key_rotation_enabled());
            key.rotation_period_days = status.rotation_period_in_days();
            key.next_rotation_date = utc_opt(status.next_rotation_date());
        }
        Err(error) => key.read_errors.push(error.to_string()),
    }

    let mut count = 0u32;
    let mut latest = None;
    let mut marker = None;
    loop {
        let page = unit
            .call(
                "ListKeyRotations",
                client
                    .list_key_rotations()
                    .key_id(&key.arn)
                    .limit(1000)
                    .set_marker(marker)
                    .send(),
            )
            .await;
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                key.read_errors.push(error.to_string());
                return;
            }
        };
        for rotation in page.rotations() {
            count += 1;
            let date = rotation.rotation_date().and_then(utc);
            latest = latest.max(date);
        }
        match page.next_marker() {
            Some(next) if page.truncated() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    key.rotation_count = Some(count);
    key.last_rotation_date = latest;
}

async fn read_tags(unit: &Unit, client: &Client, key: &mut KeyRecord) {
    let mut marker = None;
    loop {
        let page = unit
            .call(
                "ListResourceTags",
                client
                    .list_resource_tags()
                    .key_id(&key.arn)
                    .limit(50)
                    .set_marker(marker)
                    .send(),
            )
            .await;
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                key.read_errors.push(error.to_string());
                return;
            }
        };
        key.tags.extend(page.tags().iter().map(|tag| Tag {
            key: tag.tag_key().to_owned(),
            value: tag.tag_value().to_owned(),
        }));
        match page.next_marker() {
            Some(next) if page.truncated() => marker = Some(next.to_owned()),
            _ => return,
        }
    }
}

async fn read_policy(unit: &Unit, client: &Client, key: &mut KeyRecord) {
    let policy = unit
        .call(
            "GetKeyPolicy",
            client
                .get_key_policy()
                .key_id(&key.arn)
                .policy_name("default")
                .send(),
        )
        .await;
    match policy {
        Ok(output) => key.policy = output.policy,
        Err(error) => key.read_errors.push(error.to_string()),
    }
}

async fn read_grants(unit: &Unit, client: &Client, key: &mut KeyRecord) {
    let mut count = 0u32;
    let mut grantees = BTreeSet::new();
    let mut marker = None;
    loop {
        let page = unit
            .call(
                "ListGrants",
                client
                    .list_grants()
                    .key_id(&key.arn)
                    .limit(100)
                    .set_marker(marker)
                    .send(),
            )
            .await;
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                key.read_errors.push(error.to_string());
                return;
            }
        };
        for grant in page.grants() {
            count += 1;
            let grantee = grant
                .grantee_principal()
                .or(grant.grantee_service_principal());
            if let Some(grantee) = grantee {
                grantees.insert(grantee.to_owned());
            }
        }
        match page.next_marker() {
            Some(next) if page.truncated() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    key.grant_count = Some(count);
    key.grantees = grantees.into_iter().collect();
}

/// Reads when KMS last saw the key used. An endpoint without the operation
/// leaves the usage unknown, never "never used", and after its first such
/// response the other keys of the unit skip the call.
async fn read_last_usage(
    unit: &Unit,
    client: &Client,
    key: &mut KeyRecord,
    unsupported: &Mutex<Option<CallError>>,
) {
    let known_unsupported = unsupported.lock().ok().and_then(|slot| slot.clone());
    if let Some(error) = known_unsupported {
        key.usage_known = false;
        key.read_errors.push(error.to_string());
        return;
    }
    // Emulators return a server error for an operation they lack, and the
    // SDK would retry it with back-off for every key.
    let no_retry = aws_sdk_kms::config::Builder::default()
        .retry_config(RetryConfig::standard().with_max_attempts(2));
    let usage = unit
        .call(
            "GetKeyLastUsage",
            client
                .get_key_last_usage()
                .key_id(&key.arn)
                .customize()
                .config_override(no_retry)
                .send(),
        )
        .await;
    match usage {
        Ok(output) => {
            key.usage_known = true;
            key.usage_tracking_start = utc_opt(output.tracking_start_date());
            if let Some(last) = output.key_last_usage() {
                key.last_used_at = utc_opt(last.timestamp());
                key.last_used_operation = last.operation().map(|v| v.as_str().to_owned());
                key.last_used_event_id = last.cloud_trail_event_id().map(str::to_owned);
            }
        }
        Err(error) => {
            key.usage_known = false;
            key.read_errors.push(error.to_string());
            let unsupported_here =
                error.is_unknown_operation() || error.is_server_error_without_code();
            if unsupported_here && let Ok(mut slot) = unsupported.lock() {
                *slot = Some(error);
            }
        }
    }
}
