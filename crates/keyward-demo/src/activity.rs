//! Plans of the events of each asset over the generated period: who uses it
//! and when, which calls are denied, and the other events that CloudTrail
//! logs for it. The trail writer turns this plan into records, and the
//! ground truth reads the same plan, so both agree by construction.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The AWS service of an asset, as CloudTrail's `eventSource` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// AWS KMS.
    Kms,
    /// AWS Secrets Manager.
    SecretsManager,
    /// AWS Certificate Manager.
    Acm,
    /// AWS Private CA.
    AcmPca,
}

impl Service {
    /// Returns the `eventSource` of the service.
    pub fn event_source(self) -> &'static str {
        match self {
            Self::Kms => "kms.amazonaws.com",
            Self::SecretsManager => "secretsmanager.amazonaws.com",
            Self::Acm => "acm.amazonaws.com",
            Self::AcmPca => "acm-pca.amazonaws.com",
        }
    }
}

/// A principal that calls an asset: a role of some account, through an AWS
/// service when `via_service` is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Index of the caller's account in the organization, or `None` for an
    /// account outside it.
    pub account: String,
    /// Role name.
    pub role: String,
    /// AWS service that makes the call on the role's behalf, such as
    /// `secretsmanager.amazonaws.com`.
    pub via_service: Option<&'static str>,
}

/// A call that the service refused.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// When.
    pub time: DateTime<Utc>,
    /// Index into [`Activity::callers`].
    pub caller: usize,
    /// Error code, such as `DisabledException`.
    pub error_code: &'static str,
    /// Error message.
    pub error_message: String,
}

/// One event that the plan places at an exact time, such as `CreateKey`
/// or `RotationFailed`.
#[derive(Clone, Debug)]
pub struct PlannedEvent {
    /// When.
    pub time: DateTime<Utc>,
    /// `eventName`.
    pub name: &'static str,
    /// The caller, or `None` for an event that the service itself logs
    /// (`eventType` `AwsServiceEvent`).
    pub caller: Option<Caller>,
    /// `requestParameters`.
    pub request: Value,
    /// `additionalEventData`.
    pub additional: Value,
    /// Whether the call only reads.
    pub read_only: bool,
}

/// The use of one asset over the period.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    /// Principals that use the asset; every successful use is by one of
    /// them.
    pub callers: Vec<Caller>,
    /// Operations of the uses, such as `Decrypt` or `GetSecretValue`.
    pub operations: &'static [&'static str],
    /// Earliest time of a use.
    pub first_use: Option<DateTime<Utc>>,
    /// Time of the latest successful use; `None` when the period has none.
    pub last_use: Option<DateTime<Utc>>,
    /// Index into `callers` of the latest use.
    pub last_caller: usize,
    /// Share of the day's use events that this asset draws, relative to the
    /// others; 0 leaves only the latest use.
    pub weight: u32,
    /// Calls that the service refused.
    pub refusals: Vec<Refusal>,
    /// Whether principals without permission try the asset now and then,
    /// and are denied with `AccessDeniedException`.
    pub probed: bool,
    /// Whether management calls (`DescribeKey`, `DescribeSecret`, ...) read
    /// the asset during the period.
    pub described: bool,
    /// Events at exact times.
    pub events: Vec<PlannedEvent>,
}

/// An asset, with the fields that the trail writer reads.
#[derive(Clone, Debug)]
pub struct TrailAsset {
    /// Service.
    pub service: Service,
    /// ARN.
    pub arn: String,
    /// Owning account id.
    pub account: String,
    /// Region.
    pub region: String,
    /// CloudFormation-style type that CloudTrail writes in
    /// `resources[].type`.
    pub resource_type: &'static str,
    /// Use over the period.
    pub activity: Activity,
}

impl Activity {
    /// Returns whether any successful use came from another account than
    /// `owner`.
    pub fn used_by_other_account(&self, owner: &str) -> bool {
        self.last_use.is_some() && self.callers.iter().any(|caller| caller.account != owner)
    }
}
