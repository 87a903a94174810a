//! Secrets Manager secrets with and without rotation, failing rotations,
//! replicas, resource policies and deletions, and the verdict each rule
//! must reach. Only metadata is generated: a secret value never exists.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use keyward_store::inventory::{SecretRecord, Snapshot, Tag};
use serde_json::json;

use crate::activity::{Activity, Caller, PlannedEvent, Refusal, Service, TrailAsset};
use crate::organization::Account;
use crate::random::Random;
use crate::truth::{ExpectedAsset, Verdict};
use crate::world::{Place, World, thresholds};
use crate::{Built, Planned, SCAN_ID};

/// The situations that secrets are built to show. Every organization has
/// each at least once, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Rotates every 30 days, read every day, customer managed key.
    Healthy,
    /// Rotation off, and never rotated since creation long ago.
    RotationDisabled,
    /// Rotation off, but changed by hand last month.
    ManualRotation,
    /// The rotation function fails, as CloudTrail's `RotationFailed`
    /// events show.
    RotationFailing,
    /// The scheduled rotation date passed without a rotation.
    RotationOverdue,
    /// Last read long ago.
    Unused,
    /// Never read since creation.
    NeverRead,
    /// Created last week, not read yet.
    New,
    /// Encrypted with the AWS managed key.
    AwsManagedKey,
    /// The resource policy lets anyone read it.
    PublicPolicy,
    /// The resource policy names a partner account outside the
    /// organization.
    ExternalPolicy,
    /// Read by a role of another account of the organization.
    SharedWithOtherAccount,
    /// Replicated to another Region.
    Replicated,
    /// Scheduled for deletion; reads are refused.
    ScheduledDeletion,
    /// Managed by Amazon RDS, which rotates it.
    RdsManaged,
}

impl Scenario {
    /// Every scenario, in the order an organization first builds them.
    pub const ALL: [Self; 15] = [
        Self::Healthy,
        Self::RotationDisabled,
        Self::ManualRotation,
        Self::RotationFailing,
        Self::RotationOverdue,
        Self::Unused,
        Self::NeverRead,
        Self::New,
        Self::AwsManagedKey,
        Self::PublicPolicy,
        Self::ExternalPolicy,
        Self::SharedWithOtherAccount,
        Self::Replicated,
        Self::ScheduledDeletion,
        Self::RdsManaged,
    ];

    /// Returns the scenario's name in the ground truth.
    pub fn name(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::RotationDisabled => "rotation-disabled",
            Self::ManualRotation => "manual-rotation",
            Self::RotationFailing => "rotation-failing",
            Self::RotationOverdue => "rotation-overdue",
            Self::Unused => "unused",
            Self::NeverRead => "never-read",
            Self::New => "new",
            Self::AwsManagedKey => "aws-managed-key",
            Self::PublicPolicy => "public-policy",
            Self::ExternalPolicy => "external-policy",
            Self::SharedWithOtherAccount => "shared-with-other-account",
            Self::Replicated => "replicated",
            Self::ScheduledDeletion => "scheduled-deletion",
            Self::RdsManaged => "rds-managed",
        }
    }

    /// Draws a scenario for a secret past the first round.
    pub fn draw(random: &mut Random) -> Self {
        if random.percent(50) {
            Self::Healthy
        } else {
            *random.pick(&Self::ALL)
        }
    }
}

/// Principals that the resource policy allows to read a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PolicyKind {
    None,
    Public,
    External(String),
    Account(String),
}

/// A secret with what the rules need to know of its plan.
#[derive(Clone, Debug)]
pub struct SecretPlan {
    /// The secret as a scan would read it.
    pub record: SecretRecord,
    policy: PolicyKind,
    activity: Activity,
    /// Latest `RotationFailed` and `RotationSucceeded` events.
    rotation_failed: Option<DateTime<Utc>>,
    rotation_succeeded: Option<DateTime<Utc>>,
}

const NAMES: [&str; 8] = [
    "db/primary",
    "db/reporting",
    "api/stripe",
    "api/github",
    "smtp",
    "oauth/client",
    "cache",
    "queue",
];

/// Builds the secrets of one account and Region into the snapshot.
/// `key_arn` is a customer managed key of that account and Region, if any.
pub fn build(
    world: &World,
    random: &mut Random,
    place: Place<'_>,
    key_arn: Option<&str>,
    scenarios: &mut dyn Iterator<Item = Scenario>,
    count: u32,
    snapshot: &mut Snapshot,
) -> Vec<Built> {
    let Place { account, region } = place;
    let mut built = Vec::new();
    for index in 0..count {
        let scenario = scenarios.next().unwrap_or_else(|| Scenario::draw(random));
        let plan = plan(world, random, account, region, key_arn, scenario, index);
        if scenario == Scenario::Replicated
            && let Some(replica) = replica(world, &plan.record)
        {
            built.push(Built {
                expected: ExpectedAsset {
                    arn: replica.arn.clone(),
                    resource_type: "AwsSecretsManagerSecret".to_owned(),
                    account_id: replica.account_id.clone(),
                    region: replica.region.clone(),
                    scenario: "replica".to_owned(),
                    last_use: None,
                    verdicts: BTreeMap::new(),
                },
                trail: None,
                planned: Planned::SecretReplica(Box::new(replica.clone())),
            });
            snapshot.secrets.push(replica);
        }
        let verdicts = verdicts(world, &plan);
        built.push(Built {
            expected: ExpectedAsset {
                arn: plan.record.arn.clone(),
                resource_type: "AwsSecretsManagerSecret".to_owned(),
                account_id: account.id.clone(),
                region: region.to_owned(),
                scenario: scenario.name().to_owned(),
                last_use: plan.activity.last_use,
                verdicts,
            },
            trail: Some(TrailAsset {
                service: Service::SecretsManager,
                arn: plan.record.arn.clone(),
                account: account.id.clone(),
                region: region.to_owned(),
                resource_type: "AWS::SecretsManager::Secret",
                activity: plan.activity.clone(),
            }),
            planned: Planned::Secret(Box::new(plan.clone())),
        });
        snapshot.secrets.push(plan.record);
    }
    built
}

#[allow(clippy::too_many_lines)]
fn plan(
    world: &World,
    random: &mut Random,
    account: &Account,
    region: &str,
    key_arn: Option<&str>,
    scenario: Scenario,
    index: u32,
) -> SecretPlan {
    let base = NAMES[index as usize % NAMES.len()];
    let name = format!("{}/{base}-{}", account.name, random.hex(4));
    let arn = format!(
        "arn:aws:secretsmanager:{region}:{}:secret:{name}-{}",
        account.id,
        random.chars(6, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    );
    let created = world.days_ago(i64::from(random.between(150, 800)));
    let mut record = SecretRecord {
        scan_id: SCAN_ID.to_owned(),
        account_id: account.id.clone(),
        region: region.to_owned(),
        arn: arn.clone(),
        name: name.clone(),
        description: Some(format!("{base} credentials of {}", account.name)),
        kms_key_id: Some(key_arn.map_or_else(
            || {
                format!(
                    "arn:aws:kms:{region}:{}:alias/{}-secrets",
                    account.id, account.name
                )
            },
            str::to_owned,
        )),
        created_at: Some(created),
        tags: vec![Tag {
            key: "team".to_owned(),
            value: account.name.clone(),
        }],
        ..SecretRecord::default()
    };
    let rotation_role = Caller {
        account: account.id.clone(),
        role: format!("{}-rotation", account.name),
        via_service: None,
    };
    let mut activity = Activity {
        callers: vec![Caller {
            account: account.id.clone(),
            role: account.app_role.clone(),
            via_service: None,
        }],
        operations: &["GetSecretValue"],
        first_use: Some(world.start),
        last_use: Some(world.hours_ago(i64::from(random.between(1, 40)))),
        weight: 8,
        described: true,
        probed: true,
        ..Activity::default()
    };
    let mut plan_policy = PolicyKind::None;
    let mut rotation_failed = None;
    let mut rotation_succeeded = None;
    let interval = 30;
    let mut rotate = |record: &mut SecretRecord,
                      activity: &mut Activity,
                      last: DateTime<Utc>,
                      next: DateTime<Utc>| {
        record.rotation_enabled = Some(true);
        record.rotation_lambda_arn = Some(format!(
            "arn:aws:lambda:{region}:{}:function:{}-rotation",
            account.id, account.name
        ));
        record.rotation_interval_days = Some(interval);
        record.rotation_schedule = Some(format!("rate({interval} days)"));
        record.last_rotated_at = Some(last);
        record.last_changed_at = Some(last);
        record.next_rotation_at = Some(next);
        // Secrets Manager logs a RotationSucceeded event for each rotation.
        let mut time = last;
        while let Some(at) = world.in_period(time) {
            activity
                .events
                .push(rotation_event(at, "RotationSucceeded", &arn));
            rotation_succeeded = rotation_succeeded.max(Some(at));
            time -= Duration::days(interval);
        }
    };

    match scenario {
        Scenario::Healthy
        | Scenario::RdsManaged
        | Scenario::AwsManagedKey
        | Scenario::PublicPolicy
        | Scenario::ExternalPolicy
        | Scenario::SharedWithOtherAccount
        | Scenario::Replicated => {
            let last = world.hours_ago(i64::from(random.between(24, 24 * 25)));
            rotate(
                &mut record,
                &mut activity,
                last,
                last + Duration::days(interval),
            );
            if scenario == Scenario::RdsManaged {
                record.owning_service = Some("rds".to_owned());
                record.name = format!("rds!db-{}", random.uuid());
            }
        }
        Scenario::ManualRotation => {
            record.rotation_enabled = Some(false);
            let last = world.days_ago(i64::from(random.between(5, 40)));
            record.last_rotated_at = Some(last);
            record.last_changed_at = Some(last);
            activity.events.push(PlannedEvent {
                time: last,
                name: "PutSecretValue",
                caller: Some(Caller {
                    account: account.id.clone(),
                    role: account.admin_role.clone(),
                    via_service: None,
                }),
                request: json!({"secretId": arn, "clientRequestToken": random.uuid()}),
                additional: serde_json::Value::Null,
                read_only: false,
            });
        }
        Scenario::RotationFailing => {
            let last = world.days_ago(i64::from(random.between(35, 60)));
            let next = last + Duration::days(interval);
            rotate(&mut record, &mut activity, last, next);
            let mut time = next + Duration::minutes(5);
            while time < world.now {
                if let Some(at) = world.in_period(time) {
                    activity
                        .events
                        .push(rotation_event(at, "RotationFailed", &arn));
                    rotation_failed = Some(at);
                }
                time += Duration::days(1);
            }
            activity.callers.push(rotation_role);
        }
        Scenario::RotationOverdue => {
            let last = world.days_ago(i64::from(random.between(40, 80)));
            rotate(
                &mut record,
                &mut activity,
                last,
                last + Duration::days(interval),
            );
        }
        Scenario::RotationDisabled
        | Scenario::Unused
        | Scenario::NeverRead
        | Scenario::New
        | Scenario::ScheduledDeletion => record.rotation_enabled = Some(false),
    }
    match scenario {
        Scenario::Unused => {
            let last = world.days_ago(i64::from(random.between(100, 300)));
            activity.last_use = world.in_period(last);
            activity.weight = 1;
            record.last_accessed_at = Some(day_of(last));
        }
        Scenario::NeverRead => {
            activity.last_use = None;
            activity.weight = 0;
        }
        Scenario::New => {
            let created = world.days_ago(i64::from(random.between(2, 12)));
            record.created_at = Some(created);
            activity.last_use = None;
            activity.weight = 0;
            if let Some(time) = world.in_period(created) {
                activity.events.push(PlannedEvent {
                    time,
                    name: "CreateSecret",
                    caller: Some(Caller {
                        account: account.id.clone(),
                        role: account.admin_role.clone(),
                        via_service: None,
                    }),
                    request: json!({"name": name, "kmsKeyId": record.kms_key_id}),
                    additional: serde_json::Value::Null,
                    read_only: false,
                });
            }
        }
        Scenario::AwsManagedKey => record.kms_key_id = None,
        Scenario::PublicPolicy => plan_policy = PolicyKind::Public,
        Scenario::ExternalPolicy => {
            plan_policy =
                PolicyKind::External(random.pick(&world.organization.outside_accounts).clone());
        }
        Scenario::SharedWithOtherAccount => {
            let others: Vec<&Account> = world
                .organization
                .accounts
                .iter()
                .filter(|other| other.id != account.id)
                .collect();
            let other = random.pick(&others);
            plan_policy = PolicyKind::Account(other.id.clone());
            activity.callers.push(Caller {
                account: other.id.clone(),
                role: other.app_role.clone(),
                via_service: None,
            });
            activity.last_caller = 1;
        }
        Scenario::ScheduledDeletion => {
            let deleted = world.days_ago(i64::from(random.between(1, 6)));
            record.deleted_at = Some(deleted + Duration::days(7));
            activity.last_use = Some(deleted - Duration::hours(i64::from(random.between(2, 48))));
            activity.probed = false;
            activity.refusals.push(Refusal {
                time: world.hours_ago(i64::from(random.between(1, 20))),
                caller: 0,
                error_code: "InvalidRequestException",
                error_message: "You can't perform this operation on the secret because it was marked for deletion.".to_owned(),
            });
        }
        _ => {}
    }
    if record.last_accessed_at.is_none() {
        record.last_accessed_at = activity.last_use.map(day_of);
    }
    record.policy = secret_policy(account, &arn, &plan_policy);
    SecretPlan {
        record,
        policy: plan_policy,
        activity,
        rotation_failed,
        rotation_succeeded,
    }
}

/// Returns midnight UTC of the day of `time`, as Secrets Manager keeps
/// `LastAccessedDate`.
fn day_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::days(1)).unwrap_or(time)
}

fn rotation_event(time: DateTime<Utc>, name: &'static str, arn: &str) -> PlannedEvent {
    PlannedEvent {
        time,
        name,
        caller: None,
        request: serde_json::Value::Null,
        additional: json!({"SecretId": arn}),
        read_only: false,
    }
}

/// Returns the replica of a secret in the next Region, if there is one.
fn replica(world: &World, primary: &SecretRecord) -> Option<SecretRecord> {
    let regions = &world.organization.regions;
    let position = regions.iter().position(|r| *r == primary.region)?;
    let region = regions
        .get((position + 1) % regions.len())
        .filter(|r| **r != primary.region)?;
    Some(SecretRecord {
        region: region.clone(),
        arn: primary
            .arn
            .replacen(&format!(":{}:", primary.region), &format!(":{region}:"), 1),
        primary_region: Some(primary.region.clone()),
        ..primary.clone()
    })
}

fn secret_policy(account: &Account, arn: &str, kind: &PolicyKind) -> Option<String> {
    let principal = match kind {
        PolicyKind::None => return None,
        PolicyKind::Public => json!("*"),
        PolicyKind::External(other) | PolicyKind::Account(other) => {
            json!({"AWS": format!("arn:aws:iam::{other}:root")})
        }
    };
    Some(
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "ShareRead",
                "Effect": "Allow",
                "Principal": principal,
                "Action": "secretsmanager:GetSecretValue",
                "Resource": arn,
            }, {
                "Sid": "DenyOutsideAccount",
                "Effect": "Deny",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", account.id)},
                "Action": "secretsmanager:DeleteSecret",
                "Resource": "*",
            }],
        })
        .to_string(),
    )
}

/// Works out the verdicts of a planned secret from the record that a scan
/// read of it, for an emulator that cannot reproduce every planned field.
/// The CloudTrail activity and the resource policy's intent stay as
/// planned.
pub(crate) fn verdicts_as_scanned(
    world: &World,
    plan: &SecretPlan,
    scanned: &SecretRecord,
) -> BTreeMap<String, Verdict> {
    let mut as_scanned = plan.clone();
    as_scanned.record = scanned.clone();
    verdicts(world, &as_scanned)
}

/// Works out the verdict of every secret rule from the plan, by the rules'
/// definitions in plain terms.
fn verdicts(world: &World, plan: &SecretPlan) -> BTreeMap<String, Verdict> {
    let secret = &plan.record;
    let live = secret.deleted_at.is_none();
    let mut verdicts = BTreeMap::new();
    let mut set = |rule: &str, verdict: Verdict| {
        verdicts.insert(rule.to_owned(), verdict);
    };

    if live {
        let enabled = secret.rotation_enabled == Some(true);
        set("secret-rotation-enabled", Verdict::from_ok(enabled));
        if enabled {
            let succeeded = plan.rotation_succeeded.max(secret.last_rotated_at);
            let failed_since = plan
                .rotation_failed
                .is_some_and(|failed| succeeded.is_none_or(|ok| ok < failed));
            let overdue = secret.next_rotation_at.is_some_and(|next| next < world.now);
            set(
                "secret-rotation-failing",
                Verdict::from_ok(!failed_since && !overdue),
            );
        }
        let since = secret.last_rotated_at.or(secret.created_at);
        set(
            "secret-rotated-recently",
            Verdict::from_ok(
                since.is_some_and(|t| t >= world.days_ago(thresholds::SECRET_ROTATED)),
            ),
        );
        let window_start = world.days_ago(thresholds::SECRET_UNUSED).date_naive();
        let last_read = plan.activity.last_use.max(secret.last_accessed_at);
        let read = last_read.is_some_and(|t| t.date_naive() >= window_start);
        let new = secret
            .created_at
            .is_some_and(|t| t.date_naive() >= window_start);
        set("secret-unused", Verdict::from_ok(read || new));
    }

    set(
        "secret-customer-managed-key",
        Verdict::from_ok(secret.kms_key_id.is_some()),
    );
    set(
        "secret-policy-public",
        Verdict::from_ok(plan.policy != PolicyKind::Public),
    );
    set(
        "secret-external-access",
        Verdict::from_ok(!matches!(plan.policy, PolicyKind::External(_))),
    );
    set(
        "secret-used-by-other-account",
        Verdict::from_ok(!plan.activity.used_by_other_account(&secret.account_id)),
    );
    verdicts
}
