//! AWS Certificate Manager: every certificate, of every key type and
//! status, with its details and tags.
//!
//! `ListCertificates` returns only RSA 2048 certificates unless asked for
//! each key type, so the request names every key type and every status
//! that the SDK defines.

use aws_sdk_acm::Client;
use aws_sdk_acm::types::{CertificateDetail, CertificateStatus, Filters, KeyAlgorithm};
use futures_util::StreamExt;
use futures_util::stream;
use keyward_store::inventory::{CertificateRecord, Tag};

use crate::context::{Unit, UnitRead, record_gap};
use crate::error::CallError;
use crate::time::utc_opt;

/// Certificates whose details are read at once within one unit.
const CERTIFICATES_IN_FLIGHT: usize = 8;

pub async fn read(unit: &Unit) -> UnitRead {
    let client = Client::new(&unit.config);
    let mut read = UnitRead {
        coverage: unit.coverage(),
        ..UnitRead::default()
    };
    let arns = match list_certificates(unit, &client).await {
        Ok(arns) => arns,
        Err(error) => {
            record_gap(&mut read.coverage, &error);
            return read;
        }
    };
    let certificates: Vec<CertificateRecord> = stream::iter(arns)
        .map(|arn| read_certificate(unit, &client, arn))
        .buffer_unordered(CERTIFICATES_IN_FLIGHT)
        .collect()
        .await;
    read.coverage.assets = certificates.len() as u32;
    read.coverage.partial_assets = certificates
        .iter()
        .filter(|c| !c.read_errors.is_empty())
        .count() as u32;
    read.certificates = certificates;
    read
}

async fn list_certificates(unit: &Unit, client: &Client) -> Result<Vec<String>, CallError> {
    let key_types: Vec<KeyAlgorithm> = KeyAlgorithm::values()
        .iter()
        .map(|name| KeyAlgorithm::from(*name))
        .collect();
    let statuses: Vec<CertificateStatus> = CertificateStatus::values()
        .iter()
        .map(|name| CertificateStatus::from(*name))
        .collect();
    let includes = Filters::builder().set_key_types(Some(key_types)).build();
    let mut arns = Vec::new();
    let mut next_token = None;
    loop {
        let page = unit
            .call(
                "ListCertificates",
                client
                    .list_certificates()
                    .includes(includes.clone())
                    .set_certificate_statuses(Some(statuses.clone()))
                    .max_items(1000)
                    .set_next_token(next_token)
                    .send(),
            )
            .await?;
        arns.extend(
            page.certificate_summary_list()
                .iter()
                .filter_map(|summary| summary.certificate_arn())
                .map(str::to_owned),
        );
        match page.next_token() {
            Some(next) if !next.is_empty() => next_token = Some(next.to_owned()),
            _ => return Ok(arns),
        }
    }
}

/// Reads one certificate. A certificate that does not exist leaves the
/// read without certificates; any other failed `DescribeCertificate` is a
/// coverage gap.
pub async fn read_one(unit: &Unit, arn: &str) -> UnitRead {
    let client = Client::new(&unit.config);
    let mut read = UnitRead {
        coverage: unit.coverage(),
        ..UnitRead::default()
    };
    // Asks once before the full read, which records a failure in the
    // certificate and would keep a deleted certificate as a partial one.
    let described = unit
        .call(
            "DescribeCertificate",
            client.describe_certificate().certificate_arn(arn).send(),
        )
        .await;
    match described {
        Ok(_) => {}
        Err(error) if error.code.as_deref() == Some("ResourceNotFoundException") => return read,
        Err(error) => {
            record_gap(&mut read.coverage, &error);
            return read;
        }
    }
    let certificate = read_certificate(unit, &client, arn.to_owned()).await;
    read.coverage.assets = 1;
    read.coverage.partial_assets = u32::from(!certificate.read_errors.is_empty());
    read.certificates.push(certificate);
    read
}

async fn read_certificate(unit: &Unit, client: &Client, arn: String) -> CertificateRecord {
    let mut certificate = CertificateRecord {
        scan_id: unit.scan_id.clone(),
        account_id: unit.account_id.clone(),
        region: unit.region.clone(),
        arn,
        ..CertificateRecord::default()
    };
    let described = unit
        .call(
            "DescribeCertificate",
            client
                .describe_certificate()
                .certificate_arn(&certificate.arn)
                .send(),
        )
        .await;
    match described {
        Ok(output) => {
            if let Some(detail) = output.certificate() {
                describe(&mut certificate, detail);
            }
        }
        Err(error) => certificate.read_errors.push(error.to_string()),
    }
    let tags = unit
        .call(
            "ListTagsForCertificate",
            client
                .list_tags_for_certificate()
                .certificate_arn(&certificate.arn)
                .send(),
        )
        .await;
    match tags {
        Ok(output) => {
            certificate.tags = output
                .tags()
                .iter()
                .map(|tag| Tag {
                    key: tag.key().to_owned(),
                    value: tag.value().unwrap_or_default().to_owned(),
                })
                .collect();
        }
        Err(error) => certificate.read_errors.push(error.to_string()),
    }
    certificate
}

fn describe(certificate: &mut CertificateRecord, detail: &CertificateDetail) {
    certificate.domain_name = detail.domain_name().map(str::to_owned);
    certificate.subject_alternative_names = detail.subject_alternative_names().to_vec();
    certificate.status = detail.status().map(|v| v.as_str().to_owned());
    certificate.certificate_type = detail.r#type().map(|v| v.as_str().to_owned());
    certificate.key_algorithm = detail.key_algorithm().map(|v| v.as_str().to_owned());
    certificate.signature_algorithm = detail.signature_algorithm().map(str::to_owned);
    certificate.subject = detail.subject().map(str::to_owned);
    certificate.issuer = detail.issuer().map(str::to_owned);
    certificate.serial = detail.serial().map(str::to_owned);
    certificate.not_before = utc_opt(detail.not_before());
    certificate.not_after = utc_opt(detail.not_after());
    certificate.created_at = utc_opt(detail.created_at());
    certificate.issued_at = utc_opt(detail.issued_at());
    certificate.imported_at = utc_opt(detail.imported_at());
    certificate.revoked_at = utc_opt(detail.revoked_at());
    certificate.revocation_reason = detail.revocation_reason().map(|v| v.as_str().to_owned());
    certificate.in_use_by = detail.in_use_by().to_vec();
    certificate.renewal_eligibility = detail.renewal_eligibility().map(|v| v.as_str().to_owned());
    if let Some(renewal) = detail.renewal_summary() {
        certificate.renewal_status = Some(renewal.renewal_status().as_str().to_owned());
        certificate.renewal_failure_reason = renewal
            .renewal_status_reason()
            .map(|v| v.as_str().to_owned());
    }
    certificate.failure_reason = detail.failure_reason().map(|v| v.as_str().to_owned());
    certificate.certificate_authority_arn = detail.certificate_authority_arn().map(str::to_owned);
    certificate.export_option = detail
        .options()
        .and_then(|options| options.export())
        .map(|v| v.as_str().to_owned());
    #[expect(
        deprecated,
        reason = "ACM no longer accepts opt-outs, but certificates that opted out before keep DISABLED"
    )]
    let transparency = detail
        .options()
        .and_then(|options| options.certificate_transparency_logging_preference())
        .map(|v| v.as_str().to_owned());
    certificate.transparency_logging = transparency;
    certificate.key_usages = detail
        .key_usages()
        .iter()
        .filter_map(|usage| usage.name())
        .map(|name| name.as_str().to_owned())
        .collect();
    certificate.extended_key_usages = detail
        .extended_key_usages()
        .iter()
        .filter_map(|usage| usage.name())
        .map(|name| name.as_str().to_owned())
        .collect();
}
