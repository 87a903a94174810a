//! Loading of a planned organization into the AWS emulator moto, for
//! `keyward demo --emulator`, and the scan of it.
//!
//! The demo creates the organization in moto (see `organization.rs`) and
//! loads the planned assets of every account (see `loader.rs`). moto
//! assigns its own ids, so the loader returns the generated ids with the
//! ones moto chose, for [`keyward_demo::Plan::rename`]. moto cannot set
//! creation dates, last-use dates or rotation history, so the demo judges
//! the scanned records again instead of the planned ones.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use aws_config::SdkConfig;
use keyward_demo::truth::Truth;
use keyward_demo::{Built, Options, Plan, Planned};
use keyward_scan::{ScanOptions, Service};
use keyward_store::Store;
use keyward_store::inventory::Snapshot;

use super::Args;
use crate::commands::counted;

mod certificate_body;
mod loader;
mod organization;

use loader::{Loaded, load};
use organization::{AUDIT_ROLE, create_organization, member_configs};

/// Creates the organization in moto at `url` and loads its keys, secrets,
/// certificate authorities, certificates and IAM policies. Then scans moto
/// with keyward's scanner into the store, judges the scanned records
/// again, and writes the CloudTrail files and the ground truth with moto's
/// ids. Returns the truth.
pub fn load_and_scan(
    args: &Args,
    url: &str,
    options: &Options,
    store: &Store,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Truth> {
    let started = Instant::now();
    let config = runtime.block_on(emulator_config(url, &options.regions[0]));
    let generated = keyward_demo::plan(options).context("failed to plan the organization")?;
    println!("\n== Creating the organization in moto at {url}");
    let ids = runtime.block_on(create_organization(&config, generated.world()))?;
    println!(
        "Organization {} with management account {} and {}.",
        ids.organization_id,
        ids.account_ids[0],
        counted(
            ids.account_ids.len() as u64 - 1,
            "member account",
            "member accounts"
        )
    );
    let members = runtime.block_on(member_configs(&config, &ids.account_ids[1..]))?;

    let mut plan = keyward_demo::plan_in_organization(options, &ids)
        .context("failed to plan the organization")?;
    println!("\n== Loading the keys, secrets, certificates and IAM policies into moto");
    print_left_out(&plan);
    plan.retain(loadable, false);
    let loaded = runtime.block_on(load(&config, &members, &plan.assets));
    print_loaded(&loaded);
    let skipped: Vec<&str> = loaded.skipped.iter().map(|(arn, _)| arn.as_str()).collect();
    plan.retain(
        |asset| !skipped.contains(&asset.expected.arn.as_str()),
        false,
    );
    plan.rename(&loaded.names);

    println!("\n== Scanning moto's organization with keyward's scanner");
    let scan_options = ScanOptions {
        organization: true,
        role_name: AUDIT_ROLE.to_owned(),
        accounts: ids.account_ids.clone(),
        regions: options.regions.clone(),
        services: vec![
            Service::Kms,
            Service::Acm,
            Service::AcmPca,
            Service::SecretsManager,
            Service::Iam,
        ],
        endpoint_url: Some(url.to_owned()),
        ..ScanOptions::default()
    };
    let snapshot = super::super::scan::scan_with_config_into_store(
        store,
        &config,
        &scan_options,
        runtime,
        false,
    )?;
    print!("{}", super::super::scan::summary_text(&snapshot));
    print_read_errors(&snapshot);
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

/// Returns whether the loader tries to create `asset` in moto: every
/// asset but the AWS managed keys.
fn loadable(asset: &Built) -> bool {
    match &asset.planned {
        Planned::Key(plan) => plan.record.key_manager.as_deref() == Some("CUSTOMER"),
        _ => true,
    }
}

/// Prints what the emulator run leaves out of the plan, and why.
fn print_left_out(plan: &Plan) {
    let aws_managed = plan.assets.iter().filter(|asset| !loadable(asset)).count();
    println!(
        "Left out: {}, which moto cannot create.",
        counted(aws_managed as u64, "AWS managed key", "AWS managed keys"),
    );
    if !plan.gap.is_empty() {
        println!(
            "moto cannot deny a call, so the scan reads every service, and the Secrets Manager that the generated scan could not read has no secrets."
        );
    }
}

/// Prints the calls that moto failed while the scan read assets, once per
/// operation with its first error. moto 5.2.5 lacks GetKeyLastUsage, for
/// one.
fn print_read_errors(snapshot: &Snapshot) {
    let errors = snapshot
        .keys
        .iter()
        .flat_map(|key| &key.read_errors)
        .chain(
            snapshot
                .secrets
                .iter()
                .flat_map(|secret| &secret.read_errors),
        )
        .chain(
            snapshot
                .certificates
                .iter()
                .flat_map(|certificate| &certificate.read_errors),
        );
    let mut by_operation: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
    for error in errors {
        let operation = error.split(':').next().unwrap_or_default();
        by_operation.entry(operation).or_insert((0, error)).0 += 1;
    }
    for (operation, (count, first)) in by_operation {
        println!(
            "moto failed {operation} on {}, so the scan stored them without those facts: {first}",
            counted(count, "asset", "assets")
        );
    }
}

fn print_loaded(loaded: &Loaded) {
    println!(
        "Created {}, {}, {}, {} and {} in moto.",
        counted(loaded.keys as u64, "KMS key", "KMS keys"),
        counted(loaded.secrets as u64, "secret", "secrets"),
        counted(
            loaded.certificates as u64,
            "ACM certificate",
            "ACM certificates"
        ),
        counted(
            loaded.authorities as u64,
            "certificate authority",
            "certificate authorities"
        ),
        counted(loaded.iam_policies as u64, "IAM policy", "IAM policies"),
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
