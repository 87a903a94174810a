//! Live inventory of the cryptographic assets of an AWS organization: KMS
//! keys and aliases, ACM certificates, AWS Private CA authorities and
//! Secrets Manager secrets, with the IAM policies that grant their use,
//! read through the AWS SDK for Rust.
//!
//! A scan finds its accounts ([`accounts`]) and, with `--org`, their
//! organizational units ([`organization`]), the Regions each account has
//! enabled ([`regions`]), and then reads every service in every account and
//! Region as one unit of work. IAM is global and has one unit per account. Units run concurrently, and a shared limit
//! bounds the API calls in flight. Every unit ends with a coverage row: a
//! service that could not be read has no assets and a recorded cause, so
//! that rules report UNKNOWN for it rather than PASS.
//!
//! keyward never reads a secret value, a private key or a data key: no
//! operation that returns one is called anywhere in this crate.

#![deny(missing_docs)]

mod accounts;
mod acm;
mod context;
pub mod error;
mod iam;
mod kms;
mod organization;
mod pca;
mod regions;
mod secrets;
mod single_region;
mod time;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use chrono::{DateTime, Utc};
use keyward_store::inventory::{
    CoverageRecord, CoverageStatus, IamPolicyRecord, ScanRecord, Snapshot,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

pub use accounts::Account;
pub use context::Unit;
use context::UnitRead;
pub use error::CallError;
pub use single_region::{AssetId, read_asset, read_region};

/// A service that a scan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// AWS KMS keys and aliases.
    Kms,
    /// AWS Certificate Manager certificates.
    Acm,
    /// AWS Private CA certificate authorities.
    AcmPca,
    /// AWS Secrets Manager secrets.
    SecretsManager,
    /// AWS IAM customer managed and inline policies.
    Iam,
}

impl Service {
    /// Every service, in scan order.
    pub const ALL: [Self; 5] = [
        Self::Kms,
        Self::Acm,
        Self::AcmPca,
        Self::SecretsManager,
        Self::Iam,
    ];

    /// Name in coverage rows and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kms => "kms",
            Self::Acm => "acm",
            Self::AcmPca => "acm-pca",
            Self::SecretsManager => "secretsmanager",
            Self::Iam => "iam",
        }
    }

    /// Reports whether the service is global: read once per account, not
    /// once per Region.
    pub fn is_global(self) -> bool {
        self == Self::Iam
    }

    /// Parses a name of [`Service::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|service| service.name() == name)
    }
}

/// Options of a scan: the accounts, Regions and services to read, and how.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Scan every active account of the organization, through a role in
    /// each member account; otherwise only the current credentials'
    /// account.
    pub organization: bool,
    /// Name of the role to assume in member accounts.
    pub role_name: String,
    /// External id for assuming the role.
    pub external_id: Option<String>,
    /// Scan only these accounts.
    pub accounts: Vec<String>,
    /// Leave out these accounts.
    pub exclude_accounts: Vec<String>,
    /// Scan only these Regions; by default every Region that each account
    /// has enabled.
    pub regions: Vec<String>,
    /// Services to read.
    pub services: Vec<Service>,
    /// API calls in flight at once, across all accounts and Regions.
    pub concurrency: usize,
    /// Attempts per call, with adaptive back-off for throttling.
    pub max_attempts: u32,
    /// Endpoint that replaces AWS's for every service, for emulators.
    pub endpoint_url: Option<String>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            organization: false,
            role_name: "KeywardAudit".to_owned(),
            external_id: None,
            accounts: Vec::new(),
            exclude_accounts: Vec::new(),
            regions: Vec::new(),
            services: Service::ALL.to_vec(),
            concurrency: 16,
            max_attempts: 6,
            endpoint_url: None,
        }
    }
}

/// A scan that could not start: the current credentials could not be
/// identified, or the organization's accounts could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The credentials could not be identified.
    #[error(
        "cannot identify the current AWS credentials ({0}); configure credentials through the environment, a profile or SSO"
    )]
    Identity(CallError),
    /// The organization's accounts could not be listed.
    #[error(
        "cannot list the organization's accounts ({0}); run from the management account or a delegated administrator, or scan without --org"
    )]
    Organization(CallError),
    /// No account is left to scan.
    #[error("no account to scan: {0}")]
    NoAccounts(&'static str),
    /// No response came from the endpoint.
    #[error(
        "cannot reach {endpoint} ({error}); check --endpoint-url, AWS_ENDPOINT_URL and the network"
    )]
    Unreachable {
        /// The endpoint tried.
        endpoint: String,
        /// The failed call.
        error: CallError,
    },
}

/// Reports the progress of a scan.
pub trait Progress: Send + Sync {
    /// Receives the number of units of work (service, account and Region).
    fn units(&self, total: u64);
    /// Receives the coverage row of each unit as it finishes.
    fn unit_done(&self, coverage: &CoverageRecord);
}

/// Progress that is not shown.
pub struct NoProgress;

impl Progress for NoProgress {
    fn units(&self, _total: u64) {}
    fn unit_done(&self, _coverage: &CoverageRecord) {}
}

/// Loads the shared AWS configuration: credentials and Region from the
/// standard chain, the endpoint override, adaptive retry and timeouts.
pub async fn load_config(options: &ScanOptions) -> SdkConfig {
    let region = aws_config::meta::region::RegionProviderChain::default_provider()
        .or_else(Region::from_static("us-east-1"));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(RetryConfig::adaptive().with_max_attempts(options.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        );
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Scans the accounts, Regions and services that `options` select.
///
/// Only a failure to identify the caller or to list the organization's
/// accounts fails the scan. Other failed calls end up in the coverage rows,
/// or in the `read_errors` of the asset concerned.
pub async fn scan(
    config: &SdkConfig,
    options: &ScanOptions,
    progress: &dyn Progress,
) -> Result<Snapshot, ScanError> {
    let started_at = time::now();
    let scan_id = scan_id(started_at);
    let limit = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let options = &deduplicated(options);
    let caller = identify(config, options).await?;
    info!(account = %caller.account_id, "scanning as {}", caller.arn);

    let mut coverage = Vec::new();
    let listed = accounts::list(config, options, &caller).await?;
    let accounts =
        accounts::select(config, options, &caller, &listed, &scan_id, &mut coverage).await;
    if accounts.is_empty() {
        return Err(ScanError::NoAccounts(if options.organization {
            "the organization lists no active account, or --accounts and --exclude-accounts leave none"
        } else {
            "--accounts and --exclude-accounts leave out the current credentials' account"
        }));
    }
    let tree = if options.organization {
        let (tree, row) = organization::read(config, &caller.account_id, &scan_id).await;
        coverage.push(row);
        tree
    } else {
        organization::Tree::default()
    };

    let units = plan_units(&accounts, options, &scan_id, &limit, &mut coverage).await;
    progress.units(units.len() as u64);
    let account_regions = units
        .iter()
        .filter(|unit| !unit.service.is_global())
        .map(|unit| (unit.account_id.clone(), unit.region.clone()))
        .collect::<BTreeSet<_>>()
        .len();
    let mut snapshot = run_units(units, progress, &mut coverage).await;
    let scanned: Vec<&str> = accounts.iter().map(|account| account.id.as_str()).collect();
    snapshot.accounts = organization::account_records(&listed, &scanned, &tree, &scan_id);
    sort(&mut snapshot, &mut coverage);

    let complete = coverage.iter().all(|row| row.status == CoverageStatus::Ok);
    debug!(units = coverage.len(), complete, "scan finished");
    snapshot.coverage = coverage;
    snapshot.scan = ScanRecord {
        scan_id,
        started_at,
        finished_at: time::now(),
        caller_account: Some(caller.account_id),
        accounts: accounts.len() as u32,
        account_regions: account_regions as u32,
        complete,
        keyward_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    Ok(snapshot)
}

/// Identifies the current credentials. The error separates an endpoint
/// that does not respond from credentials that AWS rejects.
async fn identify(
    config: &SdkConfig,
    options: &ScanOptions,
) -> Result<accounts::Caller, ScanError> {
    accounts::caller(config).await.map_err(|error| {
        if error.http_status.is_none() {
            // AWS_ENDPOINT_URL reaches the SDK without passing through
            // the options, so the message names both.
            let endpoint = options
                .endpoint_url
                .clone()
                .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
                .unwrap_or_else(|| "AWS STS".to_owned());
            ScanError::Unreachable { endpoint, error }
        } else {
            ScanError::Identity(error)
        }
    })
}

/// Reads the Regions of each account and returns the units of work: each
/// Regional service in each Region, and each global service once per
/// account.
async fn plan_units(
    accounts: &[Account],
    options: &ScanOptions,
    scan_id: &str,
    limit: &Arc<Semaphore>,
    coverage: &mut Vec<CoverageRecord>,
) -> Vec<Unit> {
    let mut units = Vec::new();
    for account in accounts {
        let Some(account_config) = &account.config else {
            continue;
        };
        let (global, regional): (Vec<Service>, Vec<Service>) = options
            .services
            .iter()
            .partition(|service| service.is_global());
        for service in global {
            units.push(Unit::new(
                scan_id,
                &account.id,
                "",
                service,
                account_config,
                limit.clone(),
            ));
        }
        if regional.is_empty() {
            continue;
        }
        let regions =
            regions::for_account(account_config, options, &account.id, scan_id, coverage).await;
        for region in regions {
            for service in &regional {
                units.push(Unit::new(
                    scan_id,
                    &account.id,
                    &region,
                    *service,
                    account_config,
                    limit.clone(),
                ));
            }
        }
    }
    units
}

/// Runs every unit concurrently, and collects their assets and coverage
/// rows as they finish.
async fn run_units(
    units: Vec<Unit>,
    progress: &dyn Progress,
    coverage: &mut Vec<CoverageRecord>,
) -> Snapshot {
    let mut snapshot = Snapshot::default();
    let mut tasks = JoinSet::new();
    let mut identities = HashMap::new();
    for unit in units {
        let identity = unit.coverage();
        let handle = tasks.spawn(async move { unit.run().await });
        identities.insert(handle.id(), identity);
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        let read = match joined {
            Ok((_, read)) => read,
            // A task that panicked still leaves a coverage row, so that
            // its service counts as unread.
            Err(error) => {
                let mut row = identities.remove(&error.id()).unwrap_or_default();
                row.status = CoverageStatus::Failed;
                row.error_message = Some(format!("the scan task failed: {error}"));
                UnitRead {
                    coverage: row,
                    ..UnitRead::default()
                }
            }
        };
        progress.unit_done(&read.coverage);
        if read.coverage.status != CoverageStatus::Ok {
            warn!(
                account = %read.coverage.account_id,
                region = %read.coverage.region,
                service = %read.coverage.service,
                "{}",
                gap_text(&read.coverage)
            );
        }
        coverage.push(read.coverage);
        snapshot.keys.extend(read.keys);
        snapshot.aliases.extend(read.aliases);
        snapshot.certificates.extend(read.certificates);
        snapshot.authorities.extend(read.authorities);
        snapshot.secrets.extend(read.secrets);
        snapshot.iam_policies.extend(read.iam_policies);
    }
    snapshot
}

/// Sorts the rows, so that two scans of the same assets compare equal.
fn sort(snapshot: &mut Snapshot, coverage: &mut [CoverageRecord]) {
    coverage.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.service).cmp(&(&b.account_id, &b.region, &b.service))
    });
    snapshot.keys.sort_by(|a, b| a.arn.cmp(&b.arn));
    snapshot.aliases.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.alias_name).cmp(&(&b.account_id, &b.region, &b.alias_name))
    });
    snapshot.certificates.sort_by(|a, b| a.arn.cmp(&b.arn));
    snapshot.authorities.sort_by(|a, b| a.arn.cmp(&b.arn));
    snapshot.secrets.sort_by(|a, b| a.arn.cmp(&b.arn));
    snapshot.iam_policies.sort_by(|a, b| {
        (
            &a.account_id,
            a.policy_type,
            policy_owner(a),
            &a.policy_name,
        )
            .cmp(&(
                &b.account_id,
                b.policy_type,
                policy_owner(b),
                &b.policy_name,
            ))
    });
}

/// Returns the ARN of a managed policy, or of the identity of an inline
/// policy.
fn policy_owner(policy: &IamPolicyRecord) -> Option<&str> {
    policy.arn.as_deref().or(policy.principal_arn.as_deref())
}

/// Returns the options with each account, Region and service once, in the
/// order first given.
fn deduplicated(options: &ScanOptions) -> ScanOptions {
    fn unique<T: Clone + PartialEq>(items: &[T]) -> Vec<T> {
        let mut kept: Vec<T> = Vec::with_capacity(items.len());
        for item in items {
            if !kept.contains(item) {
                kept.push(item.clone());
            }
        }
        kept
    }
    ScanOptions {
        accounts: unique(&options.accounts),
        exclude_accounts: unique(&options.exclude_accounts),
        regions: unique(&options.regions),
        services: unique(&options.services),
        ..options.clone()
    }
}

/// Describes a coverage gap in one line, for logs and summaries.
pub fn gap_text(row: &CoverageRecord) -> String {
    let status = match row.status {
        CoverageStatus::Ok => "read in full",
        CoverageStatus::AccessDenied => "access denied",
        CoverageStatus::RegionDisabled => "Region not enabled",
        CoverageStatus::Throttled => "throttled on every retry",
        CoverageStatus::Failed => "failed",
    };
    let mut text = status.to_owned();
    match (&row.operation, &row.error_code, &row.error_message) {
        (Some(operation), Some(code), Some(message)) => {
            text.push_str(&format!(" ({operation}: {code}: {message})"));
        }
        (Some(operation), None, Some(message)) => {
            text.push_str(&format!(" ({operation}: {message})"));
        }
        (None, _, Some(message)) => text.push_str(&format!(" ({message})")),
        _ => {}
    }
    text
}

/// Builds a scan id that sorts by start time and differs between processes.
fn scan_id(started_at: DateTime<Utc>) -> String {
    format!(
        "{}-{:x}",
        started_at.format("%Y%m%dT%H%M%S%.6fZ"),
        std::process::id()
    )
}
