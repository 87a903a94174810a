//! KMS keys and aliases: customer managed keys in every state the rules
//! distinguish, AWS managed keys, and the verdict each rule must reach.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use keyward_store::inventory::{AliasRecord, KeyRecord, Snapshot, Tag};
use serde_json::json;

use crate::activity::{Activity, Caller, PlannedEvent, Refusal, Service, TrailAsset};
use crate::organization::Account;
use crate::random::Random;
use crate::truth::{ExpectedAsset, Verdict};
use crate::world::{Place, World, thresholds};
use crate::{Built, Planned, SCAN_ID};

/// The situations that customer managed keys are built to show. Every
/// organization has each at least once, in this order, before the rest
/// are drawn at random.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Enabled, rotating, used every day by its account.
    Healthy,
    /// Used every day, but automatic rotation is off.
    RotationDisabled,
    /// Enabled, used long ago and not since.
    Unused,
    /// Enabled and never used.
    NeverUsed,
    /// Created a few days ago and not used yet.
    NewUnused,
    /// Enabled; KMS's own usage tracking shows the last use, long ago.
    UnusedTracked,
    /// Disabled long ago, and nothing called it since.
    DisabledQuiet,
    /// Disabled, and an application was refused a few days ago.
    DisabledRefused,
    /// Disabled last week, after a use the week before.
    DisabledRecentUse,
    /// Scheduled for deletion, and an application was refused since.
    PendingDeletionRefused,
    /// Scheduled for deletion, and nothing called it.
    PendingDeletionQuiet,
    /// The key policy lets anyone use the key.
    PublicPolicy,
    /// The key policy lets the organization use the key, and another
    /// account of it does.
    OrganizationShared,
    /// The key policy names a partner account outside the organization.
    ExternalPolicy,
    /// A grant gives a partner account's role use of the key.
    ExternalGrant,
    /// A multi-Region primary key with a replica in another Region.
    MultiRegion,
    /// An RSA signing key.
    SignRsa,
    /// An elliptic-curve signing key.
    SignEcc,
    /// An HMAC key.
    Hmac,
    /// An ML-DSA signing key.
    MlDsa,
    /// Key material imported from outside AWS.
    Imported,
    /// The scan's role may not read the key policy or the grants.
    PolicyUnreadable,
}

impl Scenario {
    /// Every scenario, in the order an organization first builds them.
    pub const ALL: [Self; 22] = [
        Self::Healthy,
        Self::RotationDisabled,
        Self::Unused,
        Self::NeverUsed,
        Self::NewUnused,
        Self::UnusedTracked,
        Self::DisabledQuiet,
        Self::DisabledRefused,
        Self::DisabledRecentUse,
        Self::PendingDeletionRefused,
        Self::PendingDeletionQuiet,
        Self::PublicPolicy,
        Self::OrganizationShared,
        Self::ExternalPolicy,
        Self::ExternalGrant,
        Self::MultiRegion,
        Self::SignRsa,
        Self::SignEcc,
        Self::Hmac,
        Self::MlDsa,
        Self::Imported,
        Self::PolicyUnreadable,
    ];

    /// Returns the scenario's name in the ground truth.
    pub fn name(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::RotationDisabled => "rotation-disabled",
            Self::Unused => "unused",
            Self::NeverUsed => "never-used",
            Self::NewUnused => "new-unused",
            Self::UnusedTracked => "unused-tracked-by-kms",
            Self::DisabledQuiet => "disabled-quiet",
            Self::DisabledRefused => "disabled-refused",
            Self::DisabledRecentUse => "disabled-recent-use",
            Self::PendingDeletionRefused => "pending-deletion-refused",
            Self::PendingDeletionQuiet => "pending-deletion-quiet",
            Self::PublicPolicy => "public-policy",
            Self::OrganizationShared => "organization-shared",
            Self::ExternalPolicy => "external-policy",
            Self::ExternalGrant => "external-grant",
            Self::MultiRegion => "multi-region",
            Self::SignRsa => "sign-rsa",
            Self::SignEcc => "sign-ecc",
            Self::Hmac => "hmac",
            Self::MlDsa => "ml-dsa",
            Self::Imported => "imported-material",
            Self::PolicyUnreadable => "policy-unreadable",
        }
    }

    /// Draws a scenario for a key past the first round: mostly healthy
    /// keys, as in real accounts.
    pub fn draw(random: &mut Random) -> Self {
        if random.percent(55) {
            Self::Healthy
        } else {
            *random.pick(&Self::ALL)
        }
    }
}

/// Principals that the key policy allows to use a key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PolicyKind {
    /// The owning account and its application role.
    Private,
    /// Any principal of the organization, by `aws:PrincipalOrgID`.
    Organization,
    /// Anyone.
    Public,
    /// A partner account outside the organization.
    External(String),
    /// Not readable by the scan.
    Unreadable,
}

/// A key with what the rules need to know of its plan.
#[derive(Clone, Debug)]
pub struct KeyPlan {
    /// The key as a scan would read it.
    pub record: KeyRecord,
    scenario: Scenario,
    policy: PolicyKind,
    external_grant: bool,
    activity: Activity,
}

const USE_OPERATIONS: [&str; 3] = ["Decrypt", "GenerateDataKey", "Encrypt"];
const SIGN_OPERATIONS: [&str; 2] = ["Sign", "Verify"];
const MAC_OPERATIONS: [&str; 2] = ["GenerateMac", "VerifyMac"];

/// Builds the keys of one account and Region into the snapshot.
pub fn build(
    world: &World,
    random: &mut Random,
    place: Place<'_>,
    scenarios: &mut dyn Iterator<Item = Scenario>,
    count: u32,
    snapshot: &mut Snapshot,
) -> Vec<Built> {
    let Place { account, region } = place;
    let mut built = Vec::new();
    for service in ["secretsmanager", "s3", "ebs"] {
        built.push(aws_managed(
            world, random, account, region, service, snapshot,
        ));
    }
    for _ in 0..count {
        let scenario = scenarios.next().unwrap_or_else(|| Scenario::draw(random));
        for plan in customer_keys(world, random, account, region, scenario) {
            built.push(finish(world, plan, snapshot));
        }
    }
    built
}

/// Stores a planned key and its alias, and works out its verdicts.
fn finish(world: &World, plan: KeyPlan, snapshot: &mut Snapshot) -> Built {
    let verdicts = verdicts(world, &plan);
    let record = plan.record.clone();
    for alias in &record.aliases {
        snapshot.aliases.push(AliasRecord {
            scan_id: SCAN_ID.to_owned(),
            account_id: record.account_id.clone(),
            region: record.region.clone(),
            alias_name: alias.clone(),
            arn: Some(format!(
                "arn:aws:kms:{}:{}:{alias}",
                record.region, record.account_id
            )),
            target_key_id: Some(record.key_id.clone()),
            creation_date: record.creation_date,
        });
    }
    let expected = ExpectedAsset {
        arn: record.arn.clone(),
        resource_type: "AwsKmsKey".to_owned(),
        account_id: record.account_id.clone(),
        region: record.region.clone(),
        scenario: plan.scenario.name().to_owned(),
        last_use: plan.activity.last_use,
        verdicts,
    };
    let trail = TrailAsset {
        service: Service::Kms,
        arn: record.arn.clone(),
        account: record.account_id.clone(),
        region: record.region.clone(),
        resource_type: "AWS::KMS::Key",
        activity: plan.activity.clone(),
    };
    snapshot.keys.push(record);
    Built {
        expected,
        trail: Some(trail),
        planned: Planned::Key(Box::new(plan)),
    }
}

/// Works out the verdicts of a planned key from the record that a scan
/// read of it, for an emulator that cannot reproduce every planned field.
/// The CloudTrail activity and the key policy's intent stay as planned,
/// except that a key policy the scan could read is no longer unreadable.
pub(crate) fn verdicts_as_scanned(
    world: &World,
    plan: &KeyPlan,
    scanned: &KeyRecord,
) -> BTreeMap<String, Verdict> {
    let mut as_scanned = plan.clone();
    as_scanned.record = scanned.clone();
    if scanned.policy.is_none() {
        as_scanned.policy = PolicyKind::Unreadable;
    } else if plan.policy == PolicyKind::Unreadable {
        as_scanned.policy = PolicyKind::Private;
    }
    verdicts(world, &as_scanned)
}

fn aws_managed(
    world: &World,
    random: &mut Random,
    account: &Account,
    region: &str,
    service: &'static str,
    snapshot: &mut Snapshot,
) -> Built {
    let key_id = random.uuid();
    let arn = format!("arn:aws:kms:{region}:{}:key/{key_id}", account.id);
    let via = match service {
        "secretsmanager" => "secretsmanager.amazonaws.com",
        "s3" => "s3.amazonaws.com",
        _ => "ec2.amazonaws.com",
    };
    let policy = json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}-2"),
        "Statement": [
            {
                "Sid": "Allow access through the service for all principals in the account that are authorized to use it",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:CallerAccount": account.id,
                    "kms:ViaService": format!("{service}.{region}.amazonaws.com"),
                }},
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", account.id)},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*",
            },
        ],
    });
    let created = world.days_ago(i64::from(random.between(700, 1500)));
    let record = KeyRecord {
        key_manager: Some("AWS".to_owned()),
        description: Some(format!(
            "Default key that protects my {service} data when no other key is defined"
        )),
        creation_date: Some(created),
        rotation_enabled: Some(true),
        rotation_period_days: Some(365),
        policy: Some(policy.to_string()),
        grant_count: Some(0),
        aliases: vec![format!("alias/aws/{service}")],
        ..base_record(account, region, key_id, arn)
    };
    let activity = Activity {
        callers: vec![Caller {
            account: account.id.clone(),
            role: account.app_role.clone(),
            via_service: Some(via),
        }],
        operations: &["Decrypt", "GenerateDataKey"],
        first_use: Some(world.start),
        last_use: Some(world.hours_ago(i64::from(random.between(1, 30)))),
        weight: 3,
        described: false,
        ..Activity::default()
    };
    let plan = KeyPlan {
        record,
        scenario: Scenario::Healthy,
        policy: PolicyKind::Private,
        external_grant: false,
        activity,
    };
    let mut built = finish(world, plan, snapshot);
    built.expected.scenario = "aws-managed".to_owned();
    built
}

/// A key record with the fields every key shares.
fn base_record(account: &Account, region: &str, key_id: String, arn: String) -> KeyRecord {
    KeyRecord {
        scan_id: SCAN_ID.to_owned(),
        account_id: account.id.clone(),
        region: region.to_owned(),
        key_id,
        arn,
        key_manager: Some("CUSTOMER".to_owned()),
        key_state: Some("Enabled".to_owned()),
        enabled: Some(true),
        key_spec: Some("SYMMETRIC_DEFAULT".to_owned()),
        key_usage: Some("ENCRYPT_DECRYPT".to_owned()),
        origin: Some("AWS_KMS".to_owned()),
        multi_region: Some(false),
        algorithms: vec!["SYMMETRIC_DEFAULT".to_owned()],
        ..KeyRecord::default()
    }
}

const PURPOSES: [&str; 8] = [
    "orders", "sessions", "backups", "uploads", "ledger", "tokens", "logs", "exports",
];

/// Plans a customer managed key of a scenario; a multi-Region key comes
/// with its replica.
fn customer_keys(
    world: &World,
    random: &mut Random,
    account: &Account,
    region: &str,
    scenario: Scenario,
) -> Vec<KeyPlan> {
    let multi_region = scenario == Scenario::MultiRegion;
    let key_id = if multi_region {
        format!("mrk-{}", random.hex(32))
    } else {
        random.uuid()
    };
    let arn = format!("arn:aws:kms:{region}:{}:key/{key_id}", account.id);
    let purpose = *random.pick(&PURPOSES);
    let alias = format!("alias/{}-{purpose}-{}", account.name, random.hex(4));
    let created = world.days_ago(i64::from(random.between(150, 900)));
    let mut record = KeyRecord {
        description: Some(format!("{purpose} of {}", account.name)),
        creation_date: Some(created),
        aliases: vec![alias],
        grant_count: Some(0),
        tags: vec![Tag {
            key: "team".to_owned(),
            value: account.name.clone(),
        }],
        ..base_record(account, region, key_id, arn)
    };
    set_rotation(world, &mut record, true);
    let own = Caller {
        account: account.id.clone(),
        role: account.app_role.clone(),
        via_service: None,
    };
    let mut activity = Activity {
        callers: vec![own],
        operations: &USE_OPERATIONS,
        first_use: Some(world.start),
        last_use: Some(world.hours_ago(i64::from(random.between(1, 40)))),
        weight: 10,
        described: true,
        probed: true,
        ..Activity::default()
    };
    let mut policy = PolicyKind::Private;
    let mut external_grant = false;
    let admin = Caller {
        account: account.id.clone(),
        role: account.admin_role.clone(),
        via_service: None,
    };

    match scenario {
        Scenario::Healthy if random.percent(30) => {
            // A grant that lets the account's application role use the key,
            // as services such as Amazon EBS create them.
            record.grant_count = Some(1);
            record.grantees = vec![format!(
                "arn:aws:iam::{}:role/{}",
                account.id, account.app_role
            )];
        }
        Scenario::Healthy | Scenario::MultiRegion => {}
        Scenario::RotationDisabled => set_rotation(world, &mut record, false),
        Scenario::Unused => {
            let ago = i64::from(random.between(100, 400));
            activity.last_use = world.in_period(world.days_ago(ago));
            activity.weight = 1;
        }
        Scenario::NeverUsed => {
            activity.last_use = None;
            activity.weight = 0;
        }
        Scenario::NewUnused => {
            let created = world.days_ago(i64::from(random.between(3, 20)));
            record.creation_date = Some(created);
            set_rotation(world, &mut record, true);
            activity.last_use = None;
            activity.weight = 0;
            if let Some(time) = world.in_period(created) {
                activity.events.push(PlannedEvent {
                    time,
                    name: "CreateKey",
                    caller: Some(admin.clone()),
                    request: json!({
                        "keyUsage": "ENCRYPT_DECRYPT",
                        "keySpec": "SYMMETRIC_DEFAULT",
                        "description": record.description,
                        "origin": "AWS_KMS",
                        "multiRegion": false,
                    }),
                    additional: serde_json::Value::Null,
                    read_only: false,
                });
            }
        }
        Scenario::UnusedTracked => {
            let last = world.days_ago(i64::from(random.between(120, 300)));
            record.usage_known = true;
            record.usage_tracking_start = Some(world.days_ago(700));
            record.last_used_at = Some(last);
            record.last_used_operation = Some("Decrypt".to_owned());
            record.last_used_event_id = Some(random.uuid());
            activity.last_use = None;
            activity.weight = 0;
        }
        Scenario::DisabledQuiet => {
            let disabled = world.days_ago(i64::from(random.between(60, 300)));
            disable(&mut record, &mut activity, world, &admin, disabled);
        }
        Scenario::DisabledRefused => {
            let disabled = world.days_ago(i64::from(random.between(20, 200)));
            disable(&mut record, &mut activity, world, &admin, disabled);
            activity.refusals.push(Refusal {
                time: world.hours_ago(i64::from(random.between(24, 24 * 20))),
                caller: 0,
                error_code: "DisabledException",
                error_message: format!("{} is disabled.", record.arn),
            });
        }
        Scenario::DisabledRecentUse => {
            let disabled = world.days_ago(i64::from(random.between(3, 12)));
            disable(&mut record, &mut activity, world, &admin, disabled);
            activity.last_use = Some(disabled - Duration::hours(i64::from(random.between(2, 48))));
        }
        Scenario::PendingDeletionRefused | Scenario::PendingDeletionQuiet => {
            let scheduled = world.days_ago(i64::from(random.between(2, 20)));
            let window = 30;
            record.key_state = Some("PendingDeletion".to_owned());
            record.enabled = Some(false);
            activity.probed = false;
            record.deletion_date = Some(scheduled + Duration::days(window));
            record.pending_deletion_window_days = Some(window as i32);
            record.next_rotation_date = None;
            if scenario == Scenario::PendingDeletionRefused {
                activity.last_use =
                    Some(scheduled - Duration::days(i64::from(random.between(40, 80))));
                activity.refusals.push(Refusal {
                    time: world.hours_ago(i64::from(random.between(2, 24 * 2))),
                    caller: 0,
                    error_code: "KMSInvalidStateException",
                    error_message: format!("{} is pending deletion.", record.arn),
                });
            } else {
                activity.last_use = Some(world.days_ago(i64::from(random.between(45, 200))));
            }
            activity.last_use = activity.last_use.and_then(|time| world.in_period(time));
            activity.weight = 1;
            if let Some(time) = world.in_period(scheduled) {
                activity.events.push(PlannedEvent {
                    time,
                    name: "ScheduleKeyDeletion",
                    caller: Some(admin.clone()),
                    request: json!({"keyId": record.key_id, "pendingWindowInDays": window}),
                    additional: serde_json::Value::Null,
                    read_only: false,
                });
            }
        }
        Scenario::PublicPolicy => policy = PolicyKind::Public,
        Scenario::OrganizationShared => {
            policy = PolicyKind::Organization;
            let other = other_member(world, random, account);
            activity.callers.push(Caller {
                account: other.id.clone(),
                role: other.app_role.clone(),
                via_service: None,
            });
            activity.last_caller = 1;
        }
        Scenario::ExternalPolicy => {
            let partner = random.pick(&world.organization.outside_accounts).clone();
            policy = PolicyKind::External(partner);
        }
        Scenario::ExternalGrant => {
            let partner = random.pick(&world.organization.outside_accounts).clone();
            external_grant = true;
            record.grant_count = Some(2);
            record.grantees = vec![
                format!("arn:aws:iam::{}:role/{}", account.id, account.app_role),
                format!("arn:aws:iam::{partner}:role/partner-ingest"),
            ];
        }
        Scenario::SignRsa | Scenario::SignEcc | Scenario::MlDsa => {
            let (spec, algorithms): (&str, &[&str]) = match scenario {
                Scenario::SignRsa => (
                    "RSA_2048",
                    &["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256"],
                ),
                Scenario::SignEcc => ("ECC_NIST_P256", &["ECDSA_SHA_256"]),
                _ => ("ML_DSA_65", &["ML_DSA_SHAKE_256"]),
            };
            record.key_spec = Some(spec.to_owned());
            record.key_usage = Some("SIGN_VERIFY".to_owned());
            record.algorithms = algorithms.iter().map(|a| (*a).to_owned()).collect();
            clear_rotation(&mut record);
            activity.operations = &SIGN_OPERATIONS;
        }
        Scenario::Hmac => {
            // About half of the HMAC keys are HMAC_224, which the quantum rule
            // reports as weakened. The key id decides, so no random draw is added.
            let (spec, algorithm) = if record.key_id.ends_with(|c: char| c < '8') {
                ("HMAC_224", "HMAC_SHA_224")
            } else {
                ("HMAC_256", "HMAC_SHA_256")
            };
            record.key_spec = Some(spec.to_owned());
            record.key_usage = Some("GENERATE_VERIFY_MAC".to_owned());
            record.algorithms = vec![algorithm.to_owned()];
            clear_rotation(&mut record);
            activity.operations = &MAC_OPERATIONS;
        }
        Scenario::Imported => {
            record.origin = Some("EXTERNAL".to_owned());
            record.valid_to = Some(world.now + Duration::days(i64::from(random.between(60, 400))));
            clear_rotation(&mut record);
        }
        Scenario::PolicyUnreadable => {
            policy = PolicyKind::Unreadable;
            record.grant_count = None;
            record.read_errors = vec![
                "GetKeyPolicy: AccessDeniedException: User: arn:aws:sts::ACCOUNT:assumed-role/KeywardAudit/keyward is not authorized to perform: kms:GetKeyPolicy on this resource because the key policy does not allow it".replace("ACCOUNT", &account.id),
                "ListGrants: AccessDeniedException: the key policy does not allow kms:ListGrants".to_owned(),
            ];
        }
    }
    record.policy = key_policy(world, account, &record.arn, &policy);

    let mut plans = Vec::new();
    if multi_region {
        record.multi_region = Some(true);
        record.multi_region_key_type = Some("PRIMARY".to_owned());
        record.primary_key_arn = Some(record.arn.clone());
        let replica_region = world
            .organization
            .regions
            .iter()
            .find(|other| *other != region)
            .cloned();
        if let Some(replica_region) = replica_region {
            record.replica_regions = vec![replica_region.clone()];
            plans.push(replica(&record, account, &replica_region, random, world));
        }
    }
    plans.insert(
        0,
        KeyPlan {
            record,
            scenario,
            policy,
            external_grant,
            activity,
        },
    );
    plans
}

/// Plans the replica of a multi-Region primary key.
fn replica(
    primary: &KeyRecord,
    account: &Account,
    region: &str,
    random: &mut Random,
    world: &World,
) -> KeyPlan {
    let arn = format!("arn:aws:kms:{region}:{}:key/{}", account.id, primary.key_id);
    let mut record = KeyRecord {
        region: region.to_owned(),
        arn: arn.clone(),
        multi_region_key_type: Some("REPLICA".to_owned()),
        replica_regions: Vec::new(),
        aliases: Vec::new(),
        ..primary.clone()
    };
    record.policy = key_policy(world, account, &arn, &PolicyKind::Private);
    KeyPlan {
        record,
        scenario: Scenario::MultiRegion,
        policy: PolicyKind::Private,
        external_grant: false,
        activity: Activity {
            callers: vec![Caller {
                account: account.id.clone(),
                role: account.app_role.clone(),
                via_service: None,
            }],
            operations: &USE_OPERATIONS,
            first_use: Some(world.start),
            last_use: Some(world.hours_ago(i64::from(random.between(1, 40)))),
            weight: 5,
            described: true,
            ..Activity::default()
        },
    }
}

/// Returns another account of the organization than `account`.
fn other_member<'a>(world: &'a World, random: &mut Random, account: &Account) -> &'a Account {
    let others: Vec<&Account> = world
        .organization
        .accounts
        .iter()
        .filter(|other| other.id != account.id)
        .collect();
    others[random.below(others.len() as u64) as usize]
}

fn set_rotation(world: &World, record: &mut KeyRecord, enabled: bool) {
    record.rotation_enabled = Some(enabled);
    let created = record.creation_date.unwrap_or(world.now);
    if enabled {
        let period = 365;
        let age = (world.now - created).num_days();
        let rotations = age / period;
        record.rotation_period_days = Some(period as i32);
        record.rotation_count = Some(rotations as u32);
        record.last_rotation_date =
            (rotations > 0).then(|| created + Duration::days(rotations * period));
        record.next_rotation_date = Some(created + Duration::days((rotations + 1) * period));
    } else {
        record.rotation_period_days = None;
        record.rotation_count = Some(0);
        record.last_rotation_date = None;
        record.next_rotation_date = None;
    }
}

/// Leaves the rotation fields empty, as for keys that KMS cannot rotate.
fn clear_rotation(record: &mut KeyRecord) {
    record.rotation_enabled = Some(false);
    record.rotation_period_days = None;
    record.rotation_count = None;
    record.last_rotation_date = None;
    record.next_rotation_date = None;
}

fn disable(
    record: &mut KeyRecord,
    activity: &mut Activity,
    world: &World,
    admin: &Caller,
    disabled: DateTime<Utc>,
) {
    record.key_state = Some("Disabled".to_owned());
    record.enabled = Some(false);
    // A denial would hide the refusals that the rules look for.
    activity.probed = false;
    activity.last_use = world.in_period(disabled - Duration::days(3));
    activity.weight = 1;
    if let Some(time) = world.in_period(disabled) {
        activity.events.push(PlannedEvent {
            time,
            name: "DisableKey",
            caller: Some(admin.clone()),
            request: json!({"keyId": record.key_id}),
            additional: serde_json::Value::Null,
            read_only: false,
        });
    }
}

/// Writes the key policy of a kind; `None` when the scan cannot read it.
fn key_policy(world: &World, account: &Account, arn: &str, kind: &PolicyKind) -> Option<String> {
    let mut statements = vec![
        json!({
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:root", account.id)},
            "Action": "kms:*",
            "Resource": "*",
        }),
        json!({
            "Sid": "AllowApplicationUse",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:role/{}", account.id, account.app_role)},
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:Sign", "kms:Verify", "kms:GenerateMac", "kms:VerifyMac"],
            "Resource": arn,
        }),
    ];
    match kind {
        PolicyKind::Private => {}
        PolicyKind::Organization => statements.push(json!({
            "Sid": "AllowOrganization",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": world.organization.id}},
        })),
        PolicyKind::Public => statements.push(json!({
            "Sid": "AllowEveryone",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
        })),
        PolicyKind::External(partner) => statements.push(json!({
            "Sid": "AllowPartner",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{partner}:root")},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
        })),
        PolicyKind::Unreadable => return None,
    }
    Some(json!({"Version": "2012-10-17", "Id": "key-policy", "Statement": statements}).to_string())
}

/// Works out the verdict of every key rule from the plan, by the rules'
/// definitions in plain terms.
fn verdicts(world: &World, plan: &KeyPlan) -> BTreeMap<String, Verdict> {
    let key = &plan.record;
    let customer = key.key_manager.as_deref() == Some("CUSTOMER");
    let state = key.key_state.as_deref().unwrap_or_default();
    let spec = key.key_spec.as_deref().unwrap_or_default();
    let mut verdicts = BTreeMap::new();
    let mut set = |rule: &str, verdict: Verdict| {
        verdicts.insert(rule.to_owned(), verdict);
    };

    let last_use = plan.activity.last_use.max(key.last_used_at);
    let used_within = |days: i64| last_use.is_some_and(|time| time >= world.days_ago(days));

    if customer {
        if spec == "SYMMETRIC_DEFAULT"
            && key.origin.as_deref() == Some("AWS_KMS")
            && state != "PendingDeletion"
        {
            set(
                "kms-key-rotation",
                Verdict::from_ok(key.rotation_enabled == Some(true)),
            );
        }
        set(
            "kms-key-pending-deletion",
            Verdict::from_ok(state != "PendingDeletion"),
        );
        set(
            "kms-key-multi-region",
            Verdict::from_ok(key.multi_region != Some(true)),
        );
        set(
            "kms-key-used-by-other-account",
            Verdict::from_ok(!plan.activity.used_by_other_account(&key.account_id)),
        );
    }

    if customer && state == "Enabled" {
        let days = thresholds::KEY_UNUSED;
        let created_recently = key.creation_date.is_some_and(|t| t >= world.days_ago(days));
        let tracking_covers = key.usage_known;
        let verdict = if used_within(days) || created_recently {
            Verdict::Pass
        } else if tracking_covers || world.trail_covers(days) {
            Verdict::Fail
        } else {
            Verdict::Unknown
        };
        set("kms-key-unused", verdict);
    }

    if customer && matches!(state, "Disabled" | "PendingDeletion") {
        let days = thresholds::KEY_INACTIVE_IN_USE;
        let refused = plan
            .activity
            .refusals
            .iter()
            .any(|refusal| refusal.time >= world.days_ago(days));
        let verdict = if refused || used_within(days) {
            Verdict::Fail
        } else if world.trail_covers(days) || key.usage_known {
            Verdict::Pass
        } else {
            Verdict::Unknown
        };
        set("kms-key-inactive-in-use", verdict);
    }

    let (public, external) = match &plan.policy {
        PolicyKind::Unreadable => (Verdict::Unknown, Verdict::Unknown),
        PolicyKind::Public => (Verdict::Fail, Verdict::from_ok(!plan.external_grant)),
        PolicyKind::External(_) => (Verdict::Pass, Verdict::Fail),
        PolicyKind::Private | PolicyKind::Organization => {
            (Verdict::Pass, Verdict::from_ok(!plan.external_grant))
        }
    };
    set("kms-key-policy-public", public);
    set("kms-key-external-access", external);

    if state != "PendingDeletion" {
        let safe = matches!(
            spec,
            "SYMMETRIC_DEFAULT" | "HMAC_256" | "HMAC_384" | "HMAC_512"
        ) || spec.starts_with("ML_DSA");
        set("kms-key-quantum-readiness", Verdict::from_ok(safe));
    }
    verdicts
}
