//! Which asset an event concerns, as one normalized identifier.
//!
//! `resources[].ARN` is preferred because CloudTrail fills it with the
//! resolved ARN. Otherwise the request's identifier is used: KMS accepts a
//! bare key id, a key ARN, an alias name or an alias ARN in `keyId`, and a
//! bare key id or an alias name only means something within the caller's
//! account and Region, so both are turned into ARNs here. An alias stays an
//! alias ARN; the store resolves it to its key from alias events and the
//! inventory.

use crate::service::CryptoService;

/// Account, Region and partition of an event, for turning relative
/// identifiers into ARNs.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// The ARN partition, such as `aws` or `aws-cn`.
    pub partition: &'a str,
    /// The event's Region.
    pub region: Option<&'a str>,
    /// The event's account.
    pub account: Option<&'a str>,
}

/// The CloudFormation-style resource type of each service's main asset, as
/// CloudTrail writes it in `resources[].type`.
fn asset_type(service: CryptoService) -> &'static str {
    match service {
        CryptoService::Kms => "AWS::KMS::Key",
        CryptoService::SecretsManager => "AWS::SecretsManager::Secret",
        CryptoService::Acm => "AWS::ACM::Certificate",
        CryptoService::AcmPca => "AWS::ACMPCA::CertificateAuthority",
        CryptoService::CloudHsm => "AWS::CloudHSM::Cluster",
    }
}

/// Returns the normalized identifier of the asset an event concerns.
///
/// `resources` contains each `resources[]` entry's ARN and type.
pub fn primary_resource(
    service: CryptoService,
    resources: &[(Option<&str>, Option<&str>)],
    request_id: Option<&str>,
    scope: Scope<'_>,
) -> Option<String> {
    let asset = asset_type(service);
    let typed = resources
        .iter()
        .find(|(arn, kind)| arn.is_some() && *kind == Some(asset))
        .and_then(|(arn, _)| *arn);
    if let Some(arn) = typed {
        return Some(arn.to_owned());
    }
    if service == CryptoService::Kms {
        let key_arn = resources
            .iter()
            .filter_map(|(arn, _)| *arn)
            .find(|arn| arn.contains(":key/"));
        if let Some(arn) = key_arn {
            return Some(arn.to_owned());
        }
    }
    if let Some(id) = request_id {
        return Some(match service {
            CryptoService::Kms => normalize_key_id(id, scope),
            _ => id.to_owned(),
        });
    }
    resources
        .iter()
        .find_map(|(arn, _)| *arn)
        .map(str::to_owned)
}

/// Turns a KMS `keyId` value into a key ARN or an alias ARN.
///
/// Identifiers that cannot be placed (no account or Region in the event) are
/// returned as written.
pub fn normalize_key_id(id: &str, scope: Scope<'_>) -> String {
    if id.starts_with("arn:") {
        return id.to_owned();
    }
    let (Some(region), Some(account)) = (scope.region, scope.account) else {
        return id.to_owned();
    };
    let partition = scope.partition;
    if id.starts_with("alias/") {
        format!("arn:{partition}:kms:{region}:{account}:{id}")
    } else {
        format!("arn:{partition}:kms:{region}:{account}:key/{id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCOPE: Scope<'static> = Scope {
        partition: "aws",
        region: Some("us-west-2"),
        account: Some("111122223333"),
    };

    #[test]
    fn typed_resource_wins_over_request() {
        let resources = [
            (
                Some("arn:aws:kms:us-west-2:111122223333:alias/app"),
                Some("AWS::KMS::Alias"),
            ),
            (
                Some("arn:aws:kms:us-west-2:111122223333:key/k1"),
                Some("AWS::KMS::Key"),
            ),
        ];
        let resource = primary_resource(CryptoService::Kms, &resources, Some("alias/app"), SCOPE);
        assert_eq!(
            resource.as_deref(),
            Some("arn:aws:kms:us-west-2:111122223333:key/k1")
        );
    }

    #[test]
    fn bare_key_id_becomes_arn() {
        let resource = primary_resource(CryptoService::Kms, &[], Some("1234abcd"), SCOPE);
        assert_eq!(
            resource.as_deref(),
            Some("arn:aws:kms:us-west-2:111122223333:key/1234abcd")
        );
    }

    #[test]
    fn alias_name_becomes_alias_arn() {
        let resource = primary_resource(CryptoService::Kms, &[], Some("alias/app"), SCOPE);
        assert_eq!(
            resource.as_deref(),
            Some("arn:aws:kms:us-west-2:111122223333:alias/app")
        );
    }

    #[test]
    fn key_arn_kept() {
        let arn = "arn:aws-cn:kms:cn-north-1:111122223333:key/k2";
        let resource = primary_resource(CryptoService::Kms, &[], Some(arn), SCOPE);
        assert_eq!(resource.as_deref(), Some(arn));
    }

    #[test]
    fn unplaced_id_kept_as_written() {
        let scope = Scope {
            partition: "aws",
            region: None,
            account: Some("111122223333"),
        };
        assert_eq!(normalize_key_id("1234abcd", scope), "1234abcd");
    }

    #[test]
    fn secret_name_kept() {
        let resource = primary_resource(CryptoService::SecretsManager, &[], Some("prod/db"), SCOPE);
        assert_eq!(resource.as_deref(), Some("prod/db"));
    }

    #[test]
    fn no_identifier_gives_none() {
        assert_eq!(primary_resource(CryptoService::Kms, &[], None, SCOPE), None);
    }
}
