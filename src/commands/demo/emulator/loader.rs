//! The loader of planned keys, secrets, certificate authorities,
//! certificates and IAM policies into moto, through the management
//! account's credentials or those of the role assumed in a member account.

use std::collections::{BTreeMap, BTreeSet};

use super::certificate_body;
use aws_config::SdkConfig;
use aws_sdk_acm::primitives::Blob;
use aws_sdk_acm::types::{KeyAlgorithm, ValidationMethod};
use aws_sdk_acmpca::types::{
    Asn1Subject, CertificateAuthorityConfiguration, CertificateAuthorityType,
    KeyAlgorithm as PcaKeyAlgorithm, SigningAlgorithm,
};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, OriginType, Tag as KeyTag};
use aws_sdk_secretsmanager::types::{ReplicaRegionType, RotationRulesType, Tag as SecretTag};
use keyward_demo::keys::KeyPlan;
use keyward_demo::secrets::SecretPlan;
use keyward_demo::{Built, Planned};
use keyward_store::inventory::{
    AuthorityRecord, CertificateRecord, IamPolicyRecord, KeyRecord, PolicyType, SecretRecord,
};

/// Value of every secret that the loader creates: moto needs one, and the
/// demo never reads it back.
const SECRET_PLACEHOLDER: &str = "demo-placeholder";

/// Operations of the grants that the loader creates.
const GRANT_OPERATIONS: [aws_sdk_kms::types::GrantOperation; 2] = [
    aws_sdk_kms::types::GrantOperation::Decrypt,
    aws_sdk_kms::types::GrantOperation::DescribeKey,
];

/// Formats an SDK error as `CODE: message` when moto sent both, else with
/// every detail.
fn error_text<E>(error: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => aws_sdk_kms::error::DisplayErrorContext(error).to_string(),
    }
}

/// Decodes hexadecimal digits into bytes, leaving out a last odd digit.
fn hex_bytes(text: &str) -> Vec<u8> {
    text.as_bytes()
        .chunks_exact(2)
        .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// Record of the assets that the loader created in moto.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Generated KMS key ids and secret, certificate and certificate
    /// authority ARNs, with the ones moto assigned.
    pub names: BTreeMap<String, String>,
    /// ARNs of the planned assets that were not loaded, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Calls on created assets that moto rejected; the scan reads the
    /// asset as it is, so the recomputed verdicts still hold.
    pub warnings: Vec<String>,
    /// KMS keys created, replicas included.
    pub keys: usize,
    /// Secrets created, replicas included.
    pub secrets: usize,
    /// ACM certificates requested.
    pub certificates: usize,
    /// Private CA certificate authorities created.
    pub authorities: usize,
    /// IAM policies created, managed and inline.
    pub iam_policies: usize,
}

/// Creates the planned keys, secrets, certificate authorities,
/// certificates and IAM policies of `assets` in moto, with `management` in
/// the management account and the configuration of `members` in each
/// member account. Keys come first, so that secrets can name their moto
/// key ARNs, and authorities before the certificates they issue.
pub async fn load(
    management: &SdkConfig,
    members: &BTreeMap<String, SdkConfig>,
    assets: &[Built],
) -> Loaded {
    let mut loader = Loader {
        management,
        configs: members,
        acm: BTreeMap::new(),
        pca: BTreeMap::new(),
        iam: BTreeMap::new(),
        kms: BTreeMap::new(),
        roles: BTreeSet::new(),
        secretsmanager: BTreeMap::new(),
        loaded: Loaded::default(),
    };
    for asset in assets {
        if let Planned::Key(plan) = &asset.planned {
            loader.key(plan).await;
        }
    }
    for asset in assets {
        if let Planned::Secret(plan) = &asset.planned {
            loader.secret(plan).await;
        }
    }
    for asset in assets {
        if let Planned::SecretReplica(record) = &asset.planned {
            loader.secret_replica(record).await;
        }
    }
    for asset in assets {
        if let Planned::Authority(record) = &asset.planned {
            loader.authority(record).await;
        }
    }
    for asset in assets {
        if let Planned::Certificate(record) = &asset.planned {
            loader.certificate(record).await;
        }
    }
    for asset in assets {
        if let Planned::IamPolicy(record) = &asset.planned {
            loader.iam_policy(record).await;
        }
    }
    loader.loaded
}

/// Clients of one service, by account and Region.
type Clients<T> = BTreeMap<(String, String), T>;

struct Loader<'a> {
    /// Configuration of the management account.
    management: &'a SdkConfig,
    /// Configurations of the member accounts, by account id.
    configs: &'a BTreeMap<String, SdkConfig>,
    acm: Clients<aws_sdk_acm::Client>,
    pca: Clients<aws_sdk_acmpca::Client>,
    iam: Clients<aws_sdk_iam::Client>,
    kms: Clients<aws_sdk_kms::Client>,
    /// Roles created for inline policies, by account and role name.
    roles: BTreeSet<(String, String)>,
    secretsmanager: Clients<aws_sdk_secretsmanager::Client>,
    loaded: Loaded,
}

impl Loader<'_> {
    fn acm(&mut self, account: &str, region: &str) -> aws_sdk_acm::Client {
        let config = self.configs.get(account).unwrap_or(self.management);
        self.acm
            .entry((account.to_owned(), region.to_owned()))
            .or_insert_with(|| {
                let config = aws_sdk_acm::config::Builder::from(config)
                    .region(aws_config::Region::new(region.to_owned()))
                    .build();
                aws_sdk_acm::Client::from_conf(config)
            })
            .clone()
    }

    fn pca(&mut self, account: &str, region: &str) -> aws_sdk_acmpca::Client {
        let config = self.configs.get(account).unwrap_or(self.management);
        self.pca
            .entry((account.to_owned(), region.to_owned()))
            .or_insert_with(|| {
                let config = aws_sdk_acmpca::config::Builder::from(config)
                    .region(aws_config::Region::new(region.to_owned()))
                    .build();
                aws_sdk_acmpca::Client::from_conf(config)
            })
            .clone()
    }

    fn iam(&mut self, account: &str) -> aws_sdk_iam::Client {
        let config = self.configs.get(account).unwrap_or(self.management);
        // IAM is global, and its Region is that of the SDK configuration.
        self.iam
            .entry((account.to_owned(), String::new()))
            .or_insert_with(|| aws_sdk_iam::Client::new(config))
            .clone()
    }

    fn kms(&mut self, account: &str, region: &str) -> aws_sdk_kms::Client {
        let config = self.configs.get(account).unwrap_or(self.management);
        self.kms
            .entry((account.to_owned(), region.to_owned()))
            .or_insert_with(|| {
                let config = aws_sdk_kms::config::Builder::from(config)
                    .region(aws_config::Region::new(region.to_owned()))
                    .build();
                aws_sdk_kms::Client::from_conf(config)
            })
            .clone()
    }

    fn secretsmanager(&mut self, account: &str, region: &str) -> aws_sdk_secretsmanager::Client {
        let config = self.configs.get(account).unwrap_or(self.management);
        self.secretsmanager
            .entry((account.to_owned(), region.to_owned()))
            .or_insert_with(|| {
                let config = aws_sdk_secretsmanager::config::Builder::from(config)
                    .region(aws_config::Region::new(region.to_owned()))
                    .build();
                aws_sdk_secretsmanager::Client::from_conf(config)
            })
            .clone()
    }

    fn skip(&mut self, arn: &str, reason: String) {
        self.loaded.skipped.push((arn.to_owned(), reason));
    }

    fn warn(&mut self, arn: &str, operation: &str, error: impl std::fmt::Display) {
        self.loaded
            .warnings
            .push(format!("{operation} on {arn} failed: {error}"));
    }

    /// Returns a generated id or ARN as moto named it.
    fn renamed(&self, text: &str) -> String {
        let mut renamed = text.to_owned();
        for (old, new) in &self.loaded.names {
            if renamed.contains(old.as_str()) {
                renamed = renamed.replace(old.as_str(), new);
            }
        }
        renamed
    }

    async fn key(&mut self, plan: &KeyPlan) {
        let record = &plan.record;
        if record.key_manager.as_deref() != Some("CUSTOMER") {
            // NOTE: moto creates no AWS managed keys, and CreateKey makes
            // only customer managed ones.
            self.skip(
                &record.arn,
                "moto cannot create AWS managed keys".to_owned(),
            );
            return;
        }
        let key_id = if record.multi_region_key_type.as_deref() == Some("REPLICA") {
            self.replicate_key(record).await
        } else {
            self.create_key(record).await
        };
        let Some(key_id) = key_id else {
            return;
        };
        self.loaded.keys += 1;
        let kms = self.kms(&record.account_id, &record.region);
        self.configure_key(&kms, record, &key_id).await;
    }

    async fn create_key(&mut self, record: &KeyRecord) -> Option<String> {
        let kms = self.kms(&record.account_id, &record.region);
        let tags = record.tags.iter().map(|tag| {
            KeyTag::builder()
                .tag_key(&tag.key)
                .tag_value(&tag.value)
                .build()
        });
        let mut request = kms
            .create_key()
            .set_description(record.description.clone())
            .set_key_spec(record.key_spec.as_deref().map(KeySpec::from))
            .set_key_usage(record.key_usage.as_deref().map(KeyUsageType::from))
            .set_origin(record.origin.as_deref().map(OriginType::from))
            .set_multi_region(record.multi_region);
        for tag in tags {
            match tag {
                Ok(tag) => request = request.tags(tag),
                Err(error) => self.warn(&record.arn, "Tag", error),
            }
        }
        match request.send().await {
            Ok(output) => {
                let key_id = output.key_metadata.map(|metadata| metadata.key_id)?;
                self.loaded
                    .names
                    .insert(record.key_id.clone(), key_id.clone());
                Some(key_id)
            }
            Err(error) => {
                let reason = format!("moto rejected CreateKey: {}", error_text(&error));
                self.skip(&record.arn, reason);
                None
            }
        }
    }

    /// Replicates the primary key of a planned replica into the replica's
    /// Region. A replica keeps its primary's key id.
    async fn replicate_key(&mut self, record: &KeyRecord) -> Option<String> {
        let Some(key_id) = self.loaded.names.get(&record.key_id).cloned() else {
            self.skip(&record.arn, "its primary key was not created".to_owned());
            return None;
        };
        let primary_region = record
            .primary_key_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(3))
            .unwrap_or_default()
            .to_owned();
        let kms = self.kms(&record.account_id, &primary_region);
        let result = kms
            .replicate_key()
            .key_id(&key_id)
            .replica_region(&record.region)
            .send()
            .await;
        match result {
            Ok(_) => Some(key_id),
            Err(error) => {
                let reason = format!("moto rejected ReplicateKey: {}", error_text(&error));
                self.skip(&record.arn, reason);
                None
            }
        }
    }

    /// Sets the aliases, key policy, rotation, grants and state of a
    /// created key.
    async fn configure_key(&mut self, kms: &aws_sdk_kms::Client, record: &KeyRecord, key_id: &str) {
        let arn = &record.arn;
        for alias in &record.aliases {
            let result = kms
                .create_alias()
                .alias_name(alias)
                .target_key_id(key_id)
                .send()
                .await;
            if let Err(error) = result {
                self.warn(arn, "CreateAlias", error_text(&error));
            }
        }
        // A planned key policy of None stands for one that the scan cannot
        // read. moto cannot deny GetKeyPolicy, so such a key keeps moto's
        // default policy.
        if let Some(policy) = &record.policy {
            let result = kms
                .put_key_policy()
                .key_id(key_id)
                .policy_name("default")
                .policy(self.renamed(policy))
                .send()
                .await;
            if let Err(error) = result {
                self.warn(arn, "PutKeyPolicy", error_text(&error));
            }
        }
        let primary = record.multi_region_key_type.as_deref() != Some("REPLICA");
        if primary && record.rotation_enabled == Some(true) {
            let result = kms
                .enable_key_rotation()
                .key_id(key_id)
                .set_rotation_period_in_days(record.rotation_period_days)
                .send()
                .await;
            if let Err(error) = result {
                self.warn(arn, "EnableKeyRotation", error_text(&error));
            }
        }
        let own_role = format!(":{}:role/", record.account_id);
        for grantee in record.grantees.iter().filter(|g| !g.contains(&own_role)) {
            let result = kms
                .create_grant()
                .key_id(key_id)
                .grantee_principal(grantee)
                .set_operations(Some(GRANT_OPERATIONS.to_vec()))
                .send()
                .await;
            if let Err(error) = result {
                self.warn(arn, "CreateGrant", error_text(&error));
            }
        }
        self.set_key_state(kms, record, key_id).await;
    }

    async fn set_key_state(&mut self, kms: &aws_sdk_kms::Client, record: &KeyRecord, key_id: &str) {
        let arn = &record.arn;
        match record.key_state.as_deref() {
            Some("Disabled") => {
                if let Err(error) = kms.disable_key().key_id(key_id).send().await {
                    self.warn(arn, "DisableKey", error_text(&error));
                }
            }
            Some("PendingDeletion") => {
                let result = kms
                    .schedule_key_deletion()
                    .key_id(key_id)
                    .set_pending_window_in_days(record.pending_deletion_window_days)
                    .send()
                    .await;
                if let Err(error) = result {
                    self.warn(arn, "ScheduleKeyDeletion", error_text(&error));
                }
            }
            _ => {}
        }
    }

    async fn secret(&mut self, plan: &SecretPlan) {
        let record = &plan.record;
        let client = self.secretsmanager(&record.account_id, &record.region);
        let mut request = client
            .create_secret()
            .name(&record.name)
            .secret_string(SECRET_PLACEHOLDER)
            .set_description(record.description.clone())
            .set_kms_key_id(record.kms_key_id.as_deref().map(|id| self.renamed(id)));
        for tag in &record.tags {
            request = request.tags(SecretTag::builder().key(&tag.key).value(&tag.value).build());
        }
        let new_arn = match request.send().await {
            Ok(output) => output.arn.unwrap_or_default(),
            Err(error) => {
                let reason = format!("moto rejected CreateSecret: {}", error_text(&error));
                self.skip(&record.arn, reason);
                return;
            }
        };
        self.loaded
            .names
            .insert(record.arn.clone(), new_arn.clone());
        self.loaded.secrets += 1;
        self.configure_secret(&client, record, &new_arn).await;
    }

    /// Sets the resource policy, rotation and deletion of a created secret.
    async fn configure_secret(
        &mut self,
        client: &aws_sdk_secretsmanager::Client,
        record: &SecretRecord,
        arn: &str,
    ) {
        if let Some(policy) = &record.policy {
            let result = client
                .put_resource_policy()
                .secret_id(arn)
                .resource_policy(self.renamed(policy))
                .send()
                .await;
            if let Err(error) = result {
                self.warn(arn, "PutResourcePolicy", error_text(&error));
            }
        }
        if record.rotation_enabled == Some(true) {
            let rules = RotationRulesType::builder()
                .set_automatically_after_days(record.rotation_interval_days)
                .build();
            let result = client
                .rotate_secret()
                .secret_id(arn)
                .set_rotation_lambda_arn(record.rotation_lambda_arn.clone())
                .rotation_rules(rules)
                .rotate_immediately(false)
                .send()
                .await;
            // NOTE: moto 5.2.5 stores the rotation settings and only then
            // looks up the rotation function, which the demo does not
            // create, so RotateSecret fails with ResourceNotFoundException
            // but leaves rotation on. Any other error is reported.
            if let Err(error) = result
                && !error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
            {
                self.warn(arn, "RotateSecret", error_text(&error));
            }
        }
        if record.deleted_at.is_some() {
            let result = client
                .delete_secret()
                .secret_id(arn)
                .recovery_window_in_days(7)
                .send()
                .await;
            if let Err(error) = result {
                self.warn(arn, "DeleteSecret", error_text(&error));
            }
        }
    }

    /// Requests an Amazon issued or private certificate for the planned
    /// domain names. moto 5.2.5 leaves an Amazon issued one pending
    /// validation, issues a private one at once, and gives both an RSA_2048
    /// key whatever the request, so their dates, status and key algorithm
    /// are moto's. Certificate transparency logging cannot be turned off any
    /// more, so a planned opt-out is not requested.
    async fn certificate(&mut self, record: &CertificateRecord) {
        let kind = record.certificate_type.as_deref().unwrap_or_default();
        if kind == "IMPORTED" {
            self.import_certificate(record).await;
            return;
        }
        // A private certificate comes from the demo's issuing CA, which the
        // loader created in moto before the certificates.
        let authority = match kind {
            "AMAZON_ISSUED" => None,
            "PRIVATE" => {
                let planned = record
                    .certificate_authority_arn
                    .as_deref()
                    .unwrap_or_default();
                let renamed = self.renamed(planned);
                if renamed == planned {
                    self.skip(
                        &record.arn,
                        "its certificate authority was not created".to_owned(),
                    );
                    return;
                }
                Some(renamed)
            }
            _ => {
                self.skip(&record.arn, format!("unknown certificate type {kind:?}"));
                return;
            }
        };
        let Some(domain) = record.domain_name.as_deref() else {
            self.skip(&record.arn, "the plan has no domain name".to_owned());
            return;
        };
        let result = self
            .acm(&record.account_id, &record.region)
            .request_certificate()
            .domain_name(domain)
            .set_subject_alternative_names(Some(record.subject_alternative_names.clone()))
            .set_validation_method(authority.is_none().then_some(ValidationMethod::Dns))
            .set_certificate_authority_arn(authority)
            .set_key_algorithm(record.key_algorithm.as_deref().map(KeyAlgorithm::from))
            .send()
            .await;
        match result {
            Ok(output) => {
                let arn = output.certificate_arn.unwrap_or_default();
                self.loaded.names.insert(record.arn.clone(), arn);
                self.loaded.certificates += 1;
            }
            Err(error) => {
                let reason = format!("moto rejected RequestCertificate: {}", error_text(&error));
                self.skip(&record.arn, reason);
            }
        }
    }

    /// Imports a self-signed certificate with the planned domain names and
    /// validity, and a new ECDSA P-256 key whatever the planned key
    /// algorithm. moto 5.2.5, like ACM, rejects an expired certificate, so
    /// a planned expired one is skipped with moto's message.
    async fn import_certificate(&mut self, record: &CertificateRecord) {
        let (Some(domain), Some(not_after)) = (record.domain_name.as_deref(), record.not_after)
        else {
            self.skip(
                &record.arn,
                "the plan has no domain name or expiry".to_owned(),
            );
            return;
        };
        let not_before = record
            .not_before
            .unwrap_or(not_after - chrono::Duration::days(395));
        let serial = record.serial.as_deref().map(hex_bytes).unwrap_or_default();
        let body = match certificate_body::self_signed(
            domain,
            &record.subject_alternative_names,
            not_before,
            not_after,
            &serial,
        ) {
            Ok(body) => body,
            Err(reason) => {
                self.skip(&record.arn, reason);
                return;
            }
        };
        let result = self
            .acm(&record.account_id, &record.region)
            .import_certificate()
            .certificate(Blob::new(body.certificate))
            .private_key(Blob::new(body.private_key))
            .send()
            .await;
        match result {
            Ok(output) => {
                let arn = output.certificate_arn.unwrap_or_default();
                self.loaded.names.insert(record.arn.clone(), arn);
                self.loaded.certificates += 1;
            }
            Err(error) => {
                let reason = format!("moto rejected ImportCertificate: {}", error_text(&error));
                self.skip(&record.arn, reason);
            }
        }
    }

    /// Creates a certificate authority with the planned type, key and
    /// subject. moto leaves it pending its CA certificate, which the demo
    /// does not install, and still issues private certificates from it.
    async fn authority(&mut self, record: &AuthorityRecord) {
        let subject = Asn1Subject::builder()
            .set_common_name(record.common_name.clone())
            .build();
        let configuration = CertificateAuthorityConfiguration::builder()
            .set_key_algorithm(record.key_algorithm.as_deref().map(PcaKeyAlgorithm::from))
            .set_signing_algorithm(
                record
                    .signing_algorithm
                    .as_deref()
                    .map(SigningAlgorithm::from),
            )
            .subject(subject)
            .build();
        let configuration = match configuration {
            Ok(configuration) => configuration,
            Err(error) => {
                self.skip(&record.arn, format!("invalid CA configuration: {error}"));
                return;
            }
        };
        let result = self
            .pca(&record.account_id, &record.region)
            .create_certificate_authority()
            .certificate_authority_configuration(configuration)
            .set_certificate_authority_type(
                record
                    .authority_type
                    .as_deref()
                    .map(CertificateAuthorityType::from),
            )
            .send()
            .await;
        match result {
            Ok(output) => {
                let arn = output.certificate_authority_arn.unwrap_or_default();
                self.loaded.names.insert(record.arn.clone(), arn);
                self.loaded.authorities += 1;
            }
            Err(error) => {
                let reason = format!(
                    "moto rejected CreateCertificateAuthority: {}",
                    error_text(&error)
                );
                self.skip(&record.arn, reason);
            }
        }
    }

    /// Creates a customer managed policy, or a role's inline policy with
    /// the role, with the planned document.
    async fn iam_policy(&mut self, record: &IamPolicyRecord) {
        let name = record.arn.as_deref().or(record.principal_arn.as_deref());
        let name = name.unwrap_or(&record.policy_name).to_owned();
        let document = record.document.clone().unwrap_or_default();
        match record.policy_type {
            PolicyType::Managed => self.managed_policy(record, &name, &document).await,
            PolicyType::Inline => self.inline_policy(record, &name, &document).await,
        }
    }

    async fn managed_policy(&mut self, record: &IamPolicyRecord, arn: &str, document: &str) {
        if record.permissions_boundary_usage_count.unwrap_or(0) > 0 {
            // NOTE: moto 5.2.5 reports no PermissionsBoundaryUsageCount, so
            // the rules would judge a boundary as a granting policy.
            let reason = "moto reports no permissions boundary use".to_owned();
            self.skip(arn, reason);
            return;
        }
        let result = self
            .iam(&record.account_id)
            .create_policy()
            .policy_name(&record.policy_name)
            .policy_document(document)
            .send()
            .await;
        match result {
            Ok(_) => self.loaded.iam_policies += 1,
            Err(error) => {
                let reason = format!("moto rejected CreatePolicy: {}", error_text(&error));
                self.skip(arn, reason);
            }
        }
    }

    async fn inline_policy(&mut self, record: &IamPolicyRecord, arn: &str, document: &str) {
        let Some(role) = record.principal_name.clone() else {
            self.skip(arn, "the plan names no role".to_owned());
            return;
        };
        let iam = self.iam(&record.account_id);
        let key = (record.account_id.clone(), role.clone());
        if !self.roles.contains(&key) {
            let trust = serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }],
            });
            let result = iam
                .create_role()
                .role_name(&role)
                .assume_role_policy_document(trust.to_string())
                .send()
                .await;
            if let Err(error) = result {
                let reason = format!("moto rejected CreateRole: {}", error_text(&error));
                self.skip(arn, reason);
                return;
            }
            self.roles.insert(key);
        }
        let result = iam
            .put_role_policy()
            .role_name(&role)
            .policy_name(&record.policy_name)
            .policy_document(document)
            .send()
            .await;
        match result {
            Ok(_) => self.loaded.iam_policies += 1,
            Err(error) => {
                let reason = format!("moto rejected PutRolePolicy: {}", error_text(&error));
                self.skip(arn, reason);
            }
        }
    }

    /// Replicates the primary of a planned replica into the replica's
    /// Region, and names the replica's ARN as moto made it.
    async fn secret_replica(&mut self, record: &SecretRecord) {
        let Some(primary_region) = record.primary_region.clone() else {
            return;
        };
        let primary_arn = record.arn.replacen(
            &format!(":{}:", record.region),
            &format!(":{primary_region}:"),
            1,
        );
        let Some(new_primary) = self.loaded.names.get(&primary_arn).cloned() else {
            self.skip(&record.arn, "its primary secret was not created".to_owned());
            return;
        };
        let client = self.secretsmanager(&record.account_id, &primary_region);
        let result = client
            .replicate_secret_to_regions()
            .secret_id(&new_primary)
            .add_replica_regions(ReplicaRegionType::builder().region(&record.region).build())
            .send()
            .await;
        match result {
            Ok(_) => {
                let new_arn = new_primary.replacen(
                    &format!(":{primary_region}:"),
                    &format!(":{}:", record.region),
                    1,
                );
                self.loaded.names.insert(record.arn.clone(), new_arn);
                self.loaded.secrets += 1;
            }
            Err(error) => {
                let reason = format!(
                    "moto rejected ReplicateSecretToRegions: {}",
                    error_text(&error)
                );
                self.skip(&record.arn, reason);
            }
        }
    }
}
