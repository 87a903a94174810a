//! The input of the rules: a snapshot of the inventory, the usage index
//! from CloudTrail, the period that CloudTrail covers, and the
//! configuration.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use keyward_store::inventory::{CoverageRecord, CoverageStatus, Snapshot};

use crate::{Config, Resource, ResourceType};

/// The CloudTrail record of one asset's use: a row of the `usage` view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AssetUsage {
    /// Last successful use.
    pub last_used: Option<DateTime<Utc>>,
    /// Operation of the last successful use.
    pub last_operation: Option<String>,
    /// CloudTrail event id of the last successful use.
    pub last_event_id: Option<String>,
    /// Principal of the last successful use.
    pub last_principal: Option<String>,
    /// Successful uses.
    pub uses: u64,
    /// Accounts of the principals that used the asset.
    pub principal_accounts: Vec<String>,
    /// Last failed use.
    pub last_denied: Option<DateTime<Utc>>,
    /// Operation of the last failed use.
    pub last_denied_operation: Option<String>,
    /// Error code of the last failed use.
    pub last_denied_error: Option<String>,
    /// Principal of the last failed use.
    pub last_denied_principal: Option<String>,
    /// Last `RotationFailed` event of a secret.
    pub last_rotation_failed: Option<DateTime<Utc>>,
    /// CloudTrail event id of the last `RotationFailed` event.
    pub last_rotation_failed_event_id: Option<String>,
    /// Last `RotationSucceeded` event of a secret.
    pub last_rotation_succeeded: Option<DateTime<Utc>>,
}

/// The period for which the store contains CloudTrail events of one
/// account and Region.
///
/// NOTE: the span runs from the earliest to the latest stored event of the
/// kept services, so a gap in the ingested logs inside it goes unseen. An
/// account and Region with logs but no such events has no span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrailWindow {
    /// Earliest event.
    pub first: DateTime<Utc>,
    /// Latest event.
    pub last: DateTime<Utc>,
}

/// Everything a rule may read.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The time that "N days ago" counts from.
    pub now: DateTime<Utc>,
    /// The inventory.
    pub snapshot: Snapshot,
    /// Usage per asset ARN, from CloudTrail.
    pub usage: HashMap<String, AssetUsage>,
    /// CloudTrail periods per account and Region.
    pub trail: HashMap<(String, String), TrailWindow>,
    /// Configuration.
    pub config: Config,
}

impl Context {
    /// Returns the accounts of the scan, whose principals count as inside
    /// the organization.
    pub fn known_accounts(&self) -> BTreeSet<&str> {
        self.snapshot
            .coverage
            .iter()
            .map(|row| row.account_id.as_str())
            .collect()
    }

    /// Returns the resources of a type. A replica secret is left out,
    /// because its primary is judged once, in its primary Region.
    pub fn resources(&self, resource_type: ResourceType) -> Vec<Resource<'_>> {
        match resource_type {
            ResourceType::KmsKey => self.snapshot.keys.iter().map(Resource::Key).collect(),
            ResourceType::Certificate => self
                .snapshot
                .certificates
                .iter()
                .map(Resource::Certificate)
                .collect(),
            ResourceType::IamPolicy | ResourceType::IamPrincipal => {
                self.iam_resources(resource_type)
            }
            ResourceType::Secret => self
                .snapshot
                .secrets
                .iter()
                .filter(|secret| {
                    secret
                        .primary_region
                        .as_deref()
                        .is_none_or(|primary| primary == secret.region)
                })
                .map(Resource::Secret)
                .collect(),
        }
    }

    /// Coverage gaps that leave resources of a type unknown: the service
    /// itself, and accounts whose role or Regions could not be read.
    pub fn unread_services(&self, resource_type: ResourceType) -> Vec<&CoverageRecord> {
        let service = resource_type.service();
        self.snapshot
            .coverage
            .iter()
            .filter(|row| row.status != CoverageStatus::Ok)
            .filter(|row| {
                // Listing Regions does not decide whether a global service
                // was read.
                let regions_gap = row.service == "account" && !resource_type.is_global();
                row.service == service || row.service == "sts" || regions_gap
            })
            .collect()
    }

    /// Usage of an asset, if CloudTrail named it.
    pub fn usage_of(&self, arn: &str) -> Option<&AssetUsage> {
        self.usage.get(arn)
    }

    /// Returns the CloudTrail period of an account and Region, if the store
    /// has events of it.
    pub fn trail_window(&self, account: &str, region: &str) -> Option<TrailWindow> {
        self.trail
            .get(&(account.to_owned(), region.to_owned()))
            .copied()
    }

    /// Returns the time `days` days before now.
    pub fn days_ago(&self, days: u32) -> DateTime<Utc> {
        self.now - chrono::Duration::days(i64::from(days))
    }
}

/// Whole days from `earlier` to `later`, rounded down.
pub fn days_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> i64 {
    (later - earlier).num_days()
}
