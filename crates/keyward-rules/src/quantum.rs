//! Post-quantum readiness: the algorithm behind each KMS key spec and
//! certificate key algorithm, its strength against classical and quantum
//! attacks, and the rules that report keys and certificates that a
//! quantum computer could break.
//!
//! Shor's algorithm breaks RSA and elliptic-curve cryptography of any size,
//! so those are quantum-vulnerable. Grover's algorithm halves the strength
//! of symmetric keys and MACs, so AES-256 and HMAC with keys of 256 bits or
//! more stay safe, while smaller ones are weakened. ML-DSA (FIPS 204) is
//! designed to resist both.

use keyward_store::inventory::{CertificateRecord, KeyRecord};
use serde::Serialize;
use serde_json::json;

use crate::context::Context;
use crate::{Evaluation, Resource, ResourceType, Rule, Severity};

/// Standing of an algorithm against a quantum computer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuantumClass {
    /// Resists known quantum attacks at its parameters.
    Safe,
    /// Resists them, with a security margin under 128 bits.
    Weakened,
    /// Broken by Shor's algorithm on a large enough quantum computer.
    Vulnerable,
}

impl QuantumClass {
    /// Name stored in evidence and printed in summaries.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Safe => "quantum-safe",
            Self::Weakened => "weakened",
            Self::Vulnerable => "quantum-vulnerable",
        }
    }
}

/// A cryptographic algorithm, in the terms of CycloneDX's algorithm
/// properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Algorithm {
    /// Name, such as `AES-256-GCM`, `RSA-2048` or `ECDSA-P256`.
    pub name: &'static str,
    /// CycloneDX primitive: `ae`, `signature`, `pke`, `key-agree`, `mac`.
    pub primitive: &'static str,
    /// Parameter set, such as the key size or the ML-DSA level.
    pub parameter_set: Option<&'static str>,
    /// Elliptic curve, by its SEC 2 or RFC name.
    pub curve: Option<&'static str>,
    /// Classical security in bits (NIST SP 800-57 part 1 comparable
    /// strengths), or 0 when it depends on the key.
    pub classical_bits: u32,
    /// NIST post-quantum security category, 0 for none (1 matches AES-128
    /// key search, 3 AES-192, 5 AES-256).
    pub nist_quantum_level: u8,
    /// Standing against a quantum computer.
    pub class: QuantumClass,
    /// Reason for the class, in one sentence.
    pub reason: &'static str,
}

const SHOR: &str = "Shor's algorithm breaks RSA and elliptic-curve keys of any size";

const fn rsa(
    name: &'static str,
    bits: &'static str,
    classical: u32,
    primitive: &'static str,
) -> Algorithm {
    Algorithm {
        name,
        primitive,
        parameter_set: Some(bits),
        curve: None,
        classical_bits: classical,
        nist_quantum_level: 0,
        class: QuantumClass::Vulnerable,
        reason: SHOR,
    }
}

const fn ecc(
    name: &'static str,
    curve: &'static str,
    classical: u32,
    primitive: &'static str,
) -> Algorithm {
    Algorithm {
        name,
        primitive,
        parameter_set: None,
        curve: Some(curve),
        classical_bits: classical,
        nist_quantum_level: 0,
        class: QuantumClass::Vulnerable,
        reason: SHOR,
    }
}

const fn hmac(name: &'static str, bits: &'static str, classical: u32, level: u8) -> Algorithm {
    let weakened = classical < 256;
    Algorithm {
        name,
        primitive: "mac",
        parameter_set: Some(bits),
        curve: None,
        classical_bits: classical,
        nist_quantum_level: level,
        class: if weakened {
            QuantumClass::Weakened
        } else {
            QuantumClass::Safe
        },
        reason: if weakened {
            "Grover's algorithm leaves a key under 256 bits less than 128 bits of strength"
        } else {
            "a MAC key of 256 bits or more keeps at least 128 bits of strength against Grover's algorithm"
        },
    }
}

const fn ml_dsa(name: &'static str, set: &'static str, classical: u32, level: u8) -> Algorithm {
    Algorithm {
        name,
        primitive: "signature",
        parameter_set: Some(set),
        curve: None,
        classical_bits: classical,
        nist_quantum_level: level,
        class: QuantumClass::Safe,
        reason: "ML-DSA (FIPS 204) is a post-quantum signature scheme",
    }
}

/// Returns the algorithm of a KMS key spec. The key usage decides between
/// encryption, signing and key agreement for asymmetric keys.
pub fn kms_algorithm(key_spec: &str, key_usage: Option<&str>) -> Option<Algorithm> {
    let rsa_primitive = if key_usage == Some("SIGN_VERIFY") {
        "signature"
    } else {
        "pke"
    };
    let ecc_primitive = if key_usage == Some("KEY_AGREEMENT") {
        "key-agree"
    } else {
        "signature"
    };
    let ecc_name = |ecdsa: &'static str, ecdh: &'static str| {
        if key_usage == Some("KEY_AGREEMENT") {
            ecdh
        } else {
            ecdsa
        }
    };
    Some(match key_spec {
        "SYMMETRIC_DEFAULT" => Algorithm {
            name: "AES-256-GCM",
            primitive: "ae",
            parameter_set: Some("256"),
            curve: None,
            classical_bits: 256,
            nist_quantum_level: 5,
            class: QuantumClass::Safe,
            reason: "AES-256 keeps 128 bits of strength against Grover's algorithm",
        },
        "RSA_2048" => rsa("RSA-2048", "2048", 112, rsa_primitive),
        "RSA_3072" => rsa("RSA-3072", "3072", 128, rsa_primitive),
        "RSA_4096" => rsa("RSA-4096", "4096", 152, rsa_primitive),
        "ECC_NIST_P256" => ecc(
            ecc_name("ECDSA-P256", "ECDH-P256"),
            "secp256r1",
            128,
            ecc_primitive,
        ),
        "ECC_NIST_P384" => ecc(
            ecc_name("ECDSA-P384", "ECDH-P384"),
            "secp384r1",
            192,
            ecc_primitive,
        ),
        "ECC_NIST_P521" => ecc(
            ecc_name("ECDSA-P521", "ECDH-P521"),
            "secp521r1",
            256,
            ecc_primitive,
        ),
        "ECC_SECG_P256K1" => ecc("ECDSA-secp256k1", "secp256k1", 128, "signature"),
        "ECC_NIST_EDWARDS25519" => ecc("Ed25519", "Ed25519", 128, "signature"),
        "SM2" => ecc(
            ecc_name("SM2", "SM2-key-agreement"),
            "sm2p256v1",
            128,
            ecc_primitive,
        ),
        "HMAC_224" => hmac("HMAC-SHA224", "224", 224, 3),
        "HMAC_256" => hmac("HMAC-SHA256", "256", 256, 5),
        "HMAC_384" => hmac("HMAC-SHA384", "384", 384, 5),
        "HMAC_512" => hmac("HMAC-SHA512", "512", 512, 5),
        "ML_DSA_44" => ml_dsa("ML-DSA-44", "44", 128, 2),
        "ML_DSA_65" => ml_dsa("ML-DSA-65", "65", 192, 3),
        "ML_DSA_87" => ml_dsa("ML-DSA-87", "87", 256, 5),
        _ => return None,
    })
}

/// Returns the algorithm of a certificate or CA key, as ACM and Private CA
/// name it (`RSA_2048`, `EC_prime256v1`, `ML_DSA_44`). The `RSA-2048`
/// spelling of some tools is accepted too.
pub fn certificate_key_algorithm(key_algorithm: &str) -> Option<Algorithm> {
    let normalized = key_algorithm.replace('-', "_");
    Some(match normalized.to_ascii_uppercase().as_str() {
        "RSA_1024" => rsa("RSA-1024", "1024", 80, "signature"),
        "RSA_2048" => rsa("RSA-2048", "2048", 112, "signature"),
        "RSA_3072" => rsa("RSA-3072", "3072", 128, "signature"),
        "RSA_4096" => rsa("RSA-4096", "4096", 152, "signature"),
        "EC_PRIME256V1" => ecc("ECDSA-P256", "secp256r1", 128, "signature"),
        "EC_SECP384R1" => ecc("ECDSA-P384", "secp384r1", 192, "signature"),
        "EC_SECP521R1" => ecc("ECDSA-P521", "secp521r1", 256, "signature"),
        "SM2" => ecc("SM2", "sm2p256v1", 128, "signature"),
        "ML_DSA_44" => ml_dsa("ML-DSA-44", "44", 128, 2),
        "ML_DSA_65" => ml_dsa("ML-DSA-65", "65", 192, 3),
        "ML_DSA_87" => ml_dsa("ML-DSA-87", "87", 256, 5),
        _ => return None,
    })
}

/// Returns the signature algorithm that signed a certificate, as ACM and
/// Private CA name it (`SHA256WITHRSA`, `SHA384WITHECDSA`, `ML_DSA_65`).
pub fn signature_algorithm(name: &str) -> Option<Algorithm> {
    let normalized = name.replace('-', "_").to_ascii_uppercase();
    // The strength of an RSA or ECDSA signature depends on the signer's
    // key, which the name does not give.
    let signature = |name: &'static str| Algorithm {
        name,
        primitive: "signature",
        parameter_set: None,
        curve: None,
        classical_bits: 0,
        nist_quantum_level: 0,
        class: QuantumClass::Vulnerable,
        reason: SHOR,
    };
    Some(match normalized.as_str() {
        "SHA256WITHRSA" => signature("SHA256withRSA"),
        "SHA384WITHRSA" => signature("SHA384withRSA"),
        "SHA512WITHRSA" => signature("SHA512withRSA"),
        "SHA256WITHECDSA" => signature("SHA256withECDSA"),
        "SHA384WITHECDSA" => signature("SHA384withECDSA"),
        "SHA512WITHECDSA" => signature("SHA512withECDSA"),
        "SM3WITHSM2" => signature("SM3withSM2"),
        "ML_DSA_44" => ml_dsa("ML-DSA-44", "44", 128, 2),
        "ML_DSA_65" => ml_dsa("ML-DSA-65", "65", 192, 3),
        "ML_DSA_87" => ml_dsa("ML-DSA-87", "87", 256, 5),
        _ => return None,
    })
}

/// Returns whether the readiness rule judges a KMS key in this state. A key
/// pending deletion is left out, because it protects no new data.
pub fn key_in_scope(key_state: Option<&str>) -> bool {
    key_state != Some("PendingDeletion")
}

/// Returns whether the readiness rule judges an ACM certificate with this
/// status. Expired, revoked and failed certificates are left out, because
/// no client can trust them any more.
pub fn certificate_in_scope(status: Option<&str>) -> bool {
    !matches!(
        status,
        Some("EXPIRED" | "REVOKED" | "FAILED" | "VALIDATION_TIMED_OUT")
    )
}

/// The post-quantum readiness rules, for KMS keys and certificates.
pub static RULES: [Rule; 2] = [
    Rule {
        id: "kms-key-quantum-readiness",
        title: "KMS keys use algorithms that resist quantum computers",
        severity: Severity::Low,
        resource_type: ResourceType::KmsKey,
        risk: "Data encrypted or signed today with RSA or elliptic-curve keys can be recorded now and broken once a large quantum computer exists.",
        remediation: "Plan the move: sign with ML-DSA keys, and encrypt with symmetric AES-256 keys or hybrid schemes; keep RSA and elliptic-curve keys only where partners require them.",
        remediation_cli: "aws kms create-key --key-spec ML_DSA_65 --key-usage SIGN_VERIFY",
        references: &[
            "https://docs.aws.amazon.com/kms/latest/developerguide/mldsa.html",
            "https://csrc.nist.gov/projects/post-quantum-cryptography",
        ],
        threshold: None,
        evaluate: key_readiness,
    },
    Rule {
        id: "acm-certificate-quantum-readiness",
        title: "Certificates use key algorithms that resist quantum computers",
        severity: Severity::Low,
        resource_type: ResourceType::Certificate,
        risk: "A quantum computer could forge signatures of RSA and elliptic-curve certificate keys and impersonate the service.",
        remediation: "Track the certificates by algorithm; move to ML-DSA certificates (AWS Private CA issues them) where clients support them.",
        remediation_cli: "aws acm-pca create-certificate-authority --certificate-authority-configuration KeyAlgorithm=ML_DSA_65,SigningAlgorithm=ML_DSA_65,Subject={CommonName=example} --certificate-authority-type ROOT",
        references: &[
            "https://docs.aws.amazon.com/privateca/latest/APIReference/API_CertificateAuthorityConfiguration.html",
            "https://csrc.nist.gov/projects/post-quantum-cryptography",
        ],
        threshold: None,
        evaluate: certificate_readiness,
    },
];

fn judge(algorithm: &Algorithm, subject: &str, mut evidence: serde_json::Value) -> Evaluation {
    evidence["algorithm"] = json!(algorithm.name);
    evidence["quantum_class"] = json!(algorithm.class.as_str());
    evidence["nist_quantum_security_level"] = json!(algorithm.nist_quantum_level);
    evidence["classical_security_bits"] = json!(algorithm.classical_bits);
    let cause = format!(
        "{subject} uses {}: {} ({})",
        algorithm.name,
        algorithm.class.as_str(),
        algorithm.reason
    );
    match algorithm.class {
        QuantumClass::Safe => Evaluation::pass(cause, evidence),
        QuantumClass::Weakened | QuantumClass::Vulnerable => Evaluation::fail(cause, evidence),
    }
}

fn key_readiness(
    _context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let Resource::Key(key) = resource else {
        return None;
    };
    if !key_in_scope(key.key_state.as_deref()) {
        return None;
    }
    Some(match key.key_spec.as_deref() {
        Some(spec) => match kms_algorithm(spec, key.key_usage.as_deref()) {
            Some(algorithm) => judge(&algorithm, "the key", key_evidence(key)),
            None => Evaluation::unknown(
                format!("key spec {spec} is not known to keyward"),
                key_evidence(key),
            ),
        },
        None => Evaluation::unknown("the key spec was not read", key_evidence(key)),
    })
}

fn key_evidence(key: &KeyRecord) -> serde_json::Value {
    json!({
        "source": "DescribeKey",
        "key_spec": key.key_spec,
        "key_usage": key.key_usage,
        "key_manager": key.key_manager,
    })
}

fn certificate_readiness(
    _context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let Resource::Certificate(certificate) = resource else {
        return None;
    };
    if !certificate_in_scope(certificate.status.as_deref()) {
        return None;
    }
    Some(match certificate.key_algorithm.as_deref() {
        Some(name) => match certificate_key_algorithm(name) {
            Some(algorithm) => judge(
                &algorithm,
                "the certificate's key",
                certificate_evidence(certificate),
            ),
            None => Evaluation::unknown(
                format!("key algorithm {name} is not known to keyward"),
                certificate_evidence(certificate),
            ),
        },
        None => Evaluation::unknown(
            "the key algorithm was not read",
            certificate_evidence(certificate),
        ),
    })
}

fn certificate_evidence(certificate: &CertificateRecord) -> serde_json::Value {
    json!({
        "source": "DescribeCertificate",
        "key_algorithm": certificate.key_algorithm,
        "signature_algorithm": certificate.signature_algorithm,
        "certificate_type": certificate.certificate_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kms_key_spec_classified() {
        let cases = [
            ("SYMMETRIC_DEFAULT", None, QuantumClass::Safe, "AES-256-GCM"),
            (
                "RSA_2048",
                Some("ENCRYPT_DECRYPT"),
                QuantumClass::Vulnerable,
                "RSA-2048",
            ),
            (
                "RSA_4096",
                Some("SIGN_VERIFY"),
                QuantumClass::Vulnerable,
                "RSA-4096",
            ),
            (
                "ECC_NIST_P256",
                Some("SIGN_VERIFY"),
                QuantumClass::Vulnerable,
                "ECDSA-P256",
            ),
            (
                "ECC_NIST_P384",
                Some("KEY_AGREEMENT"),
                QuantumClass::Vulnerable,
                "ECDH-P384",
            ),
            (
                "ECC_SECG_P256K1",
                Some("SIGN_VERIFY"),
                QuantumClass::Vulnerable,
                "ECDSA-secp256k1",
            ),
            (
                "ECC_NIST_EDWARDS25519",
                Some("SIGN_VERIFY"),
                QuantumClass::Vulnerable,
                "Ed25519",
            ),
            (
                "HMAC_224",
                Some("GENERATE_VERIFY_MAC"),
                QuantumClass::Weakened,
                "HMAC-SHA224",
            ),
            (
                "HMAC_256",
                Some("GENERATE_VERIFY_MAC"),
                QuantumClass::Safe,
                "HMAC-SHA256",
            ),
            (
                "ML_DSA_65",
                Some("SIGN_VERIFY"),
                QuantumClass::Safe,
                "ML-DSA-65",
            ),
        ];
        for (spec, usage, class, name) in cases {
            let algorithm = kms_algorithm(spec, usage).unwrap();
            assert_eq!(algorithm.class, class, "{spec}");
            assert_eq!(algorithm.name, name, "{spec}");
        }
        assert_eq!(
            kms_algorithm("RSA_2048", Some("SIGN_VERIFY"))
                .unwrap()
                .primitive,
            "signature"
        );
        assert_eq!(
            kms_algorithm("RSA_2048", Some("ENCRYPT_DECRYPT"))
                .unwrap()
                .primitive,
            "pke"
        );
        assert!(kms_algorithm("AES_128", None).is_none());
    }

    #[test]
    fn certificate_spellings_accepted() {
        for name in ["RSA_2048", "RSA-2048", "rsa_2048"] {
            assert_eq!(
                certificate_key_algorithm(name).unwrap().name,
                "RSA-2048",
                "{name}"
            );
        }
        let curve = certificate_key_algorithm("EC_prime256v1").unwrap();
        assert_eq!(curve.curve, Some("secp256r1"));
        assert_eq!(curve.class, QuantumClass::Vulnerable);
        assert_eq!(
            certificate_key_algorithm("ML_DSA_87")
                .unwrap()
                .nist_quantum_level,
            5
        );
    }
}
