//! Self-signed X.509 certificates with a new ECDSA P-256 key, for importing
//! the demo's planned certificates into moto with ImportCertificate.
//!
//! The certificate carries the planned domain names and validity, so that
//! expiry dates survive the import. The DER encoding follows RFC 5280, and
//! only the fields that ACM reads are written.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use chrono::{DateTime, Datelike, Utc};

/// DER of the OID ecdsa-with-SHA256, 1.2.840.10045.4.3.2.
const ECDSA_WITH_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// DER of the OID id-ecPublicKey, 1.2.840.10045.2.1.
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// DER of the OID prime256v1, 1.2.840.10045.3.1.7.
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of the OID commonName, 2.5.4.3.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// DER of the OID subjectAltName, 2.5.29.17.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// A certificate and its private key, both PEM.
pub struct CertificateBody {
    /// `-----BEGIN CERTIFICATE-----` block.
    pub certificate: String,
    /// `-----BEGIN PRIVATE KEY-----` block (PKCS #8).
    pub private_key: String,
}

/// Builds a self-signed certificate for `domain` and `names`, valid from
/// `not_before` to `not_after`, with a new ECDSA P-256 key.
pub fn self_signed(
    domain: &str,
    names: &[String],
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    serial: &[u8],
) -> Result<CertificateBody, String> {
    let random = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &random)
        .map_err(|_| "failed to generate an ECDSA P-256 key".to_owned())?;
    let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
        .map_err(|_| "failed to read the generated ECDSA key".to_owned())?;

    let name = sequence(&[set(&sequence(&[
        oid(COMMON_NAME),
        tlv(0x0c, domain.as_bytes()),
    ]))]);
    let signature_algorithm = sequence(&[oid(ECDSA_WITH_SHA256)]);
    let public_key = sequence(&[
        sequence(&[oid(EC_PUBLIC_KEY), oid(PRIME256V1)]),
        bit_string(key_pair.public_key().as_ref()),
    ]);
    let dns_names: Vec<Vec<u8>> = names
        .iter()
        .map(|name| tlv(0x82, name.as_bytes()))
        .collect();
    let alt_names = sequence(&[oid(SUBJECT_ALT_NAME), tlv(0x04, &sequence(&dns_names))]);
    let tbs = sequence(&[
        tlv(0xa0, &integer(&[2])),
        integer(serial),
        signature_algorithm.clone(),
        name.clone(),
        sequence(&[time(not_before), time(not_after)]),
        name,
        public_key,
        tlv(0xa3, &sequence(&[alt_names])),
    ]);
    let signature = key_pair
        .sign(&random, &tbs)
        .map_err(|_| "failed to sign the certificate".to_owned())?;
    let certificate = sequence(&[tbs, signature_algorithm, bit_string(signature.as_ref())]);
    Ok(CertificateBody {
        certificate: pem("CERTIFICATE", &certificate),
        private_key: pem("PRIVATE KEY", pkcs8.as_ref()),
    })
}

/// Encodes a tag, its DER length and its content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|byte| *byte == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn sequence(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &items.concat())
}

fn set(item: &[u8]) -> Vec<u8> {
    tlv(0x31, item)
}

fn oid(encoded: &[u8]) -> Vec<u8> {
    tlv(0x06, encoded)
}

/// Encodes a non-negative integer from big-endian bytes.
fn integer(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = if trimmed.is_empty() { vec![0] } else { trimmed };
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    tlv(0x02, &content)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = vec![0];
    content.extend_from_slice(bytes);
    tlv(0x03, &content)
}

/// Encodes a time as RFC 5280 requires: UTCTime before 2050, else
/// GeneralizedTime.
fn time(value: DateTime<Utc>) -> Vec<u8> {
    if value.year() < 2050 {
        tlv(0x17, value.format("%y%m%d%H%M%SZ").to_string().as_bytes())
    } else {
        tlv(0x18, value.format("%Y%m%d%H%M%SZ").to_string().as_bytes())
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_length_uses_two_bytes() {
        let encoded = tlv(0x04, &[0; 300]);
        assert_eq!(&encoded[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn integer_keeps_positive_sign() {
        assert_eq!(integer(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(integer(&[0, 0, 5]), vec![0x02, 0x01, 0x05]);
    }

    #[test]
    fn self_signed_writes_pem_blocks() {
        let now = Utc::now();
        let body = self_signed(
            "api.example.com",
            &["api.example.com".to_owned()],
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(30),
            &[1, 2, 3],
        )
        .expect("certificate");
        assert!(
            body.certificate
                .starts_with("-----BEGIN CERTIFICATE-----\n")
        );
        assert!(
            body.private_key
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
    }
}
