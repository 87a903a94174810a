//! The inventory records that findings name, looked up by ARN.

use std::collections::HashMap;

use keyward_store::inventory::{CertificateRecord, KeyRecord, SecretRecord, Snapshot};

/// Keys, certificates and secrets of one scan, by ARN.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    keys: HashMap<String, KeyRecord>,
    certificates: HashMap<String, CertificateRecord>,
    secrets: HashMap<String, SecretRecord>,
}

/// One inventory record.
#[derive(Clone, Copy, Debug)]
pub enum InventoryResource<'a> {
    /// A KMS key.
    Key(&'a KeyRecord),
    /// An ACM certificate.
    Certificate(&'a CertificateRecord),
    /// A Secrets Manager secret.
    Secret(&'a SecretRecord),
}

impl Inventory {
    /// Indexes the assets of a snapshot.
    pub fn from_snapshot(snapshot: &Snapshot) -> Self {
        Self::from_records(
            snapshot.keys.clone(),
            snapshot.certificates.clone(),
            snapshot.secrets.clone(),
        )
    }

    /// Indexes keys, certificates and secrets.
    pub fn from_records(
        keys: Vec<KeyRecord>,
        certificates: Vec<CertificateRecord>,
        secrets: Vec<SecretRecord>,
    ) -> Self {
        Self {
            keys: keys.into_iter().map(|key| (key.arn.clone(), key)).collect(),
            certificates: certificates
                .into_iter()
                .map(|certificate| (certificate.arn.clone(), certificate))
                .collect(),
            secrets: secrets
                .into_iter()
                .map(|secret| (secret.arn.clone(), secret))
                .collect(),
        }
    }

    /// Returns the record of an ARN, if the scan read it.
    pub fn get(&self, arn: &str) -> Option<InventoryResource<'_>> {
        if let Some(key) = self.keys.get(arn) {
            return Some(InventoryResource::Key(key));
        }
        if let Some(certificate) = self.certificates.get(arn) {
            return Some(InventoryResource::Certificate(certificate));
        }
        self.secrets.get(arn).map(InventoryResource::Secret)
    }
}

impl InventoryResource<'_> {
    /// Name for people: the first alias of a key, the domain of a
    /// certificate, the name of a secret.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Key(key) => key.aliases.first().map(String::as_str),
            Self::Certificate(certificate) => certificate.domain_name.as_deref(),
            Self::Secret(secret) => Some(&secret.name),
        }
    }

    /// Tags as key and value pairs.
    pub fn tags(&self) -> &[keyward_store::inventory::Tag] {
        match self {
            Self::Key(key) => &key.tags,
            Self::Certificate(certificate) => &certificate.tags,
            Self::Secret(secret) => &secret.tags,
        }
    }
}
