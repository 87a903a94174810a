//! One unit of work: one service in one account and Region.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use aws_config::{Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use keyward_store::inventory::{
    AliasRecord, AuthorityRecord, CertificateRecord, CoverageRecord, CoverageStatus,
    IamPolicyRecord, KeyRecord, SecretRecord,
};
use tokio::sync::Semaphore;

use crate::Service;
use crate::error::CallError;

/// Assets read by one unit, with its coverage row.
#[derive(Debug, Default)]
pub struct UnitRead {
    pub coverage: CoverageRecord,
    pub keys: Vec<KeyRecord>,
    pub aliases: Vec<AliasRecord>,
    pub certificates: Vec<CertificateRecord>,
    pub authorities: Vec<AuthorityRecord>,
    pub secrets: Vec<SecretRecord>,
    pub iam_policies: Vec<IamPolicyRecord>,
}

/// One service in one account and Region, or in one account for a global
/// service.
#[derive(Debug)]
pub struct Unit {
    /// Scan that the unit belongs to.
    pub scan_id: String,
    /// Account.
    pub account_id: String,
    /// Region, or empty for a global service.
    pub region: String,
    /// Service.
    pub service: Service,
    /// Configuration with the account's credentials and the Region.
    pub config: SdkConfig,
    limit: Arc<Semaphore>,
    calls: AtomicU32,
    /// First call that failed for a reason other than the asset itself:
    /// the endpoint could not be reached, failed, or throttled every retry.
    broken: Mutex<Option<CallError>>,
}

impl Unit {
    /// Creates a unit whose calls share `limit` with every other unit.
    /// `region` is ignored for a global service: its unit keeps the
    /// account's configured Region, from which the SDK resolves the
    /// service's one endpoint in that partition.
    pub fn new(
        scan_id: &str,
        account_id: &str,
        region: &str,
        service: Service,
        account_config: &SdkConfig,
        limit: Arc<Semaphore>,
    ) -> Self {
        let (region, config) = if service.is_global() {
            (String::new(), account_config.clone())
        } else {
            let config = account_config
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build();
            (region.to_owned(), config)
        };
        Self {
            scan_id: scan_id.to_owned(),
            account_id: account_id.to_owned(),
            region,
            service,
            config,
            limit,
            calls: AtomicU32::new(0),
            broken: Mutex::new(None),
        }
    }

    /// Reads the unit's service.
    pub async fn run(self) -> UnitRead {
        let read = match self.service {
            Service::Kms => crate::kms::read(&self).await,
            Service::Acm => crate::acm::read(&self).await,
            Service::AcmPca => crate::pca::read(&self).await,
            Service::SecretsManager => crate::secrets::read(&self).await,
            Service::Iam => crate::iam::read(&self).await,
        };
        self.finish(read)
    }

    /// Completes the coverage row of a read: the number of calls, and the
    /// first call that broke the service.
    pub fn finish(&self, mut read: UnitRead) -> UnitRead {
        read.coverage.calls = self.calls.load(Ordering::Relaxed);
        // Assets read before the endpoint failed are kept, but the service
        // was not read in full.
        let broken = self.broken.lock().ok().and_then(|mut slot| slot.take());
        if let Some(error) = broken {
            record_gap(&mut read.coverage, &error);
        }
        read
    }

    /// Makes one API call within the shared limit, and names its failure.
    pub async fn call<T, E, F>(&self, operation: &'static str, request: F) -> Result<T, CallError>
    where
        F: Future<Output = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        // Acquiring fails only on a closed semaphore, and this one is never
        // closed; the call would then go ahead without a permit.
        let _permit = self.limit.acquire().await.ok();
        self.calls.fetch_add(1, Ordering::Relaxed);
        let result = request
            .await
            .map_err(|error| CallError::from_sdk(operation, error));
        if let Err(error) = &result
            && error.breaks_service()
            && let Ok(mut slot) = self.broken.lock()
            && slot.is_none()
        {
            *slot = Some(error.clone());
        }
        result
    }

    /// Returns a coverage row for this unit with status `ok`.
    pub fn coverage(&self) -> CoverageRecord {
        CoverageRecord {
            scan_id: self.scan_id.clone(),
            account_id: self.account_id.clone(),
            region: self.region.clone(),
            service: self.service.name().to_owned(),
            ..CoverageRecord::default()
        }
    }
}

/// Records a failed listing call in a coverage row. The first failure
/// decides the status.
pub fn record_gap(coverage: &mut CoverageRecord, error: &CallError) {
    if coverage.status != CoverageStatus::Ok {
        return;
    }
    coverage.status = error.status();
    coverage.operation = Some(error.operation.to_owned());
    coverage.error_code = error.code.clone();
    coverage.error_message = Some(error.message.clone());
}
