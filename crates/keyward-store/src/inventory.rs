//! The inventory tables: what a scan read from the AWS APIs.
//!
//! Every scan writes one Parquet file per table under
//! `inventory/TABLE/SCAN_ID.parquet`, and the `scans` table last. A scan
//! whose `scans` row is missing was interrupted and is ignored by readers,
//! so a killed scan never shows half an inventory. Earlier scans stay for
//! trends. `docs/columns.md` describes each column.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::files::{parquet_files, read_all_columns, write_parquet_atomic};
use crate::schema::UTC;

/// One run of `keyward scan`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanRecord {
    /// Identifier of the scan, which sorts by start time.
    pub scan_id: String,
    /// When the scan started.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub started_at: DateTime<Utc>,
    /// When the scan finished.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub finished_at: DateTime<Utc>,
    /// Account that the scan ran as.
    pub caller_account: Option<String>,
    /// Accounts scanned, including those that could not be read.
    pub accounts: u32,
    /// Account and Region pairs scanned.
    pub account_regions: u32,
    /// Whether every account, Region and service was read in full.
    pub complete: bool,
    /// Version of keyward that ran the scan.
    pub keyward_version: String,
}

/// Outcome of reading one service in one account and Region, or of a step
/// that covers a whole account (`service` is then `iam`, `sts`, `account`
/// or `organizations`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CoverageStatus {
    /// Read in full.
    #[default]
    Ok,
    /// The service or role refused the call.
    AccessDenied,
    /// The Region is an opt-in Region that the account has not enabled.
    RegionDisabled,
    /// Throttled on every retry.
    Throttled,
    /// Any other failure.
    Failed,
}

impl CoverageStatus {
    /// Name stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::AccessDenied => "access_denied",
            Self::RegionDisabled => "region_disabled",
            Self::Throttled => "throttled",
            Self::Failed => "failed",
        }
    }
}

/// One row of the `coverage` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoverageRecord {
    /// Scan that read it.
    pub scan_id: String,
    /// Account.
    pub account_id: String,
    /// Region; empty for account-wide steps such as assuming the role.
    pub region: String,
    /// Service: `kms`, `acm`, `acm-pca`, `secretsmanager`, `iam`, `sts`,
    /// `account` or `organizations`.
    pub service: String,
    /// Outcome.
    pub status: CoverageStatus,
    /// Operation whose failure set the status.
    pub operation: Option<String>,
    /// Error code that AWS returned.
    pub error_code: Option<String>,
    /// Error message, or the transport error.
    pub error_message: Option<String>,
    /// Assets read.
    pub assets: u32,
    /// API calls made, including retries that the SDK did not repeat.
    pub calls: u32,
    /// Assets whose details could be read only in part; each asset names
    /// the failed calls in its `read_errors`.
    pub partial_assets: u32,
}

/// A tag on an asset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// One KMS key, from `DescribeKey` and the calls that complete it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Scan that read it.
    pub scan_id: String,
    /// Account that owns the key.
    pub account_id: String,
    /// Region of the key.
    pub region: String,
    /// Key id (a UUID, or `mrk-` for multi-Region keys).
    pub key_id: String,
    /// Key ARN.
    pub arn: String,
    /// `AWS` or `CUSTOMER`.
    pub key_manager: Option<String>,
    /// Key state: `Enabled`, `Disabled`, `PendingDeletion`, ...
    pub key_state: Option<String>,
    /// Whether the key is enabled.
    pub enabled: Option<bool>,
    /// Description.
    pub description: Option<String>,
    /// Key spec, such as `SYMMETRIC_DEFAULT` or `RSA_2048`.
    pub key_spec: Option<String>,
    /// Key usage, such as `ENCRYPT_DECRYPT` or `SIGN_VERIFY`.
    pub key_usage: Option<String>,
    /// Origin of the key material: `AWS_KMS`, `EXTERNAL`,
    /// `AWS_CLOUDHSM` or `EXTERNAL_KEY_STORE`.
    pub origin: Option<String>,
    /// Custom key store, if any.
    pub custom_key_store_id: Option<String>,
    /// When the key was created.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub creation_date: Option<DateTime<Utc>>,
    /// When a key pending deletion will be deleted.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub deletion_date: Option<DateTime<Utc>>,
    /// Waiting period of a scheduled deletion, in days.
    pub pending_deletion_window_days: Option<i32>,
    /// When imported key material expires.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub valid_to: Option<DateTime<Utc>>,
    /// Whether the key is multi-Region.
    pub multi_region: Option<bool>,
    /// `PRIMARY` or `REPLICA` for multi-Region keys.
    pub multi_region_key_type: Option<String>,
    /// ARN of the primary key of a multi-Region key.
    pub primary_key_arn: Option<String>,
    /// Regions of the replicas of a multi-Region key.
    pub replica_regions: Vec<String>,
    /// Algorithms the key can encrypt, sign, agree or compute MACs with.
    pub algorithms: Vec<String>,
    /// Whether automatic rotation is enabled; `None` when not read or not
    /// applicable.
    pub rotation_enabled: Option<bool>,
    /// Automatic rotation period, in days.
    pub rotation_period_days: Option<i32>,
    /// Next automatic rotation.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub next_rotation_date: Option<DateTime<Utc>>,
    /// Rotations completed, automatic and on demand.
    pub rotation_count: Option<u32>,
    /// Date of the latest completed rotation.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub last_rotation_date: Option<DateTime<Utc>>,
    /// The `default` key policy, as JSON text.
    pub policy: Option<String>,
    /// Grants on the key.
    pub grant_count: Option<u32>,
    /// Distinct grantee principals of the grants.
    pub grantees: Vec<String>,
    /// Aliases that point at the key.
    pub aliases: Vec<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Whether `GetKeyLastUsage` returned usage data. `false` means that
    /// usage is unknown, which is not the same as never used.
    pub usage_known: bool,
    /// Last successful cryptographic operation that KMS tracked.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Operation of the last use.
    pub last_used_operation: Option<String>,
    /// CloudTrail event id of the last use.
    pub last_used_event_id: Option<String>,
    /// Since when KMS tracks the key's usage.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub usage_tracking_start: Option<DateTime<Utc>>,
    /// Calls for this key that failed, as `Operation: code: message`.
    pub read_errors: Vec<String>,
}

/// One KMS alias.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// Scan that read it.
    pub scan_id: String,
    /// Account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Alias name, with its `alias/` prefix.
    pub alias_name: String,
    /// Alias ARN.
    pub arn: Option<String>,
    /// Key id that the alias points at; `None` for an alias without a key.
    pub target_key_id: Option<String>,
    /// When the alias was created.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub creation_date: Option<DateTime<Utc>>,
}

/// One ACM certificate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Scan that read it.
    pub scan_id: String,
    /// Account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Certificate ARN.
    pub arn: String,
    /// Primary domain name.
    pub domain_name: Option<String>,
    /// Subject alternative names.
    pub subject_alternative_names: Vec<String>,
    /// `ISSUED`, `EXPIRED`, `PENDING_VALIDATION`, ...
    pub status: Option<String>,
    /// `AMAZON_ISSUED`, `IMPORTED` or `PRIVATE`.
    pub certificate_type: Option<String>,
    /// Key algorithm, such as `RSA-2048` or `EC-prime256v1`.
    pub key_algorithm: Option<String>,
    /// Signature algorithm, such as `SHA256WITHRSA`.
    pub signature_algorithm: Option<String>,
    /// Subject distinguished name.
    pub subject: Option<String>,
    /// Issuer distinguished name.
    pub issuer: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Start of validity.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub not_before: Option<DateTime<Utc>>,
    /// End of validity.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub not_after: Option<DateTime<Utc>>,
    /// When the certificate was created in ACM.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub created_at: Option<DateTime<Utc>>,
    /// When ACM issued it.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub issued_at: Option<DateTime<Utc>>,
    /// When it was imported.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub imported_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Reason for the revocation.
    pub revocation_reason: Option<String>,
    /// ARNs of the resources that use it.
    pub in_use_by: Vec<String>,
    /// `ELIGIBLE` or `INELIGIBLE` for managed renewal.
    pub renewal_eligibility: Option<String>,
    /// Status of the managed renewal in progress.
    pub renewal_status: Option<String>,
    /// Reason the managed renewal failed.
    pub renewal_failure_reason: Option<String>,
    /// Reason the request failed.
    pub failure_reason: Option<String>,
    /// Private CA that issued a private certificate.
    pub certificate_authority_arn: Option<String>,
    /// Whether the certificate can be exported.
    pub export_option: Option<String>,
    /// Certificate Transparency logging preference: `ENABLED` or
    /// `DISABLED`.
    pub transparency_logging: Option<String>,
    /// Key usages.
    pub key_usages: Vec<String>,
    /// Extended key usages.
    pub extended_key_usages: Vec<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Calls for this certificate that failed.
    pub read_errors: Vec<String>,
}

/// One AWS Private CA certificate authority.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthorityRecord {
    /// Scan that read it.
    pub scan_id: String,
    /// Account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// CA ARN.
    pub arn: String,
    /// `ROOT` or `SUBORDINATE`.
    pub authority_type: Option<String>,
    /// `ACTIVE`, `DISABLED`, `PENDING_CERTIFICATE`, `EXPIRED`, ...
    pub status: Option<String>,
    /// `GENERAL_PURPOSE` or `SHORT_LIVED_CERTIFICATE`.
    pub usage_mode: Option<String>,
    /// Key algorithm, such as `RSA_2048` or `EC_prime256v1`.
    pub key_algorithm: Option<String>,
    /// Signing algorithm, such as `SHA256WITHRSA`.
    pub signing_algorithm: Option<String>,
    /// Key storage security standard.
    pub key_storage_security_standard: Option<String>,
    /// Subject common name.
    pub common_name: Option<String>,
    /// Start of the CA certificate's validity.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub not_before: Option<DateTime<Utc>>,
    /// End of the CA certificate's validity.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub not_after: Option<DateTime<Utc>>,
    /// When the CA was created.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub created_at: Option<DateTime<Utc>>,
    /// When a CA in the `DELETED` state will be removed.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub restorable_until: Option<DateTime<Utc>>,
    /// Reason the CA failed.
    pub failure_reason: Option<String>,
    /// Whether a CRL is published.
    pub crl_enabled: Option<bool>,
    /// Whether OCSP is enabled.
    pub ocsp_enabled: Option<bool>,
    /// Calls for this CA that failed.
    pub read_errors: Vec<String>,
}

/// One Secrets Manager secret. The secret value is never read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SecretRecord {
    /// Scan that read it.
    pub scan_id: String,
    /// Account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Secret ARN.
    pub arn: String,
    /// Secret name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// KMS key that encrypts the secret; `None` for the AWS managed key
    /// `aws/secretsmanager`.
    pub kms_key_id: Option<String>,
    /// Whether rotation is enabled.
    pub rotation_enabled: Option<bool>,
    /// Rotation function.
    pub rotation_lambda_arn: Option<String>,
    /// Days between rotations.
    pub rotation_interval_days: Option<i64>,
    /// Rotation schedule expression.
    pub rotation_schedule: Option<String>,
    /// Last rotation.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub last_rotated_at: Option<DateTime<Utc>>,
    /// Next rotation.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub next_rotation_at: Option<DateTime<Utc>>,
    /// Last change.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub last_changed_at: Option<DateTime<Utc>>,
    /// Last day on which the secret was read; Secrets Manager keeps only
    /// the date.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub last_accessed_at: Option<DateTime<Utc>>,
    /// When the secret was created.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub created_at: Option<DateTime<Utc>>,
    /// When a secret scheduled for deletion is deleted.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Region of the primary secret, for replicas.
    pub primary_region: Option<String>,
    /// Service that manages the secret, such as `rds`.
    pub owning_service: Option<String>,
    /// Resource policy, as JSON text.
    pub policy: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Calls for this secret that failed.
    pub read_errors: Vec<String>,
}

/// Kind of an IAM policy in the `iam_policies` table.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    /// A customer managed policy: a policy of its own, with an ARN and
    /// versions, that can be attached to users, roles and groups.
    #[default]
    Managed,
    /// An inline policy, embedded in one user, role or group.
    Inline,
}

impl PolicyType {
    /// Name stored in the `policy_type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Managed => "managed",
            Self::Inline => "inline",
        }
    }
}

/// Kind of IAM identity that embeds an inline policy.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalType {
    /// An IAM user.
    #[default]
    User,
    /// An IAM role.
    Role,
    /// An IAM group.
    Group,
}

impl PrincipalType {
    /// Name stored in the `principal_type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Role => "role",
            Self::Group => "group",
        }
    }
}

/// One IAM policy of an account, from `GetAccountAuthorizationDetails`: a
/// customer managed policy, or an inline policy of a user, role or group.
/// IAM is global, so the record has no Region. AWS managed policies are
/// not read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IamPolicyRecord {
    /// Scan that read it.
    pub scan_id: String,
    /// Account.
    pub account_id: String,
    /// Customer managed or inline.
    pub policy_type: PolicyType,
    /// Policy name.
    pub policy_name: String,
    /// ARN of a customer managed policy. Inline policies have none.
    pub arn: Option<String>,
    /// Policy id of a customer managed policy.
    pub policy_id: Option<String>,
    /// Path of a customer managed policy, such as `/`.
    pub path: Option<String>,
    /// Version of a customer managed policy that is in force, such as `v3`.
    pub default_version_id: Option<String>,
    /// Users, roles and groups that a customer managed policy is attached
    /// to.
    pub attachment_count: Option<u32>,
    /// Users and roles that use a customer managed policy as their
    /// permissions boundary.
    pub permissions_boundary_usage_count: Option<u32>,
    /// When a customer managed policy was created.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub created_at: Option<DateTime<Utc>>,
    /// When a customer managed policy last changed.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Kind of identity that embeds an inline policy.
    pub principal_type: Option<PrincipalType>,
    /// Name of the user, role or group of an inline policy.
    pub principal_name: Option<String>,
    /// ARN of the user, role or group of an inline policy.
    pub principal_arn: Option<String>,
    /// Policy document as JSON text, decoded from the URL encoding that
    /// IAM returns. A customer managed policy has its default version here.
    pub document: Option<String>,
    /// Tags of the user or role of an inline policy. The response carries
    /// no tags for groups or managed policies.
    pub tags: Vec<Tag>,
    /// Problems with this policy's data, such as a document that could not
    /// be decoded.
    pub read_errors: Vec<String>,
}

/// One account of the scan, with its place in AWS Organizations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// Scan that read it.
    pub scan_id: String,
    /// Account id.
    pub account_id: String,
    /// Account name, from AWS Organizations.
    pub name: Option<String>,
    /// Account state from AWS Organizations, such as `ACTIVE` or
    /// `SUSPENDED`.
    pub status: Option<String>,
    /// Whether the scan selected the account. Accounts that are not active,
    /// or that `--accounts` and `--exclude-accounts` leave out, are listed
    /// but not scanned.
    pub scanned: bool,
    /// Organization id, such as `o-a1b2c3d4e5`.
    pub organization_id: Option<String>,
    /// Ids of the root and of each organizational unit from the root down
    /// to the account's parent. Empty when the path is unknown.
    pub ou_path_ids: Vec<String>,
    /// Names of the same root and organizational units.
    pub ou_path_names: Vec<String>,
    /// The path in the form of the `aws:PrincipalOrgPaths` condition key:
    /// `o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/`.
    pub org_path: Option<String>,
}

/// Everything one scan read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The scan.
    pub scan: ScanRecord,
    /// Coverage of each account, Region and service.
    pub coverage: Vec<CoverageRecord>,
    /// KMS keys.
    pub keys: Vec<KeyRecord>,
    /// KMS aliases.
    pub aliases: Vec<AliasRecord>,
    /// ACM certificates.
    pub certificates: Vec<CertificateRecord>,
    /// Private CA certificate authorities.
    pub authorities: Vec<AuthorityRecord>,
    /// Secrets Manager secrets.
    pub secrets: Vec<SecretRecord>,
    /// Customer managed and inline IAM policies.
    pub iam_policies: Vec<IamPolicyRecord>,
    /// The accounts of the scan, with their organizational units.
    pub accounts: Vec<AccountRecord>,
}

/// A table of the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InventoryTable {
    /// `scans`
    Scans,
    /// `coverage`
    Coverage,
    /// `keys`
    Keys,
    /// `aliases`
    Aliases,
    /// `certificates`
    Certificates,
    /// `certificate_authorities`
    Authorities,
    /// `secrets`
    Secrets,
    /// `iam_policies`
    IamPolicies,
    /// `accounts`
    Accounts,
}

impl InventoryTable {
    /// Every table, `scans` last: it is written last.
    pub const ALL: [Self; 9] = [
        Self::Coverage,
        Self::Keys,
        Self::Aliases,
        Self::Certificates,
        Self::Authorities,
        Self::Secrets,
        Self::IamPolicies,
        Self::Accounts,
        Self::Scans,
    ];

    /// Table name in SQL and folder name in the store.
    pub fn name(self) -> &'static str {
        match self {
            Self::Scans => "scans",
            Self::Coverage => "coverage",
            Self::Keys => "keys",
            Self::Aliases => "aliases",
            Self::Certificates => "certificates",
            Self::Authorities => "certificate_authorities",
            Self::Secrets => "secrets",
            Self::IamPolicies => "iam_policies",
            Self::Accounts => "accounts",
        }
    }

    /// Arrow fields of the table.
    pub fn fields(self) -> Result<Vec<FieldRef>> {
        match self {
            Self::Scans => fields_of::<ScanRecord>(),
            Self::Coverage => fields_of::<CoverageRecord>(),
            Self::Keys => fields_of::<KeyRecord>(),
            Self::Aliases => fields_of::<AliasRecord>(),
            Self::Certificates => fields_of::<CertificateRecord>(),
            Self::Authorities => fields_of::<AuthorityRecord>(),
            Self::Secrets => fields_of::<SecretRecord>(),
            Self::IamPolicies => fields_of::<IamPolicyRecord>(),
            Self::Accounts => fields_of::<AccountRecord>(),
        }
    }
}

/// Fields of the record types that contain a `DateTime<Utc>`. Tracing a
/// type reports them as integers, and they are stored as UTC microsecond
/// timestamps.
const TIME_FIELDS: [&str; 24] = [
    "checked_at",
    "first_seen",
    "started_at",
    "finished_at",
    "creation_date",
    "deletion_date",
    "valid_to",
    "next_rotation_date",
    "last_rotation_date",
    "last_used_at",
    "usage_tracking_start",
    "not_before",
    "not_after",
    "created_at",
    "issued_at",
    "imported_at",
    "revoked_at",
    "restorable_until",
    "last_rotated_at",
    "next_rotation_at",
    "last_changed_at",
    "last_accessed_at",
    "deleted_at",
    "updated_at",
];

/// Arrow fields of a record type, with enums as text.
pub(crate) fn fields_of<T: Serialize + DeserializeOwned>() -> Result<Vec<FieldRef>> {
    let options = TracingOptions::default()
        .enums_without_data_as_strings(true)
        .allow_null_fields(true);
    let traced = Vec::<FieldRef>::from_type::<T>(options).map_err(arrow_error)?;
    Ok(traced
        .into_iter()
        .map(|field| {
            if TIME_FIELDS.contains(&field.name().as_str()) {
                let data_type = DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()));
                Arc::new(Field::new(field.name(), data_type, field.is_nullable()))
            } else {
                field
            }
        })
        .collect())
}

pub(crate) fn arrow_error(error: serde_arrow::Error) -> StoreError {
    StoreError::Inventory(error.to_string())
}

fn to_batch<T: Serialize>(table: InventoryTable, rows: &[T]) -> Result<RecordBatch> {
    let fields = table.fields()?;
    serde_arrow::to_record_batch(&fields, &rows).map_err(arrow_error)
}

pub(crate) fn from_batches<T: DeserializeOwned>(batches: &[RecordBatch]) -> Result<Vec<T>> {
    let mut rows = Vec::new();
    for batch in batches {
        rows.extend(serde_arrow::from_record_batch::<Vec<T>>(batch).map_err(arrow_error)?);
    }
    Ok(rows)
}

impl Store {
    /// Folder of an inventory table.
    pub fn inventory_dir(&self, table: InventoryTable) -> PathBuf {
        self.root().join("inventory").join(table.name())
    }

    /// Writes a scan's snapshot: every table, then the `scans` row that
    /// makes it visible. The caller holds the store lock.
    pub fn write_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        let scan_id = &snapshot.scan.scan_id;
        let file_name = format!("{scan_id}.parquet");
        let temp = self.temp_dir();
        std::fs::create_dir_all(&temp).map_err(|e| StoreError::io("create", &temp, e))?;
        for table in InventoryTable::ALL {
            let batch = match table {
                InventoryTable::Scans => to_batch(table, std::slice::from_ref(&snapshot.scan))?,
                InventoryTable::Coverage => to_batch(table, &snapshot.coverage)?,
                InventoryTable::Keys => to_batch(table, &snapshot.keys)?,
                InventoryTable::Aliases => to_batch(table, &snapshot.aliases)?,
                InventoryTable::Certificates => to_batch(table, &snapshot.certificates)?,
                InventoryTable::Authorities => to_batch(table, &snapshot.authorities)?,
                InventoryTable::Secrets => to_batch(table, &snapshot.secrets)?,
                InventoryTable::IamPolicies => to_batch(table, &snapshot.iam_policies)?,
                InventoryTable::Accounts => to_batch(table, &snapshot.accounts)?,
            };
            let directory = self.inventory_dir(table);
            std::fs::create_dir_all(&directory)
                .map_err(|e| StoreError::io("create", &directory, e))?;
            write_parquet_atomic(&batch, &directory.join(&file_name), &temp)?;
        }
        Ok(())
    }

    /// Scans whose snapshot is complete in the store, oldest first.
    pub fn scans(&self) -> Result<Vec<ScanRecord>> {
        let mut scans: Vec<ScanRecord> = read_table(&self.inventory_dir(InventoryTable::Scans))?;
        scans.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then(a.scan_id.cmp(&b.scan_id))
        });
        Ok(scans)
    }

    /// Reads the snapshot of one scan, or of the latest when `scan_id` is
    /// `None`.
    /// Returns `None` when the store has no finished scan.
    pub fn snapshot(&self, scan_id: Option<&str>) -> Result<Option<Snapshot>> {
        let scans = self.scans()?;
        let scan = match scan_id {
            Some(id) => scans.into_iter().find(|scan| scan.scan_id == id),
            None => scans.into_iter().next_back(),
        };
        let Some(scan) = scan else {
            return Ok(None);
        };
        let file_name = format!("{}.parquet", scan.scan_id);
        let read = |table: InventoryTable| -> Result<Vec<RecordBatch>> {
            let path = self.inventory_dir(table).join(&file_name);
            if path.exists() {
                read_all_columns(&path)
            } else {
                Ok(Vec::new())
            }
        };
        Ok(Some(Snapshot {
            coverage: from_batches(&read(InventoryTable::Coverage)?)?,
            keys: from_batches(&read(InventoryTable::Keys)?)?,
            aliases: from_batches(&read(InventoryTable::Aliases)?)?,
            certificates: from_batches(&read(InventoryTable::Certificates)?)?,
            authorities: from_batches(&read(InventoryTable::Authorities)?)?,
            secrets: from_batches(&read(InventoryTable::Secrets)?)?,
            iam_policies: from_batches(&read(InventoryTable::IamPolicies)?)?,
            accounts: from_batches(&read(InventoryTable::Accounts)?)?,
            scan,
        }))
    }
}

pub(crate) fn read_table<T: DeserializeOwned>(directory: &Path) -> Result<Vec<T>> {
    let mut rows = Vec::new();
    for file in parquet_files(directory)? {
        rows.extend(from_batches::<T>(&read_all_columns(&file)?)?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }

    fn sample_snapshot() -> Snapshot {
        let scan_id = "20261204T100000Z-1".to_owned();
        Snapshot {
            scan: ScanRecord {
                scan_id: scan_id.clone(),
                started_at: time(1_780_000_000),
                finished_at: time(1_780_000_060),
                caller_account: Some("111122223333".into()),
                accounts: 2,
                account_regions: 4,
                complete: false,
                keyward_version: "0.1.0".into(),
            },
            coverage: vec![CoverageRecord {
                scan_id: scan_id.clone(),
                account_id: "111122223333".into(),
                region: "eu-west-1".into(),
                service: "kms".into(),
                status: CoverageStatus::AccessDenied,
                operation: Some("ListKeys".into()),
                error_code: Some("AccessDeniedException".into()),
                error_message: Some("not allowed".into()),
                assets: 0,
                calls: 1,
                partial_assets: 0,
            }],
            keys: vec![KeyRecord {
                scan_id: scan_id.clone(),
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
                arn: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    .into(),
                creation_date: Some(time(1_700_000_000)),
                next_rotation_date: Some(time(1_790_000_000)),
                last_used_at: Some(time(1_779_000_000)),
                replica_regions: vec!["eu-west-1".into()],
                tags: vec![Tag {
                    key: "team".into(),
                    value: "payments".into(),
                }],
                usage_known: true,
                read_errors: vec!["ListResourceTags: AccessDeniedException: no".into()],
                ..KeyRecord::default()
            }],
            aliases: vec![AliasRecord {
                scan_id: scan_id.clone(),
                alias_name: "alias/payments".into(),
                ..AliasRecord::default()
            }],
            certificates: vec![CertificateRecord {
                scan_id: scan_id.clone(),
                arn: "arn:aws:acm:us-east-1:111122223333:certificate/1".into(),
                not_after: Some(time(1_790_000_000)),
                in_use_by: vec!["arn:aws:elasticloadbalancing:lb".into()],
                ..CertificateRecord::default()
            }],
            authorities: vec![AuthorityRecord {
                scan_id: scan_id.clone(),
                arn: "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/1".into(),
                crl_enabled: Some(false),
                ..AuthorityRecord::default()
            }],
            secrets: vec![SecretRecord {
                scan_id: scan_id.clone(),
                arn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf".into(),
                name: "db".into(),
                rotation_interval_days: Some(30),
                last_accessed_at: Some(time(1_779_840_000)),
                ..SecretRecord::default()
            }],
            iam_policies: vec![
                IamPolicyRecord {
                    scan_id: scan_id.clone(),
                    account_id: "111122223333".into(),
                    policy_type: PolicyType::Managed,
                    policy_name: "decrypt-all".into(),
                    arn: Some("arn:aws:iam::111122223333:policy/decrypt-all".into()),
                    default_version_id: Some("v2".into()),
                    attachment_count: Some(0),
                    updated_at: Some(time(1_779_000_000)),
                    document: Some(r#"{"Statement":[]}"#.into()),
                    ..IamPolicyRecord::default()
                },
                IamPolicyRecord {
                    scan_id: scan_id.clone(),
                    account_id: "111122223333".into(),
                    policy_type: PolicyType::Inline,
                    policy_name: "inline".into(),
                    principal_type: Some(PrincipalType::Role),
                    principal_arn: Some("arn:aws:iam::111122223333:role/app".into()),
                    tags: vec![Tag {
                        key: "team".into(),
                        value: "payments".into(),
                    }],
                    ..IamPolicyRecord::default()
                },
            ],
            accounts: vec![AccountRecord {
                scan_id,
                account_id: "111122223333".into(),
                name: Some("payments".into()),
                status: Some("ACTIVE".into()),
                scanned: true,
                organization_id: Some("o-a1b2c3d4e5".into()),
                ou_path_ids: vec!["r-ab12".into(), "ou-ab12-11111111".into()],
                ou_path_names: vec!["Root".into(), "Workloads".into()],
                org_path: Some("o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/".into()),
            }],
        }
    }

    #[test]
    fn snapshot_round_trips_through_parquet() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(directory.path()).unwrap();
        let snapshot = sample_snapshot();
        store.write_snapshot(&snapshot).unwrap();
        assert_eq!(store.snapshot(None).unwrap(), Some(snapshot.clone()));
        assert_eq!(
            store.snapshot(Some(&snapshot.scan.scan_id)).unwrap(),
            Some(snapshot)
        );
        assert_eq!(store.snapshot(Some("missing")).unwrap(), None);
    }

    #[test]
    fn scan_without_scans_row_is_ignored() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(directory.path()).unwrap();
        let snapshot = sample_snapshot();
        store.write_snapshot(&snapshot).unwrap();
        let scans_file = store
            .inventory_dir(InventoryTable::Scans)
            .join(format!("{}.parquet", snapshot.scan.scan_id));
        std::fs::remove_file(scans_file).unwrap();
        assert_eq!(store.snapshot(None).unwrap(), None);
    }

    #[test]
    fn every_date_time_field_is_stored_as_a_timestamp() {
        let snapshot = sample_snapshot();
        let samples = [
            (InventoryTable::Scans, serde_json::to_value(&snapshot.scan)),
            (
                InventoryTable::Keys,
                serde_json::to_value(&snapshot.keys[0]),
            ),
            (
                InventoryTable::Certificates,
                serde_json::to_value(&snapshot.certificates[0]),
            ),
            (
                InventoryTable::Authorities,
                serde_json::to_value(&snapshot.authorities[0]),
            ),
            (
                InventoryTable::Secrets,
                serde_json::to_value(&snapshot.secrets[0]),
            ),
            (
                InventoryTable::Aliases,
                serde_json::to_value(&snapshot.aliases[0]),
            ),
            (
                InventoryTable::IamPolicies,
                serde_json::to_value(&snapshot.iam_policies[0]),
            ),
            (
                InventoryTable::Accounts,
                serde_json::to_value(&snapshot.accounts[0]),
            ),
        ];
        // Times are serialized as microseconds since 1970; no count comes
        // near 10^15, which is a time in 2001.
        let mut timestamps = 0;
        for (table, sample) in samples {
            let sample = sample.unwrap();
            for field in table.fields().unwrap() {
                let is_time = matches!(field.data_type(), DataType::Timestamp(..));
                let looks_like_time = sample[field.name()]
                    .as_i64()
                    .is_some_and(|value| value > 1_000_000_000_000_000);
                if looks_like_time {
                    assert!(
                        is_time,
                        "{}.{} is not a timestamp",
                        table.name(),
                        field.name()
                    );
                    timestamps += 1;
                }
            }
        }
        assert_eq!(timestamps, 8);
    }

    #[test]
    fn every_time_field_name_is_listed() {
        // Split so that this line does not count itself.
        let annotation = ["#[serde(with = \"chrono::serde::", "ts_micro"].concat();
        let annotated = include_str!("inventory.rs").matches(&annotation).count();
        let stored: usize = InventoryTable::ALL
            .iter()
            .map(|table| {
                let fields = table.fields().unwrap();
                fields
                    .iter()
                    .filter(|f| matches!(f.data_type(), DataType::Timestamp(..)))
                    .count()
            })
            .sum();
        assert_eq!(stored, annotated);
    }
}
