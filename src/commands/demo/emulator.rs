//! Loading of a planned organization into the AWS emulator moto, for
//! `keyward demo --emulator`.
//!
//! The loader creates the management account's customer managed KMS keys,
//! Secrets Manager secrets and Amazon issued ACM certificates in moto's
//! default account. The member accounts, which `keyward scan --org` would
//! reach through AWS Organizations and an assumed role, are not created.
//! moto assigns its own key ids, secret ARN suffixes and certificate ARNs,
//! so the loader returns the generated ids with the ones moto chose, for
//! [`keyward_demo::Plan::rename`]. moto cannot set creation dates, last-use
//! dates or rotation history, so the demo judges the scanned records again
//! instead of the planned ones.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_acm::types::{KeyAlgorithm, ValidationMethod};
use aws_sdk_kms::types::{KeySpec, KeyUsageType, OriginType, Tag as KeyTag};
use aws_sdk_secretsmanager::types::{ReplicaRegionType, RotationRulesType, Tag as SecretTag};
use keyward_demo::keys::KeyPlan;
use keyward_demo::secrets::SecretPlan;
use keyward_demo::truth::Truth;
use keyward_demo::{Built, Options, Plan, Planned};
use keyward_scan::{ScanOptions, Service};
use keyward_store::Store;
use keyward_store::inventory::{CertificateRecord, KeyRecord, SecretRecord};

use super::Args;
use crate::commands::counted;

/// Value of every secret that the loader creates: moto needs one, and the
/// demo never reads it back.
const SECRET_PLACEHOLDER: &str = "demo-placeholder";

/// Operations of the grants that the loader creates.
const GRANT_OPERATIONS: [aws_sdk_kms::types::GrantOperation; 2] = [
    aws_sdk_kms::types::GrantOperation::Decrypt,
    aws_sdk_kms::types::GrantOperation::DescribeKey,
];

/// Plans the organization in moto's account, loads its keys and secrets
/// into moto at `url`, scans them with keyward's scanner into the store,
/// judges the scanned records again, and writes the CloudTrail files and
/// the ground truth with moto's ids. Returns the truth.
pub fn load_and_scan(
    args: &Args,
    url: &str,
    options: &Options,
    store: &Store,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Truth> {
    let started = Instant::now();
    let scan_options = ScanOptions {
        regions: options.regions.clone(),
        services: vec![Service::Kms, Service::Acm, Service::SecretsManager],
        endpoint_url: Some(url.to_owned()),
        ..ScanOptions::default()
    };
    let config = runtime.block_on(emulator_config(url, &options.regions[0]));
    let account = runtime
        .block_on(
            aws_sdk_sts::Client::new(&config)
                .get_caller_identity()
                .send(),
        )
        .map_err(|error| {
            anyhow::anyhow!(
                "failed to identify moto's account at {url} ({}); check that moto runs there",
                aws_sdk_sts::error::DisplayErrorContext(&error)
            )
        })?
        .account
        .context("moto returned no account id")?;

    let mut plan = keyward_demo::plan_in_account(options, &account)
        .context("failed to plan the organization")?;
    println!("\n== Loading account {account}'s keys, secrets and certificates into moto at {url}");
    print_left_out(&plan, &account);
    plan.retain(|asset| loadable(asset, &account), false);
    let loaded = runtime.block_on(load(&config, &plan.assets));
    print_loaded(&loaded);
    let skipped: Vec<&str> = loaded.skipped.iter().map(|(arn, _)| arn.as_str()).collect();
    plan.retain(
        |asset| !skipped.contains(&asset.expected.arn.as_str()),
        false,
    );
    plan.rename(&loaded.names);

    println!("\n== Scanning moto with keyward's scanner");
    let snapshot = super::super::scan::scan_with_config_into_store(
        store,
        &config,
        &scan_options,
        runtime,
        false,
    )?;
    print!("{}", super::super::scan::summary_text(&snapshot));
    let missing = plan.judge_scanned(&snapshot);
    if !missing.is_empty() {
        anyhow::bail!(
            "the scan of moto lacks {} that the demo created: {}",
            counted(missing.len() as u64, "asset", "assets"),
            missing.join(", ")
        );
    }
    println!(
        "Judged the scanned records again: moto sets creation, rotation and last-access dates to the time of loading, so the ground truth follows what the scan read, with the planned CloudTrail activity."
    );

    let generated = plan.write(&args.out).with_context(|| {
        format!(
            "failed to write the organization's CloudTrail and truth to {}",
            args.out.display()
        )
    })?;
    super::print_written(args, &generated.truth, started);
    Ok(generated.truth)
}

/// Builds an SDK configuration for moto at `url` with moto's test
/// credentials, so that no credentials of the caller reach the emulator.
async fn emulator_config(url: &str, region: &str) -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "keyward-demo",
        ))
        .load()
        .await
}

/// Returns whether the loader creates `asset` in moto: the customer
/// managed keys and the secrets of `account`.
fn loadable(asset: &Built, account: &str) -> bool {
    if asset.expected.account_id != account {
        return false;
    }
    match &asset.planned {
        Planned::Key(plan) => plan.record.key_manager.as_deref() == Some("CUSTOMER"),
        Planned::Secret(_) | Planned::SecretReplica(_) | Planned::Certificate(_) => true,
        Planned::Other => false,
    }
}

/// Prints what the emulator run leaves out of the plan, and why.
fn print_left_out(plan: &Plan, account: &str) {
    let mut other_accounts = 0;
    let mut aws_managed = 0;
    let mut other_types = 0;
    for asset in &plan.assets {
        if asset.expected.account_id != account {
            other_accounts += 1;
        } else if matches!(asset.planned, Planned::Other) {
            other_types += 1;
        } else if !loadable(asset, account) {
            aws_managed += 1;
        }
    }
    println!(
        "Left out: {} of the other accounts, because one moto account stands for the organization; {} (Private CA authorities and IAM policies), which this demo loads only from the generated inventory; {}, which moto cannot create.",
        counted(other_accounts, "asset", "assets"),
        counted(other_types, "asset", "assets"),
        counted(aws_managed, "AWS managed key", "AWS managed keys"),
    );
}

fn print_loaded(loaded: &Loaded) {
    println!(
        "Created {}, {} and {} in moto.",
        counted(loaded.keys as u64, "KMS key", "KMS keys"),
        counted(loaded.secrets as u64, "secret", "secrets"),
        counted(
            loaded.certificates as u64,
            "ACM certificate",
            "ACM certificates"
        ),
    );
    if !loaded.skipped.is_empty() {
        println!(
            "{} not loaded, and left out of the ground truth:",
            counted(loaded.skipped.len() as u64, "asset was", "assets were")
        );
        for (arn, reason) in &loaded.skipped {
            println!("  {arn}: {reason}");
        }
    }
    for warning in &loaded.warnings {
        println!("  warning: {warning}");
    }
}

/// What the loader created in moto.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Generated KMS key ids and secret ARNs, with the ones moto assigned.
    pub names: BTreeMap<String, String>,
    /// ARNs of the planned assets that moto rejected, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Calls on created assets that moto rejected; the scan reads the
    /// asset as it is, so the recomputed verdicts still hold.
    pub warnings: Vec<String>,
    /// KMS keys created, replicas included.
    pub keys: usize,
    /// Secrets created, replicas included.
    pub secrets: usize,
    /// ACM certificates requested.
    pub certificates: usize,
}

/// Creates the planned keys and secrets of `assets` in moto. Keys come
/// first, so that secrets can name their moto key ARNs.
pub async fn load(config: &SdkConfig, assets: &[Built]) -> Loaded {
    let mut loader = Loader {
        config,
        acm: BTreeMap::new(),
        kms: BTreeMap::new(),
        secretsmanager: BTreeMap::new(),
        loaded: Loaded::default(),
    };
    for asset in assets {
        if let Planned::Key(plan) = &asset.planned {
            loader.key(plan).await;
        }
    }
    for asset in assets {
        if let Planned::Secret(plan) = &asset.planned {
            loader.secret(plan).await;
        }
    }
    for asset in assets {
        if let Planned::SecretReplica(record) = &asset.planned {
            loader.secret_replica(record).await;
        }
    }
    for asset in assets {
        if let Planned::Certificate(record) = &asset.planned {
            loader.certificate(record).await;
        }
    }
    loader.loaded
}

struct Loader<'a> {
    config: &'a SdkConfig,
    acm: BTreeMap<String, aws_sdk_acm::Client>,
    kms: BTreeMap<String, aws_sdk_kms::Client>,
    secretsmanager: BTreeMap<String, aws_sdk_secretsmanager::Client>,
    loaded: Loaded,
}

impl Loader<'_> {
    fn acm(&mut self, region: &str) -> aws_sdk_acm::Client {
        self.acm
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_acm::config::Builder::from(self.config)
                    .region(aws_config::Region::new(region.to_owned()))
                    .build();
                aws_sdk_acm::Client::from_conf(config)
            })
            .clone()
    }

    fn kms(&mut self, region: &str) -> aws_sdk_kms::Client {
        self.kms
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_kms::config::Builder::from(self.config)
                    .region(aws_config::Region::new(region.to_owned()))
                    .build();
                aws_sdk_kms::Client::from_conf(config)
            })
            .clone()
    }

    fn secretsmanager(&mut self, region: &str) -> aws_sdk_secretsmanager::Client {
        self.secretsmanager
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_secretsmanager::config::Builder::from(self.config)
                    .region(aws_config::Region::new(region.to_owned()))
                    .build();
                aws_sdk_secretsmanager::Client::from_conf(config)
            })
            .clone()
    }

    fn skip(&mut self, arn: &str, reason: String) {
        self.loaded.skipped.push((arn.to_owned(), reason));
    }

    fn warn(&mut self, arn: &str, operation: &str, error: impl std::fmt::Display) {
        self.loaded
            .warnings
            .push(format!("{operation} on {arn} failed: {error}"));
    }

    /// Returns a generated id or ARN as moto named it.
    fn renamed(&self, text: &str) -> String {
        let mut renamed = text.to_owned();
        for (old, new) in &self.loaded.names {
            if renamed.contains(old.as_str()) {
                renamed = renamed.replace(old.as_str(), new);
            }
        }
        renamed
    }

    async fn key(&mut self, plan: &KeyPlan) {
        let record = &plan.record;
        if record.key_manager.as_deref() != Some("CUSTOMER") {
            // NOTE: moto creates no AWS managed keys, and CreateKey makes
            // only customer managed ones.
            self.skip(
                &record.arn,
                "moto cannot create AWS managed keys".to_owned(),
            );
            return;
        }
        let key_id = if record.multi_region_key_type.as_deref() == Some("REPLICA") {
            self.replicate_key(record).await
        } else {
            self.create_key(record).await
        };
        let Some(key_id) = key_id else {
            return;
        };
        self.loaded.keys += 1;
        let kms = self.kms(&record.region);
        self.configure_key(&kms, record, &key_id).await;
    }

    async fn create_key(&mut self, record: &KeyRecord) -> Option<String> {
        let kms = self.kms(&record.region);
        let tags = record.tags.iter().map(|tag| {
            KeyTag::builder()
                .tag_key(&tag.key)
                .tag_value(&tag.value)
                .build()
        });
        let mut request = kms
            .create_key()
            .set_description(record.description.clone())
            .set_key_spec(record.key_spec.as_deref().map(KeySpec::from))
            .set_key_usage(record.key_usage.as_deref().map(KeyUsageType::from))
            .set_origin(record.origin.as_deref().map(OriginType::from))
            .set_multi_region(record.multi_region);
        for tag in tags {
            match tag {
                Ok(tag) => request = request.tags(tag),
                Err(error) => self.warn(&record.arn, "Tag", error),
            }
        }
        match request.send().await {
            Ok(output) => {
                let key_id = output.key_metadata.map(|metadata| metadata.key_id)?;
                self.loaded
                    .names
                    .insert(record.key_id.clone(), key_id.clone());
                Some(key_id)
            }
            Err(error) => {
                let reason = format!(
                    "moto rejected CreateKey: {}",
                    aws_sdk_kms::error::DisplayErrorContext(&error)
                );
                self.skip(&record.arn, reason);
                None
            }
        }
    }

    /// Replicates the primary key of a planned replica into the replica's
    /// Region. A replica keeps its primary's key id.
    async fn replicate_key(&mut self, record: &KeyRecord) -> Option<String> {
        let Some(key_id) = self.loaded.names.get(&record.key_id).cloned() else {
            self.skip(&record.arn, "its primary key was not created".to_owned());
            return None;
        };
        let primary_region = record
            .primary_key_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(3))
            .unwrap_or_default()
            .to_owned();
        let kms = self.kms(&primary_region);
        let result = kms
            .replicate_key()
            .key_id(&key_id)
            .replica_region(&record.region)
            .send()
            .await;
        match result {
            Ok(_) => Some(key_id),
            Err(error) => {
                let reason = format!(
                    "moto rejected ReplicateKey: {}",
                    aws_sdk_kms::error::DisplayErrorContext(&error)
                );
                self.skip(&record.arn, reason);
                None
            }
        }
    }

    /// Sets the aliases, key policy, rotation, grants and state of a
    /// created key.
    async fn configure_key(&mut self, kms: &aws_sdk_kms::Client, record: &KeyRecord, key_id: &str) {
        let arn = &record.arn;
        for alias in &record.aliases {
            let result = kms
                .create_alias()
                .alias_name(alias)
                .target_key_id(key_id)
                .send()
                .await;
            if let Err(error) = result {
                self.warn(
                    arn,
                    "CreateAlias",
                    aws_sdk_kms::error::DisplayErrorContext(&error),
                );
            }
        }
        // A planned key policy of None stands for one that the scan cannot
        // read. moto cannot deny GetKeyPolicy, so such a key keeps moto's
        // default policy.
        if let Some(policy) = &record.policy {
            let result = kms
                .put_key_policy()
                .key_id(key_id)
                .policy_name("default")
                .policy(self.renamed(policy))
                .send()
                .await;
            if let Err(error) = result {
                self.warn(
                    arn,
                    "PutKeyPolicy",
                    aws_sdk_kms::error::DisplayErrorContext(&error),
                );
            }
        }
        let primary = record.multi_region_key_type.as_deref() != Some("REPLICA");
        if primary && record.rotation_enabled == Some(true) {
            let result = kms
                .enable_key_rotation()
                .key_id(key_id)
                .set_rotation_period_in_days(record.rotation_period_days)
                .send()
                .await;
            if let Err(error) = result {
                self.warn(
                    arn,
                    "EnableKeyRotation",
                    aws_sdk_kms::error::DisplayErrorContext(&error),
                );
            }
        }
        let own_role = format!(":{}:role/", record.account_id);
        for grantee in record.grantees.iter().filter(|g| !g.contains(&own_role)) {
            let result = kms
                .create_grant()
                .key_id(key_id)
                .grantee_principal(grantee)
                .set_operations(Some(GRANT_OPERATIONS.to_vec()))
                .send()
                .await;
            if let Err(error) = result {
                self.warn(
                    arn,
                    "CreateGrant",
                    aws_sdk_kms::error::DisplayErrorContext(&error),
                );
            }
        }
        self.set_key_state(kms, record, key_id).await;
    }

    async fn set_key_state(&mut self, kms: &aws_sdk_kms::Client, record: &KeyRecord, key_id: &str) {
        let arn = &record.arn;
        match record.key_state.as_deref() {
            Some("Disabled") => {
                if let Err(error) = kms.disable_key().key_id(key_id).send().await {
                    self.warn(
                        arn,
                        "DisableKey",
                        aws_sdk_kms::error::DisplayErrorContext(&error),
                    );
                }
            }
            Some("PendingDeletion") => {
                let result = kms
                    .schedule_key_deletion()
                    .key_id(key_id)
                    .set_pending_window_in_days(record.pending_deletion_window_days)
                    .send()
                    .await;
                if let Err(error) = result {
                    self.warn(
                        arn,
                        "ScheduleKeyDeletion",
                        aws_sdk_kms::error::DisplayErrorContext(&error),
                    );
                }
            }
            _ => {}
        }
    }

    async fn secret(&mut self, plan: &SecretPlan) {
        let record = &plan.record;
        let client = self.secretsmanager(&record.region);
        let mut request = client
            .create_secret()
            .name(&record.name)
            .secret_string(SECRET_PLACEHOLDER)
            .set_description(record.description.clone())
            .set_kms_key_id(record.kms_key_id.as_deref().map(|id| self.renamed(id)));
        for tag in &record.tags {
            request = request.tags(SecretTag::builder().key(&tag.key).value(&tag.value).build());
        }
        let new_arn = match request.send().await {
            Ok(output) => output.arn.unwrap_or_default(),
            Err(error) => {
                let reason = format!(
                    "moto rejected CreateSecret: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&error)
                );
                self.skip(&record.arn, reason);
                return;
            }
        };
        self.loaded
            .names
            .insert(record.arn.clone(), new_arn.clone());
        self.loaded.secrets += 1;
        self.configure_secret(&client, record, &new_arn).await;
    }

    /// Sets the resource policy, rotation and deletion of a created secret.
    async fn configure_secret(
        &mut self,
        client: &aws_sdk_secretsmanager::Client,
        record: &SecretRecord,
        arn: &str,
    ) {
        if let Some(policy) = &record.policy {
            let result = client
                .put_resource_policy()
                .secret_id(arn)
                .resource_policy(self.renamed(policy))
                .send()
                .await;
            if let Err(error) = result {
                self.warn(
                    arn,
                    "PutResourcePolicy",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&error),
                );
            }
        }
        if record.rotation_enabled == Some(true) {
            let rules = RotationRulesType::builder()
                .set_automatically_after_days(record.rotation_interval_days)
                .build();
            let result = client
                .rotate_secret()
                .secret_id(arn)
                .set_rotation_lambda_arn(record.rotation_lambda_arn.clone())
                .rotation_rules(rules)
                .rotate_immediately(false)
                .send()
                .await;
            // NOTE: moto 5.2.5 stores the rotation settings and only then
            // looks up the rotation function, which the demo does not
            // create, so RotateSecret fails with ResourceNotFoundException
            // but leaves rotation on. Any other error is reported.
            if let Err(error) = result
                && !error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
            {
                self.warn(
                    arn,
                    "RotateSecret",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&error),
                );
            }
        }
        if record.deleted_at.is_some() {
            let result = client
                .delete_secret()
                .secret_id(arn)
                .recovery_window_in_days(7)
                .send()
                .await;
            if let Err(error) = result {
                self.warn(
                    arn,
                    "DeleteSecret",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&error),
                );
            }
        }
    }

    /// Requests an Amazon issued certificate for the planned domain names.
    /// moto 5.2.5 leaves it pending validation with an RSA_2048 key,
    /// whatever the request, so its dates, status and key algorithm are
    /// moto's. Certificate transparency logging cannot be turned off any
    /// more, so a planned opt-out is not requested.
    async fn certificate(&mut self, record: &CertificateRecord) {
        let kind = record.certificate_type.as_deref().unwrap_or_default();
        if kind == "IMPORTED" {
            // NOTE: the generator plans certificate metadata and no PEM, so
            // there is nothing for ImportCertificate.
            let reason = "the plan has no certificate body to import".to_owned();
            self.skip(&record.arn, reason);
            return;
        }
        if kind != "AMAZON_ISSUED" {
            let reason = format!(
                "a {kind} certificate needs the Private CA hierarchy, which the demo does not load"
            );
            self.skip(&record.arn, reason);
            return;
        }
        let Some(domain) = record.domain_name.as_deref() else {
            self.skip(&record.arn, "the plan has no domain name".to_owned());
            return;
        };
        let result = self
            .acm(&record.region)
            .request_certificate()
            .domain_name(domain)
            .set_subject_alternative_names(Some(record.subject_alternative_names.clone()))
            .validation_method(ValidationMethod::Dns)
            .set_key_algorithm(record.key_algorithm.as_deref().map(KeyAlgorithm::from))
            .send()
            .await;
        match result {
            Ok(output) => {
                let arn = output.certificate_arn.unwrap_or_default();
                self.loaded.names.insert(record.arn.clone(), arn);
                self.loaded.certificates += 1;
            }
            Err(error) => {
                let reason = format!(
                    "moto rejected RequestCertificate: {}",
                    aws_sdk_acm::error::DisplayErrorContext(&error)
                );
                self.skip(&record.arn, reason);
            }
        }
    }

    /// Replicates the primary of a planned replica into the replica's
    /// Region, and names the replica's ARN as moto made it.
    async fn secret_replica(&mut self, record: &SecretRecord) {
        let Some(primary_region) = record.primary_region.clone() else {
            return;
        };
        let primary_arn = record.arn.replacen(
            &format!(":{}:", record.region),
            &format!(":{primary_region}:"),
            1,
        );
        let Some(new_primary) = self.loaded.names.get(&primary_arn).cloned() else {
            self.skip(&record.arn, "its primary secret was not created".to_owned());
            return;
        };
        let client = self.secretsmanager(&primary_region);
        let result = client
            .replicate_secret_to_regions()
            .secret_id(&new_primary)
            .add_replica_regions(ReplicaRegionType::builder().region(&record.region).build())
            .send()
            .await;
        match result {
            Ok(_) => {
                let new_arn = new_primary.replacen(
                    &format!(":{primary_region}:"),
                    &format!(":{}:", record.region),
                    1,
                );
                self.loaded.names.insert(record.arn.clone(), new_arn);
                self.loaded.secrets += 1;
            }
            Err(error) => {
                let reason = format!(
                    "moto rejected ReplicateSecretToRegions: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&error)
                );
                self.skip(&record.arn, reason);
            }
        }
    }
}
