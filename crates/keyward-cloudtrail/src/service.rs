//! The CloudTrail event sources that keyward keeps, and what counts as use
//! of a cryptographic asset.

/// The CloudTrail `eventSource` of every service whose events keyward keeps.
pub const CRYPTO_EVENT_SOURCES: [&str; 5] = [
    "kms.amazonaws.com",
    "secretsmanager.amazonaws.com",
    "acm.amazonaws.com",
    "acm-pca.amazonaws.com",
    "cloudhsm.amazonaws.com",
];

/// A service whose events keyward keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CryptoService {
    /// AWS Key Management Service.
    Kms,
    /// AWS Secrets Manager.
    SecretsManager,
    /// AWS Certificate Manager.
    Acm,
    /// AWS Private Certificate Authority.
    AcmPca,
    /// AWS CloudHSM.
    CloudHsm,
}

impl CryptoService {
    /// Returns the service of a CloudTrail `eventSource`, or `None` for a
    /// service keyward does not keep.
    pub fn from_event_source(source: &str) -> Option<Self> {
        match source {
            "kms.amazonaws.com" => Some(Self::Kms),
            "secretsmanager.amazonaws.com" => Some(Self::SecretsManager),
            "acm.amazonaws.com" => Some(Self::Acm),
            "acm-pca.amazonaws.com" => Some(Self::AcmPca),
            "cloudhsm.amazonaws.com" => Some(Self::CloudHsm),
            _ => None,
        }
    }
}

/// KMS operations that use a key cryptographically. A successful call of one
/// of these is what "the key is in use" means for the usage index and for
/// `GetKeyLastUsage`.
pub const KMS_CRYPTOGRAPHIC_OPERATIONS: [&str; 14] = [
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "ReEncryptFrom",
    "ReEncryptTo",
];

/// Secrets Manager operations that read a secret's value: the use that
/// `LastAccessedDate` tracks.
pub const SECRET_READ_OPERATIONS: [&str; 2] = ["GetSecretValue", "BatchGetSecretValue"];

/// Certificate operations that use a certificate or a certificate authority.
pub const CERTIFICATE_USE_OPERATIONS: [&str; 4] = [
    "ExportCertificate",
    "GetCertificate",
    "IssueCertificate",
    "GenerateOCSPResponse",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crypto_source_maps_to_a_service() {
        for source in CRYPTO_EVENT_SOURCES {
            assert!(
                CryptoService::from_event_source(source).is_some(),
                "{source}"
            );
        }
    }

    #[test]
    fn other_sources_are_not_kept() {
        assert_eq!(CryptoService::from_event_source("s3.amazonaws.com"), None);
        assert_eq!(CryptoService::from_event_source("KMS.amazonaws.com"), None);
    }
}
