//! The Regions to scan in each account.
//!
//! `account:ListRegions` returns the Regions that the account has enabled. An
//! opt-in Region that the account has not enabled is recorded as
//! `region_disabled` for each service, without a call. When the Regions
//! cannot be listed, the Regions given with `--regions` are scanned, or
//! else only the configured Region, and the coverage row records why.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_account::Client;
use aws_sdk_account::types::RegionOptStatus;
use keyward_store::inventory::{CoverageRecord, CoverageStatus};
use tracing::warn;

use crate::ScanOptions;
use crate::error::CallError;

/// Reads the account's Regions and returns those to scan. Adds a coverage
/// row for the listing (service `account`) and one per service for each
/// requested Region that is not enabled.
pub async fn for_account(
    config: &SdkConfig,
    options: &ScanOptions,
    account_id: &str,
    scan_id: &str,
    coverage: &mut Vec<CoverageRecord>,
) -> Vec<String> {
    let mut row = CoverageRecord {
        scan_id: scan_id.to_owned(),
        account_id: account_id.to_owned(),
        service: "account".to_owned(),
        ..CoverageRecord::default()
    };
    let listed = list_regions(config, &mut row.calls).await;
    let regions = match listed {
        Ok(statuses) => {
            row.assets = statuses.len() as u32;
            choose(&statuses, options, account_id, scan_id, coverage)
        }
        // With --regions, the listing only finds disabled Regions; an
        // endpoint without the operation (an emulator) leaves no gap then.
        Err(error) if error.is_unknown_operation() && !options.regions.is_empty() => {
            row.operation = Some(error.operation.to_owned());
            row.error_message = Some(format!(
                "the endpoint does not implement ListRegions; scanning the Regions given: {error}"
            ));
            options.regions.clone()
        }
        Err(error) => {
            warn!(
                account = account_id,
                "cannot list the account's Regions: {error}"
            );
            row.status = error.status();
            row.operation = Some(error.operation.to_owned());
            row.error_code = error.code.clone();
            row.error_message = Some(error.message.clone());
            if options.regions.is_empty() {
                config.region().map(|r| r.to_string()).into_iter().collect()
            } else {
                options.regions.clone()
            }
        }
    };
    coverage.push(row);
    regions
}

/// Region names with their opt-in status.
async fn list_regions(
    config: &SdkConfig,
    calls: &mut u32,
) -> Result<BTreeMap<String, RegionOptStatus>, CallError> {
    let client = Client::new(config);
    let mut regions = BTreeMap::new();
    let mut next_token = None;
    loop {
        *calls += 1;
        let page = client
            .list_regions()
            .max_results(50)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|error| CallError::from_sdk("ListRegions", error))?;
        for region in page.regions() {
            if let (Some(name), Some(status)) = (region.region_name(), region.region_opt_status()) {
                regions.insert(name.to_owned(), status.clone());
            }
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => next_token = Some(next.to_owned()),
            _ => return Ok(regions),
        }
    }
}

fn is_enabled(status: &RegionOptStatus) -> bool {
    matches!(
        status,
        RegionOptStatus::Enabled | RegionOptStatus::EnabledByDefault
    )
}

fn choose(
    statuses: &BTreeMap<String, RegionOptStatus>,
    options: &ScanOptions,
    account_id: &str,
    scan_id: &str,
    coverage: &mut Vec<CoverageRecord>,
) -> Vec<String> {
    if options.regions.is_empty() {
        return statuses
            .iter()
            .filter(|(_, status)| is_enabled(status))
            .map(|(name, _)| name.clone())
            .collect();
    }
    let mut chosen = Vec::new();
    for region in &options.regions {
        match statuses.get(region) {
            Some(status) if !is_enabled(status) => {
                let regional = options.services.iter().filter(|s| !s.is_global());
                for service in regional {
                    coverage.push(CoverageRecord {
                        scan_id: scan_id.to_owned(),
                        account_id: account_id.to_owned(),
                        region: region.clone(),
                        service: service.name().to_owned(),
                        status: CoverageStatus::RegionDisabled,
                        operation: Some("ListRegions".to_owned()),
                        error_message: Some(format!(
                            "the account has not enabled this Region (opt-in status {})",
                            status.as_str()
                        )),
                        ..CoverageRecord::default()
                    });
                }
            }
            // A Region that the listing does not know may be newer than
            // the listing; it is scanned, and its calls tell.
            _ => chosen.push(region.clone()),
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Service;

    #[test]
    fn requested_disabled_region_is_recorded_not_scanned() {
        let statuses = BTreeMap::from([
            ("us-east-1".to_owned(), RegionOptStatus::EnabledByDefault),
            ("af-south-1".to_owned(), RegionOptStatus::Disabled),
            ("eu-south-1".to_owned(), RegionOptStatus::Enabled),
        ]);
        let options = ScanOptions {
            regions: vec!["af-south-1".into(), "us-east-1".into(), "xx-new-1".into()],
            services: vec![Service::Kms, Service::Acm],
            ..ScanOptions::default()
        };
        let mut coverage = Vec::new();
        let chosen = choose(&statuses, &options, "111122223333", "s", &mut coverage);
        assert_eq!(chosen, ["us-east-1", "xx-new-1"]);
        assert_eq!(coverage.len(), 2);
        assert!(
            coverage
                .iter()
                .all(|row| row.status == CoverageStatus::RegionDisabled
                    && row.region == "af-south-1")
        );

        let all = ScanOptions::default();
        let chosen = choose(&statuses, &all, "111122223333", "s", &mut Vec::new());
        assert_eq!(chosen, ["eu-south-1", "us-east-1"]);
    }
}
