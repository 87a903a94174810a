//! AWS Private CA: the certificate authorities that the account owns.
//!
//! `ListCertificateAuthorities` returns each authority whole, with the
//! same fields as `DescribeCertificateAuthority`, so no call per authority
//! is needed.

use aws_sdk_acmpca::Client;
use aws_sdk_acmpca::types::CertificateAuthority;
use keyward_store::inventory::AuthorityRecord;

use crate::context::{Unit, UnitRead, record_gap};
use crate::time::utc_opt;

pub async fn read(unit: &Unit) -> UnitRead {
    let client = Client::new(&unit.config);
    let mut read = UnitRead {
        coverage: unit.coverage(),
        ..UnitRead::default()
    };
    let mut next_token = None;
    loop {
        let page = unit
            .call(
                "ListCertificateAuthorities",
                client
                    .list_certificate_authorities()
                    .max_results(1000)
                    .set_next_token(next_token)
                    .send(),
            )
            .await;
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                record_gap(&mut read.coverage, &error);
                break;
            }
        };
        for authority in page.certificate_authorities() {
            if let Some(record) = record(unit, authority) {
                read.authorities.push(record);
            }
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => next_token = Some(next.to_owned()),
            _ => break,
        }
    }
    read.coverage.assets = read.authorities.len() as u32;
    read
}

fn record(unit: &Unit, authority: &CertificateAuthority) -> Option<AuthorityRecord> {
    let configuration = authority.certificate_authority_configuration();
    let revocation = authority.revocation_configuration();
    Some(AuthorityRecord {
        scan_id: unit.scan_id.clone(),
        account_id: unit.account_id.clone(),
        region: unit.region.clone(),
        arn: authority.arn()?.to_owned(),
        authority_type: authority.r#type().map(|v| v.as_str().to_owned()),
        status: authority.status().map(|v| v.as_str().to_owned()),
        usage_mode: authority.usage_mode().map(|v| v.as_str().to_owned()),
        key_algorithm: configuration.map(|c| c.key_algorithm().as_str().to_owned()),
        signing_algorithm: configuration.map(|c| c.signing_algorithm().as_str().to_owned()),
        key_storage_security_standard: authority
            .key_storage_security_standard()
            .map(|v| v.as_str().to_owned()),
        common_name: configuration
            .and_then(|c| c.subject())
            .and_then(|subject| subject.common_name())
            .map(str::to_owned),
        not_before: utc_opt(authority.not_before()),
        not_after: utc_opt(authority.not_after()),
        created_at: utc_opt(authority.created_at()),
        restorable_until: utc_opt(authority.restorable_until()),
        failure_reason: authority.failure_reason().map(|v| v.as_str().to_owned()),
        crl_enabled: revocation.map(|r| r.crl_configuration().is_some_and(|crl| crl.enabled())),
        ocsp_enabled: revocation.map(|r| r.ocsp_configuration().is_some_and(|ocsp| ocsp.enabled())),
        read_errors: Vec::new(),
    })
}
