//! Reads of one service, or one asset, in the account and Region of the
//! current credentials, for callers that run inside that account, such as
//! the AWS Config rules of `keyward-lambda`.
//!
//! They use the same readers as a full scan, so an asset gets the same
//! record, and a service that could not be read gets a coverage row with
//! its cause.

use std::sync::Arc;

use aws_config::SdkConfig;
use keyward_store::inventory::{ScanRecord, Snapshot};
use tokio::sync::Semaphore;

use crate::context::{Unit, UnitRead};
use crate::{Service, time};

/// API calls in flight at once within one read.
const CALLS_IN_FLIGHT: usize = 8;

/// One asset, as AWS Config names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssetId {
    /// A KMS key, by key id or key ARN.
    Key(String),
    /// An ACM certificate, by ARN.
    Certificate(String),
    /// A Secrets Manager secret, by ARN.
    Secret(String),
}

impl AssetId {
    /// Service that contains the asset.
    pub fn service(&self) -> Service {
        match self {
            Self::Key(_) => Service::Kms,
            Self::Certificate(_) => Service::Acm,
            Self::Secret(_) => Service::SecretsManager,
        }
    }
}

/// Reads every asset of `service` in one account and Region. The snapshot
/// has one coverage row, which records a failed listing call.
pub async fn read_region(
    config: &SdkConfig,
    account_id: &str,
    region: &str,
    service: Service,
) -> Snapshot {
    let unit = unit(config, account_id, region, service);
    let scan_id = unit.scan_id.clone();
    snapshot(scan_id, account_id, unit.run().await)
}

/// Reads one asset in one account and Region. An asset that does not exist
/// gives a snapshot without assets and a coverage row with status `ok`.
pub async fn read_asset(
    config: &SdkConfig,
    account_id: &str,
    region: &str,
    asset: &AssetId,
) -> Snapshot {
    let unit = unit(config, account_id, region, asset.service());
    let scan_id = unit.scan_id.clone();
    let read = match asset {
        AssetId::Key(key_id) => crate::kms::read_one(&unit, key_id).await,
        AssetId::Certificate(arn) => crate::acm::read_one(&unit, arn).await,
        AssetId::Secret(arn) => crate::secrets::read_one(&unit, arn).await,
    };
    let read = unit.finish(read);
    snapshot(scan_id, account_id, read)
}

fn unit(config: &SdkConfig, account_id: &str, region: &str, service: Service) -> Unit {
    let scan_id = crate::scan_id(time::now());
    let limit = Arc::new(Semaphore::new(CALLS_IN_FLIGHT));
    Unit::new(&scan_id, account_id, region, service, config, limit)
}

fn snapshot(scan_id: String, account_id: &str, read: UnitRead) -> Snapshot {
    let now = time::now();
    let complete = read.coverage.status == keyward_store::inventory::CoverageStatus::Ok;
    Snapshot {
        scan: ScanRecord {
            scan_id,
            started_at: now,
            finished_at: now,
            caller_account: Some(account_id.to_owned()),
            accounts: 1,
            account_regions: 1,
            complete,
            keyward_version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        coverage: vec![read.coverage],
        keys: read.keys,
        aliases: read.aliases,
        certificates: read.certificates,
        authorities: read.authorities,
        secrets: read.secrets,
        iam_policies: read.iam_policies,
        accounts: Vec::new(),
    }
}
