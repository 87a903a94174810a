//! The inventory of one scan as a cryptographic bill of materials: a
//! CycloneDX 1.6 BOM whose components are `cryptographic-asset`s.
//!
//! - Each algorithm in use is one component, with its primitive, parameter
//!   set, curve, classical strength and NIST quantum security level.
//! - Each KMS key is related crypto material: a secret key for symmetric
//!   and HMAC keys, a private key for asymmetric ones, with its state,
//!   dates, size and the algorithm it uses.
//! - Each ACM certificate and Private CA authority is a certificate, with
//!   subject, issuer, validity, signature algorithm and public key
//!   algorithm.
//! - Each secret is related crypto material of type `credential`, secured
//!   by the KMS key that encrypts it. Secret values are never read, so the
//!   BOM cannot contain one.
//!
//! Dependencies link each secret to its KMS key and each private
//! certificate to the Private CA that issued it, when both are in the
//! inventory.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use keyward_rules::quantum::{
    Algorithm, certificate_key_algorithm, kms_algorithm, signature_algorithm,
};
use keyward_store::inventory::{
    AuthorityRecord, CertificateRecord, KeyRecord, SecretRecord, Snapshot,
};
use serde_json::{Value, json};

/// Namespace of the BOM serial numbers: a UUID v5 of the scan id in it.
const SERIAL_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6b65_7977_6172_6442_8f2c_3d1e_0a5b_9c47);

/// Builds the BOM of a snapshot. `created` is the BOM's timestamp.
pub fn bom(snapshot: &Snapshot, keyward_version: &str, created: DateTime<Utc>) -> Value {
    let mut builder = Builder::default();
    let aliases = alias_targets(snapshot);
    let keys: HashMap<&str, &KeyRecord> = snapshot
        .keys
        .iter()
        .flat_map(|key| [(key.arn.as_str(), key), (key.key_id.as_str(), key)])
        .collect();

    let mut components = Vec::new();
    for key in &snapshot.keys {
        components.push(builder.key(key));
    }
    let authorities: HashMap<&str, &AuthorityRecord> = snapshot
        .authorities
        .iter()
        .map(|authority| (authority.arn.as_str(), authority))
        .collect();
    for authority in &snapshot.authorities {
        components.push(builder.authority(authority));
    }
    let mut dependencies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for certificate in &snapshot.certificates {
        components.push(builder.certificate(certificate));
        if let Some(issuer) = certificate
            .certificate_authority_arn
            .as_deref()
            .filter(|arn| authorities.contains_key(arn))
        {
            dependencies
                .entry(certificate.arn.clone())
                .or_default()
                .push(issuer.to_owned());
        }
    }
    for secret in &snapshot.secrets {
        let key = secret_key(secret, &keys, &aliases);
        components.push(builder.secret(secret, key));
        if let Some(key) = key {
            dependencies
                .entry(secret.arn.clone())
                .or_default()
                .push(key.arn.clone());
        }
    }

    let mut all = builder.algorithm_components();
    all.extend(components);
    let dependencies: Vec<Value> = dependencies
        .into_iter()
        .map(|(reference, depends_on)| json!({"ref": reference, "dependsOn": depends_on}))
        .collect();
    let serial = uuid::Uuid::new_v5(&SERIAL_NAMESPACE, snapshot.scan.scan_id.as_bytes());
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{serial}"),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(created),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "keyward",
                    "version": keyward_version,
                }],
            },
            "properties": [
                {"name": "keyward:scan-id", "value": snapshot.scan.scan_id},
                {"name": "keyward:scan-finished-at", "value": rfc3339(snapshot.scan.finished_at)},
            ],
        },
        "components": all,
        "dependencies": dependencies,
    })
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Key ids that each alias points to, by alias ARN and by account, Region
/// and alias name.
fn alias_targets(snapshot: &Snapshot) -> HashMap<String, String> {
    let mut targets = HashMap::new();
    for alias in &snapshot.aliases {
        let Some(target) = &alias.target_key_id else {
            continue;
        };
        if let Some(arn) = &alias.arn {
            targets.insert(arn.clone(), target.clone());
        }
        targets.insert(
            format!("{}/{}/{}", alias.account_id, alias.region, alias.alias_name),
            target.clone(),
        );
    }
    targets
}

/// Returns the KMS key that encrypts a secret: the one it names by ARN, id
/// or alias, or the account's `aws/secretsmanager` key when it names none.
fn secret_key<'a>(
    secret: &SecretRecord,
    keys: &HashMap<&str, &'a KeyRecord>,
    aliases: &HashMap<String, String>,
) -> Option<&'a KeyRecord> {
    let place = |alias: &str| format!("{}/{}/{alias}", secret.account_id, secret.region);
    let named = secret
        .kms_key_id
        .clone()
        .unwrap_or_else(|| "alias/aws/secretsmanager".to_owned());
    if let Some(key) = keys.get(named.as_str()) {
        return Some(key);
    }
    let alias_name = named
        .split_once(":alias/")
        .map_or(named.clone(), |(_, name)| format!("alias/{name}"));
    let target = aliases
        .get(&named)
        .or_else(|| aliases.get(&place(&alias_name)))?;
    keys.get(target.as_str()).copied()
}

/// Facts that ACM certificates and Private CA authorities both give.
struct CertificateFacts<'a> {
    arn: &'a str,
    name: String,
    subject: Option<String>,
    issuer: Option<&'a str>,
    not_before: Option<DateTime<Utc>>,
    not_after: Option<DateTime<Utc>>,
    key_algorithm: Option<&'a str>,
    signature_algorithm: Option<&'a str>,
}

/// Collects the algorithm components while the assets are written.
#[derive(Default)]
struct Builder {
    algorithms: BTreeMap<&'static str, (Algorithm, bool)>,
}

impl Builder {
    /// Records an algorithm and returns its reference; `in_kms` marks use
    /// inside KMS's hardware security modules.
    fn algorithm(&mut self, algorithm: Algorithm, in_kms: bool) -> String {
        let entry = self
            .algorithms
            .entry(algorithm.name)
            .or_insert((algorithm, false));
        entry.1 |= in_kms;
        algorithm_ref(algorithm.name)
    }

    fn algorithm_components(&self) -> Vec<Value> {
        self.algorithms
            .values()
            .map(|(algorithm, in_kms)| algorithm_component(algorithm, *in_kms))
            .collect()
    }

    fn key(&mut self, key: &KeyRecord) -> Value {
        let algorithm = key
            .key_spec
            .as_deref()
            .and_then(|spec| kms_algorithm(spec, key.key_usage.as_deref()));
        let material_type = match key.key_spec.as_deref() {
            Some(spec) if spec == "SYMMETRIC_DEFAULT" || spec.starts_with("HMAC_") => "secret-key",
            Some(_) => "private-key",
            None => "unknown",
        };

        let mut material = json!({
            "type": material_type,
            "id": key.key_id,
            "state": key_state(key.key_state.as_deref()),
            "securedBy": {"mechanism": key_protection(key)},
        });
        if let Some(algorithm) = algorithm {
            material["algorithmRef"] = json!(self.algorithm(algorithm, true));
        }
        if let Some(size) = key.key_spec.as_deref().and_then(key_size) {
            material["size"] = json!(size);
        }
        put_time(&mut material, "creationDate", key.creation_date);
        put_time(
            &mut material,
            "expirationDate",
            key.deletion_date.or(key.valid_to),
        );
        put_time(&mut material, "updateDate", key.last_rotation_date);

        let name = key
            .aliases
            .first()
            .cloned()
            .unwrap_or_else(|| key.key_id.clone());
        let mut properties = place_properties(&key.arn, &key.account_id, &key.region);
        push_property(&mut properties, "aws:kms:key-spec", key.key_spec.as_deref());
        push_property(
            &mut properties,
            "aws:kms:key-usage",
            key.key_usage.as_deref(),
        );
        push_property(
            &mut properties,
            "aws:kms:key-manager",
            key.key_manager.as_deref(),
        );
        push_property(&mut properties, "aws:kms:origin", key.origin.as_deref());
        push_property(
            &mut properties,
            "keyward:quantum-class",
            algorithm.map(|algorithm| algorithm.class.as_str()),
        );
        json!({
            "type": "cryptographic-asset",
            "bom-ref": key.arn,
            "name": name,
            "cryptoProperties": {
                "assetType": "related-crypto-material",
                "relatedCryptoMaterialProperties": material,
            },
            "properties": properties,
        })
    }

    fn certificate(&mut self, certificate: &CertificateRecord) -> Value {
        let mut extra = place_properties(
            &certificate.arn,
            &certificate.account_id,
            &certificate.region,
        );
        push_property(&mut extra, "aws:acm:status", certificate.status.as_deref());
        push_property(
            &mut extra,
            "aws:acm:type",
            certificate.certificate_type.as_deref(),
        );
        push_property(
            &mut extra,
            "aws:acm:key-algorithm",
            certificate.key_algorithm.as_deref(),
        );

        let facts = CertificateFacts {
            arn: &certificate.arn,
            name: certificate
                .domain_name
                .clone()
                .unwrap_or_else(|| certificate.arn.clone()),
            subject: certificate.subject.clone(),
            issuer: certificate.issuer.as_deref(),
            not_before: certificate.not_before,
            not_after: certificate.not_after,
            key_algorithm: certificate.key_algorithm.as_deref(),
            signature_algorithm: certificate.signature_algorithm.as_deref(),
        };
        self.certificate_component(&facts, extra)
    }

    fn authority(&mut self, authority: &AuthorityRecord) -> Value {
        let mut extra = place_properties(&authority.arn, &authority.account_id, &authority.region);
        push_property(
            &mut extra,
            "aws:acm-pca:type",
            authority.authority_type.as_deref(),
        );
        push_property(
            &mut extra,
            "aws:acm-pca:status",
            authority.status.as_deref(),
        );
        push_property(
            &mut extra,
            "aws:acm-pca:key-storage",
            authority.key_storage_security_standard.as_deref(),
        );

        let facts = CertificateFacts {
            arn: &authority.arn,
            name: authority
                .common_name
                .clone()
                .unwrap_or_else(|| authority.arn.clone()),
            subject: authority
                .common_name
                .as_ref()
                .map(|name| format!("CN={name}")),
            issuer: None,
            not_before: authority.not_before,
            not_after: authority.not_after,
            key_algorithm: authority.key_algorithm.as_deref(),
            signature_algorithm: authority.signing_algorithm.as_deref(),
        };
        self.certificate_component(&facts, extra)
    }

    /// Builds the component of an ACM certificate or a Private CA, with
    /// `extra` as its properties and its quantum class added to them.
    fn certificate_component(
        &mut self,
        facts: &CertificateFacts<'_>,
        mut extra: Vec<Value>,
    ) -> Value {
        let public_key = facts.key_algorithm.and_then(certificate_key_algorithm);
        let signature = facts.signature_algorithm.and_then(signature_algorithm);
        let mut properties = json!({"certificateFormat": "X.509"});
        put_text(&mut properties, "subjectName", facts.subject.as_deref());
        put_text(&mut properties, "issuerName", facts.issuer);
        put_time(&mut properties, "notValidBefore", facts.not_before);
        put_time(&mut properties, "notValidAfter", facts.not_after);
        if let Some(algorithm) = public_key {
            properties["subjectPublicKeyRef"] = json!(self.algorithm(algorithm, false));
        }
        if let Some(algorithm) = signature {
            properties["signatureAlgorithmRef"] = json!(self.algorithm(algorithm, false));
        }

        push_property(
            &mut extra,
            "keyward:quantum-class",
            public_key.map(|algorithm| algorithm.class.as_str()),
        );
        json!({
            "type": "cryptographic-asset",
            "bom-ref": facts.arn,
            "name": facts.name,
            "cryptoProperties": {
                "assetType": "certificate",
                "certificateProperties": properties,
            },
            "properties": extra,
        })
    }

    fn secret(&mut self, secret: &SecretRecord, key: Option<&KeyRecord>) -> Value {
        let state = if secret.deleted_at.is_some() {
            "deactivated"
        } else {
            "active"
        };

        let mut secured_by = json!({"mechanism": "AWS KMS envelope encryption"});
        if let Some(algorithm) = key
            .and_then(|key| key.key_spec.as_deref())
            .and_then(|spec| kms_algorithm(spec, None))
        {
            secured_by["algorithmRef"] = json!(self.algorithm(algorithm, true));
        }
        let mut material = json!({
            "type": "credential",
            "id": secret.name,
            "state": state,
            "securedBy": secured_by,
        });
        put_time(&mut material, "creationDate", secret.created_at);
        put_time(&mut material, "updateDate", secret.last_changed_at);
        put_time(&mut material, "expirationDate", secret.deleted_at);

        let mut properties = place_properties(&secret.arn, &secret.account_id, &secret.region);
        push_property(
            &mut properties,
            "aws:secretsmanager:kms-key",
            key.map(|key| key.arn.as_str()),
        );
        push_property(
            &mut properties,
            "aws:secretsmanager:rotation-enabled",
            secret
                .rotation_enabled
                .map(|enabled| if enabled { "true" } else { "false" }),
        );
        push_property(
            &mut properties,
            "aws:secretsmanager:primary-region",
            secret.primary_region.as_deref(),
        );
        json!({
            "type": "cryptographic-asset",
            "bom-ref": secret.arn,
            "name": secret.name,
            "cryptoProperties": {
                "assetType": "related-crypto-material",
                "relatedCryptoMaterialProperties": material,
            },
            "properties": properties,
        })
    }
}

fn algorithm_ref(name: &str) -> String {
    format!("algorithm:{name}")
}

fn algorithm_component(algorithm: &Algorithm, in_kms: bool) -> Value {
    let functions: &[&str] = match algorithm.primitive {
        "ae" | "pke" => &["encrypt", "decrypt"],
        "signature" => &["sign", "verify"],
        "key-agree" => &["keyderive"],
        "mac" => &["tag"],
        _ => &["other"],
    };
    let mut properties = json!({
        "primitive": algorithm.primitive,
        "cryptoFunctions": functions,
        "nistQuantumSecurityLevel": algorithm.nist_quantum_level,
    });
    if algorithm.classical_bits > 0 {
        properties["classicalSecurityLevel"] = json!(algorithm.classical_bits);
    }
    put_text(
        &mut properties,
        "parameterSetIdentifier",
        algorithm.parameter_set,
    );
    put_text(&mut properties, "curve", algorithm.curve);
    if algorithm.name.ends_with("-GCM") {
        properties["mode"] = json!("gcm");
    }
    if in_kms {
        // KMS keeps keys in hardware security modules validated at FIPS
        // 140-3 level 3.
        properties["executionEnvironment"] = json!("hardware");
        properties["certificationLevel"] = json!(["fips140-3-l3"]);
    }
    json!({
        "type": "cryptographic-asset",
        "bom-ref": algorithm_ref(algorithm.name),
        "name": algorithm.name,
        "cryptoProperties": {
            "assetType": "algorithm",
            "algorithmProperties": properties,
        },
        "properties": [
            {"name": "keyward:quantum-class", "value": algorithm.class.as_str()},
            {"name": "keyward:quantum-reason", "value": algorithm.reason},
        ],
    })
}

/// Maps a KMS key state to the key states of CycloneDX, which follow NIST
/// SP 800-57.
fn key_state(state: Option<&str>) -> &'static str {
    match state {
        Some("Enabled" | "Updating") => "active",
        Some("Creating" | "PendingImport") => "pre-activation",
        Some("Disabled" | "Unavailable") => "suspended",
        Some("PendingDeletion" | "PendingReplicaDeletion") => "deactivated",
        _ => "suspended",
    }
}

/// Describes where a KMS key's material lives.
fn key_protection(key: &KeyRecord) -> &'static str {
    match key.origin.as_deref() {
        Some("AWS_CLOUDHSM") => "AWS CloudHSM key store",
        Some("EXTERNAL_KEY_STORE") => "external key store",
        Some("EXTERNAL") => "AWS KMS HSM, imported key material",
        _ => "AWS KMS HSM",
    }
}

/// Returns the key size in bits of a KMS key spec.
fn key_size(spec: &str) -> Option<u32> {
    Some(match spec {
        "SYMMETRIC_DEFAULT" => 256,
        "RSA_2048" => 2048,
        "RSA_3072" => 3072,
        "RSA_4096" => 4096,
        "ECC_NIST_P256" | "ECC_SECG_P256K1" | "ECC_NIST_EDWARDS25519" | "SM2" => 256,
        "ECC_NIST_P384" => 384,
        "ECC_NIST_P521" => 521,
        "HMAC_224" => 224,
        "HMAC_256" => 256,
        "HMAC_384" => 384,
        "HMAC_512" => 512,
        _ => return None,
    })
}

fn put_time(object: &mut Value, name: &str, time: Option<DateTime<Utc>>) {
    if let Some(time) = time {
        object[name] = json!(rfc3339(time));
    }
}

fn put_text(object: &mut Value, name: &str, text: Option<&str>) {
    if let Some(text) = text.filter(|text| !text.is_empty()) {
        object[name] = json!(text);
    }
}

fn place_properties(arn: &str, account: &str, region: &str) -> Vec<Value> {
    vec![
        json!({"name": "aws:arn", "value": arn}),
        json!({"name": "aws:account", "value": account}),
        json!({"name": "aws:region", "value": region}),
    ]
}

fn push_property(properties: &mut Vec<Value>, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        properties.push(json!({"name": name, "value": value}));
    }
}

#[cfg(test)]
mod tests {
    use keyward_store::inventory::{AliasRecord, ScanRecord};

    use super::*;

    const ACCOUNT: &str = "111122223333";
    const REGION: &str = "eu-west-1";

    fn key(id: &str, spec: &str, usage: &str) -> KeyRecord {
        KeyRecord {
            account_id: ACCOUNT.into(),
            region: REGION.into(),
            key_id: id.into(),
            arn: format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}"),
            key_state: Some("Enabled".into()),
            key_spec: Some(spec.into()),
            key_usage: Some(usage.into()),
            origin: Some("AWS_KMS".into()),
            ..KeyRecord::default()
        }
    }

    fn snapshot() -> Snapshot {
        let authority_arn =
            format!("arn:aws:acm-pca:{REGION}:{ACCOUNT}:certificate-authority/ca-1");
        Snapshot {
            scan: ScanRecord {
                scan_id: "scan-1".into(),
                ..ScanRecord::default()
            },
            keys: vec![
                key("default", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
                key("managed", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
                key("signer", "ECC_NIST_P384", "SIGN_VERIFY"),
                key("post-quantum", "ML_DSA_65", "SIGN_VERIFY"),
            ],
            aliases: vec![AliasRecord {
                account_id: ACCOUNT.into(),
                region: REGION.into(),
                alias_name: "alias/aws/secretsmanager".into(),
                target_key_id: Some("managed".into()),
                ..AliasRecord::default()
            }],
            certificates: vec![CertificateRecord {
                account_id: ACCOUNT.into(),
                region: REGION.into(),
                arn: format!("arn:aws:acm:{REGION}:{ACCOUNT}:certificate/c-1"),
                domain_name: Some("app.example.com".into()),
                key_algorithm: Some("EC_prime256v1".into()),
                signature_algorithm: Some("SHA256WITHECDSA".into()),
                certificate_authority_arn: Some(authority_arn.clone()),
                ..CertificateRecord::default()
            }],
            authorities: vec![AuthorityRecord {
                account_id: ACCOUNT.into(),
                region: REGION.into(),
                arn: authority_arn,
                common_name: Some("Example Root".into()),
                key_algorithm: Some("RSA_4096".into()),
                signing_algorithm: Some("SHA512WITHRSA".into()),
                ..AuthorityRecord::default()
            }],
            secrets: vec![
                SecretRecord {
                    account_id: ACCOUNT.into(),
                    region: REGION.into(),
                    arn: format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:own-AbCdEf"),
                    name: "own".into(),
                    kms_key_id: Some(format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/default")),
                    ..SecretRecord::default()
                },
                SecretRecord {
                    account_id: ACCOUNT.into(),
                    region: REGION.into(),
                    arn: format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:plain-AbCdEf"),
                    name: "plain".into(),
                    ..SecretRecord::default()
                },
            ],
            ..Snapshot::default()
        }
    }

    fn component<'a>(bom: &'a Value, reference: &str) -> &'a Value {
        bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|component| component["bom-ref"] == reference)
            .unwrap_or_else(|| panic!("no component {reference}"))
    }

    #[test]
    fn every_asset_listed_once() {
        let snapshot = snapshot();
        let bom = bom(&snapshot, "0.1.0", DateTime::default());
        let references: Vec<&str> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|component| component["bom-ref"].as_str().unwrap())
            .collect();
        let mut unique = references.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), references.len());
        let assets = snapshot.keys.len()
            + snapshot.certificates.len()
            + snapshot.authorities.len()
            + snapshot.secrets.len();
        let algorithms = references
            .iter()
            .filter(|r| r.starts_with("algorithm:"))
            .count();
        assert_eq!(references.len() - algorithms, assets);
    }

    #[test]
    fn keys_and_certificates_name_their_algorithms() {
        let bom = bom(&snapshot(), "0.1.0", DateTime::default());
        let signer = component(&bom, &format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/signer"));
        let material = &signer["cryptoProperties"]["relatedCryptoMaterialProperties"];
        assert_eq!(material["type"], "private-key");
        assert_eq!(material["algorithmRef"], "algorithm:ECDSA-P384");
        assert_eq!(material["size"], 384);
        let curve = component(&bom, "algorithm:ECDSA-P384");
        assert_eq!(
            curve["cryptoProperties"]["algorithmProperties"]["curve"],
            "secp384r1"
        );
        assert_eq!(
            curve["cryptoProperties"]["algorithmProperties"]["nistQuantumSecurityLevel"],
            0
        );
        let aes = component(&bom, "algorithm:AES-256-GCM");
        let properties = &aes["cryptoProperties"]["algorithmProperties"];
        assert_eq!(properties["nistQuantumSecurityLevel"], 5);
        assert_eq!(properties["executionEnvironment"], "hardware");
        let ml_dsa = component(&bom, "algorithm:ML-DSA-65");
        assert_eq!(
            ml_dsa["cryptoProperties"]["algorithmProperties"]["parameterSetIdentifier"],
            "65"
        );

        let certificate = component(
            &bom,
            &format!("arn:aws:acm:{REGION}:{ACCOUNT}:certificate/c-1"),
        );
        let properties = &certificate["cryptoProperties"]["certificateProperties"];
        assert_eq!(properties["subjectPublicKeyRef"], "algorithm:ECDSA-P256");
        assert_eq!(
            properties["signatureAlgorithmRef"],
            "algorithm:SHA256withECDSA"
        );
    }

    #[test]
    fn dependencies_link_secrets_and_issuers() {
        let bom = bom(&snapshot(), "0.1.0", DateTime::default());
        let dependencies = bom["dependencies"].as_array().unwrap();
        let depends_on = |reference: &str| -> Vec<&str> {
            dependencies
                .iter()
                .find(|d| d["ref"] == reference)
                .map(|d| {
                    d["dependsOn"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default()
        };
        let secret =
            |name: &str| format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf");
        assert_eq!(
            depends_on(&secret("own")),
            [format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/default")]
        );
        // A secret that names no key uses the account's aws/secretsmanager key.
        assert_eq!(
            depends_on(&secret("plain")),
            [format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/managed")]
        );
        assert_eq!(
            depends_on(&format!("arn:aws:acm:{REGION}:{ACCOUNT}:certificate/c-1")),
            [format!(
                "arn:aws:acm-pca:{REGION}:{ACCOUNT}:certificate-authority/ca-1"
            )]
        );
    }

    #[test]
    fn serial_number_stable_per_scan() {
        let first = bom(&snapshot(), "0.1.0", DateTime::default());
        let second = bom(&snapshot(), "0.1.0", Utc::now());
        assert_eq!(first["serialNumber"], second["serialNumber"]);
        assert!(
            first["serialNumber"]
                .as_str()
                .unwrap()
                .starts_with("urn:uuid:")
        );
    }
}
