//! CloudTrail log files for the generated organization, in the S3 delivery
//! layout of an organization trail.
//!
//! Every account and Region gets gzip-compressed files of `{"Records":
//! [...]}` for each six hours that have events, written from the plans of
//! [`crate::activity`]. The files contain the exact events of each asset
//! (its latest use, one use by each of its callers, denied calls, creations,
//! deletions and rotations) and a day's mix drawn at random around them: uses by the
//! asset's callers before its latest use, management reads, calls denied
//! to principals without permission, and calls to other services. A few
//! deliveries repeat records of the previous file, as CloudTrail may, and
//! Secrets Manager's rotation events also arrive as EventBridge events in
//! JSON Lines, and the security account's last day in its first Region is
//! exported again as a JSON array of bare records, so that ingest has
//! duplicates to drop. Digest and Insights files sit in their own folders
//! of the layout.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use crate::GenerateError;
use crate::activity::{Caller, PlannedEvent, Service, TrailAsset};
use crate::random::Random;
use crate::truth::TrailCounts;
use crate::world::World;

/// Role of the security account that audits every account.
const AUDIT_ROLE: &str = "security-audit";

/// One record ready to be written.
struct Pending {
    time: DateTime<Utc>,
    record: Value,
    crypto: bool,
}

/// Writes the CloudTrail files under `folder` and returns what they
/// contain.
pub fn write(
    world: &World,
    random: &mut Random,
    assets: &[TrailAsset],
    events_per_day: u32,
    folder: &Path,
) -> Result<TrailCounts, GenerateError> {
    let mut counts = TrailCounts::default();
    let mut rotation_events = BTreeMap::<(String, String), Vec<Value>>::new();
    let places = world.organization.accounts.len() * world.organization.regions.len();
    let per_place = (f64::from(events_per_day) / places.max(1) as f64).max(1.0);

    for account in &world.organization.accounts {
        for region in &world.organization.regions {
            let here: Vec<&TrailAsset> = assets
                .iter()
                .filter(|asset| asset.account == account.id && asset.region == *region)
                .collect();
            let mut exact = exact_events(world, random, &here);
            exact.sort_by_key(|pending| pending.time);
            for pending in &exact {
                if pending.record["eventType"] == "AwsServiceEvent" {
                    rotation_events
                        .entry((account.id.clone(), region.clone()))
                        .or_default()
                        .push(pending.record.clone());
                }
            }
            let mut exact = exact.into_iter().peekable();

            for day in 0..world.days {
                let day_start = world.start + Duration::days(i64::from(day));
                let day_end = (day_start + Duration::days(1)).min(world.now);
                let mut events = Vec::new();
                while let Some(pending) = exact.next_if(|p| p.time < day_end) {
                    events.push(pending);
                }
                let budget = (per_place * (0.6 + random.below(80) as f64 / 100.0)) as u32;
                day_mix(
                    world,
                    random,
                    &here,
                    &account.id,
                    region,
                    day_start,
                    day_end,
                    budget,
                    &mut events,
                );
                if day == 0 {
                    events.push(audit_call(random, world.first_event(), &account.id, region));
                }
                if day + 1 == world.days {
                    events.push(audit_call(
                        random,
                        world.now - Duration::minutes(10),
                        &account.id,
                        region,
                    ));
                }
                events.sort_by_key(|pending| pending.time);
                let exported = day + 1 == world.days
                    && account.id == world.organization.security_account().id
                    && Some(region) == world.organization.regions.first();
                if exported {
                    write_lookup_export(&account.id, region, &events, folder, &mut counts)?;
                }
                write_day(
                    random,
                    world,
                    &account.id,
                    region,
                    day_start,
                    events,
                    folder,
                    &mut counts,
                )?;
            }
            write_digest(world, &account.id, region, folder, &mut counts)?;
            if account.id == world.organization.security_account().id
                && Some(region) == world.organization.regions.first()
            {
                write_insight(world, &account.id, region, folder, &mut counts)?;
            }
        }
    }
    write_eventbridge(&rotation_events, folder, &mut counts)?;
    Ok(counts)
}

/// The events of each asset that happen at planned times.
fn exact_events(world: &World, random: &mut Random, assets: &[&TrailAsset]) -> Vec<Pending> {
    let mut events = Vec::new();
    for asset in assets {
        let activity = &asset.activity;
        if let Some(last) = activity.last_use {
            let caller = &activity.callers[activity.last_caller];
            let operation = activity.operations[0];
            events.push(use_event(random, asset, caller, operation, last, None));
            // Every caller uses the asset at least once, just before its
            // latest use.
            for (index, caller) in activity.callers.iter().enumerate() {
                if index == activity.last_caller {
                    continue;
                }
                let time = (last - Duration::minutes(7 * (index as i64 + 1)))
                    .max(activity.first_use.unwrap_or(last))
                    .max(world.start + Duration::seconds(1));
                let time = if time >= last {
                    last - Duration::seconds(1)
                } else {
                    time
                };
                events.push(use_event(random, asset, caller, operation, time, None));
            }
        }
        for refusal in &activity.refusals {
            let caller = &activity.callers[refusal.caller];
            let error = Some((refusal.error_code, refusal.error_message.as_str()));
            let operation = activity.operations[0];
            events.push(use_event(
                random,
                asset,
                caller,
                operation,
                refusal.time,
                error,
            ));
        }
        for planned in &activity.events {
            events.push(planned_event(random, asset, planned));
        }
    }
    events
}

/// Adds a day's random mix of events in one account and Region.
#[allow(clippy::too_many_arguments)]
fn day_mix(
    world: &World,
    random: &mut Random,
    assets: &[&TrailAsset],
    account: &str,
    region: &str,
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
    budget: u32,
    events: &mut Vec<Pending>,
) {
    // Assets in use on this day, with the span of the day in which they
    // may be used: uses fall strictly before the planned latest use.
    let mut in_use = Vec::new();
    let mut total_weight = 0u64;
    for asset in assets {
        let activity = &asset.activity;
        let (Some(first), Some(last)) = (activity.first_use, activity.last_use) else {
            continue;
        };
        let from = first.max(day_start);
        let until = last.min(day_end);
        if activity.weight == 0 || until - from < Duration::seconds(2) {
            continue;
        }
        total_weight += u64::from(activity.weight);
        in_use.push((asset, from, until, total_weight));
    }
    let described: Vec<&&TrailAsset> = assets.iter().filter(|a| a.activity.described).collect();
    let probed: Vec<&&TrailAsset> = assets.iter().filter(|a| a.activity.probed).collect();

    for _ in 0..budget {
        let roll = random.below(100);
        let time = day_start
            + Duration::seconds(
                random.below((day_end - day_start).num_seconds().max(1) as u64) as i64,
            );
        if roll < 55 && total_weight > 0 {
            let pick = random.below(total_weight);
            let position = in_use.partition_point(|entry| entry.3 <= pick);
            let (asset, from, until, _) = in_use[position];
            let span = (until - from).num_seconds().max(1) as u64;
            let time = from + Duration::seconds(random.below(span) as i64);
            let time = if Some(time) >= asset.activity.last_use {
                asset.activity.last_use.unwrap_or(time) - Duration::seconds(1)
            } else {
                time
            };
            let caller = random.pick(&asset.activity.callers).clone();
            let operation = *random.pick(asset.activity.operations);
            events.push(use_event(random, asset, &caller, operation, time, None));
        } else if roll < 72 && !described.is_empty() {
            let asset = *random.pick(&described);
            events.push(management_read(random, world, asset, time));
        } else if roll < 75 && !probed.is_empty() {
            let asset = *random.pick(&probed);
            let caller = Caller {
                account: account.to_owned(),
                role: "sandbox-developer".to_owned(),
                via_service: None,
            };
            let operation = asset.activity.operations[0];
            let message = format!(
                "User: arn:aws:sts::{account}:assumed-role/sandbox-developer/session is not authorized to perform: {}:{operation} on resource: {} because no identity-based policy allows the {}:{operation} action",
                service_prefix(asset.service),
                asset.arn,
                service_prefix(asset.service),
            );
            let error = Some(("AccessDeniedException", message.as_str()));
            events.push(use_event(random, asset, &caller, operation, time, error));
        } else {
            events.push(other_service_event(random, account, region, time));
        }
    }
}

fn service_prefix(service: Service) -> &'static str {
    match service {
        Service::Kms => "kms",
        Service::SecretsManager => "secretsmanager",
        Service::Acm => "acm",
        Service::AcmPca => "acm-pca",
    }
}

/// Builds the `userIdentity` of a role session, made by an AWS service on
/// the role's behalf when `via_service` is set.
fn user_identity(caller: &Caller, time: DateTime<Utc>) -> Value {
    let role_id = format!("AROA{}", role_suffix(&caller.account, &caller.role));
    let session = format!(
        "{}-session",
        caller.role.split('_').next().unwrap_or("session")
    );
    let mut identity = json!({
        "type": "AssumedRole",
        "principalId": format!("{role_id}:{session}"),
        "arn": format!("arn:aws:sts::{}:assumed-role/{}/{session}", caller.account, caller.role),
        "accountId": caller.account,
        "accessKeyId": format!("ASIA{}", role_suffix(&caller.role, &caller.account)),
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": format!("arn:aws:iam::{}:role/{}", caller.account, caller.role),
                "accountId": caller.account,
                "userName": caller.role,
            },
            "attributes": {
                "creationDate": format_time(time - Duration::minutes(20)),
                "mfaAuthenticated": "false",
            },
        },
    });
    if let Some(service) = caller.via_service {
        identity["invokedBy"] = json!(service);
    }
    identity
}

/// Returns 16 uppercase characters derived from two names, so that a role
/// always has the same ids.
fn role_suffix(first: &str, second: &str) -> String {
    let mut random = Random::new(0).fork(first).fork(second);
    random.chars(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
}

/// Formats a time as CloudTrail writes `eventTime`.
fn format_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The fields every record has.
#[allow(clippy::too_many_arguments)]
fn base_record(
    random: &mut Random,
    time: DateTime<Utc>,
    source: &str,
    name: &str,
    identity: Value,
    region: &str,
    recipient: &str,
    read_only: bool,
) -> Value {
    json!({
        "eventVersion": if random.percent(80) { "1.11" } else { "1.09" },
        "userIdentity": identity,
        "eventTime": format_time(time),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": format!("10.{}.{}.{}", random.below(256), random.below(256), random.below(254) + 1),
        "userAgent": "aws-sdk-java/2.29.6 Linux/6.1 OpenJDK_64-Bit_Server_VM/21.0.5",
        "requestParameters": null,
        "responseElements": null,
        "requestID": random.uuid(),
        "eventID": random.uuid(),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": recipient,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com")),
        },
    })
}

/// A use of an asset, successful or refused with `error`.
fn use_event(
    random: &mut Random,
    asset: &TrailAsset,
    caller: &Caller,
    operation: &str,
    time: DateTime<Utc>,
    error: Option<(&str, &str)>,
) -> Pending {
    let mut record = base_record(
        random,
        time,
        asset.service.event_source(),
        operation,
        user_identity(caller, time),
        &asset.region,
        &asset.account,
        true,
    );
    if let Some(service) = caller.via_service {
        record["sourceIPAddress"] = json!(service);
        record["userAgent"] = json!(service);
    }
    record["requestParameters"] = match asset.service {
        Service::Kms => {
            let mut parameters = json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT"});
            if operation != "Decrypt" {
                parameters["keyId"] = json!(asset.arn);
            }
            if operation == "GenerateDataKey" {
                parameters["keySpec"] = json!("AES_256");
            }
            parameters
        }
        Service::SecretsManager => json!({"secretId": asset.arn}),
        Service::Acm => json!({"certificateArn": asset.arn}),
        Service::AcmPca => json!({"certificateAuthorityArn": asset.arn}),
    };
    if asset.service != Service::SecretsManager {
        record["resources"] = json!([{
            "accountId": asset.account,
            "type": asset.resource_type,
            "ARN": asset.arn,
        }]);
    }
    if let Some((code, message)) = error {
        record["errorCode"] = json!(code);
        record["errorMessage"] = json!(message);
    }
    Pending {
        time,
        record,
        crypto: true,
    }
}

/// An event that a plan places at an exact time.
fn planned_event(random: &mut Random, asset: &TrailAsset, planned: &PlannedEvent) -> Pending {
    let source = asset.service.event_source();
    let mut record = match &planned.caller {
        Some(caller) => base_record(
            random,
            planned.time,
            source,
            planned.name,
            user_identity(caller, planned.time),
            &asset.region,
            &asset.account,
            planned.read_only,
        ),
        None => {
            let identity = json!({"accountId": asset.account, "invokedBy": source});
            let mut record = base_record(
                random,
                planned.time,
                source,
                planned.name,
                identity,
                &asset.region,
                &asset.account,
                false,
            );
            record["eventType"] = json!("AwsServiceEvent");
            record["sourceIPAddress"] = json!(source);
            record["userAgent"] = json!(source);
            record["requestID"] = json!(format!("Rotation-{}-{}", asset.arn, random.uuid()));
            if let Some(object) = record.as_object_mut() {
                object.remove("tlsDetails");
            }
            record
        }
    };
    record["requestParameters"] = planned.request.clone();
    if !planned.additional.is_null() {
        record["additionalEventData"] = planned.additional.clone();
    }
    if asset.service == Service::Kms {
        record["resources"] = json!([{
            "accountId": asset.account,
            "type": asset.resource_type,
            "ARN": asset.arn,
        }]);
    }
    Pending {
        time: planned.time,
        record,
        crypto: true,
    }
}

/// A management call that reads an asset without using it.
fn management_read(
    random: &mut Random,
    world: &World,
    asset: &TrailAsset,
    time: DateTime<Utc>,
) -> Pending {
    let auditor = Caller {
        account: world.organization.security_account().id.clone(),
        role: AUDIT_ROLE.to_owned(),
        via_service: None,
    };
    let (name, request) = match asset.service {
        Service::Kms => (
            *random.pick(&[
                "DescribeKey",
                "GetKeyPolicy",
                "ListGrants",
                "GetKeyRotationStatus",
            ]),
            json!({"keyId": asset.arn}),
        ),
        Service::SecretsManager => ("DescribeSecret", json!({"secretId": asset.arn})),
        Service::Acm => ("DescribeCertificate", json!({"certificateArn": asset.arn})),
        Service::AcmPca => (
            "DescribeCertificateAuthority",
            json!({"certificateAuthorityArn": asset.arn}),
        ),
    };
    let mut record = base_record(
        random,
        time,
        asset.service.event_source(),
        name,
        user_identity(&auditor, time),
        &asset.region,
        &asset.account,
        true,
    );
    record["requestParameters"] = request;
    if asset.service == Service::Kms {
        record["resources"] = json!([{
            "accountId": asset.account,
            "type": asset.resource_type,
            "ARN": asset.arn,
        }]);
    }
    Pending {
        time,
        record,
        crypto: true,
    }
}

/// The call that opens and closes each account's and Region's period: the
/// security account lists the KMS aliases.
fn audit_call(random: &mut Random, time: DateTime<Utc>, account: &str, region: &str) -> Pending {
    let auditor = Caller {
        account: account.to_owned(),
        role: AUDIT_ROLE.to_owned(),
        via_service: None,
    };
    let mut record = base_record(
        random,
        time,
        "kms.amazonaws.com",
        "ListAliases",
        user_identity(&auditor, time),
        region,
        account,
        true,
    );
    record["requestParameters"] = json!({"limit": 100});
    Pending {
        time,
        record,
        crypto: true,
    }
}

const OTHER_CALLS: [(&str, &str, bool); 8] = [
    ("s3.amazonaws.com", "GetObject", true),
    ("s3.amazonaws.com", "PutObject", false),
    ("ec2.amazonaws.com", "DescribeInstances", true),
    ("sts.amazonaws.com", "AssumeRole", true),
    ("lambda.amazonaws.com", "Invoke", false),
    ("dynamodb.amazonaws.com", "GetItem", true),
    ("logs.amazonaws.com", "PutLogEvents", false),
    ("sqs.amazonaws.com", "ReceiveMessage", true),
];

/// A call to a service that keyward does not keep.
fn other_service_event(
    random: &mut Random,
    account: &str,
    region: &str,
    time: DateTime<Utc>,
) -> Pending {
    let (source, name, read_only) = *random.pick(&OTHER_CALLS);
    let caller = Caller {
        account: account.to_owned(),
        role: "workload".to_owned(),
        via_service: None,
    };
    let mut record = base_record(
        random,
        time,
        source,
        name,
        user_identity(&caller, time),
        region,
        account,
        read_only,
    );
    record["requestParameters"] = json!({"requestId": random.hex(8)});
    Pending {
        time,
        record,
        crypto: false,
    }
}

/// Writes one day's events of an account and Region as one file per six
/// hours with events.
#[allow(clippy::too_many_arguments)]
fn write_day(
    random: &mut Random,
    world: &World,
    account: &str,
    region: &str,
    day_start: DateTime<Utc>,
    events: Vec<Pending>,
    folder: &Path,
    counts: &mut TrailCounts,
) -> Result<(), GenerateError> {
    let mut blocks: BTreeMap<i64, Vec<Pending>> = BTreeMap::new();
    for pending in events {
        let block = (pending.time - day_start).num_hours() / 6;
        blocks.entry(block).or_default().push(pending);
    }
    let mut previous_tail: Option<Vec<Value>> = None;
    for (block, pending) in blocks {
        let delivered = (day_start + Duration::hours((block + 1) * 6 - 1)).min(world.now)
            + Duration::minutes(i64::from(random.between(1, 15)));
        let path = log_path(
            folder,
            &world.organization.id,
            account,
            region,
            delivered,
            random,
        );
        let mut records: Vec<&Value> = Vec::with_capacity(pending.len() + 3);
        // About one delivery in a hundred repeats the last records of the
        // previous file.
        let repeated = previous_tail.take().filter(|_| random.percent(1));
        if let Some(tail) = &repeated {
            counts.duplicates += tail.len() as u64;
            records.extend(tail.iter());
        }
        for item in &pending {
            if item.crypto {
                counts.crypto_events += 1;
            } else {
                counts.other_events += 1;
            }
            records.push(&item.record);
        }
        counts.records += records.len() as u64;
        write_gzip_json(&path, &json!({"Records": records}))?;
        counts.files += 1;
        let tail: Vec<Value> = pending
            .iter()
            .rev()
            .filter(|item| item.crypto)
            .take(3)
            .map(|item| item.record.clone())
            .collect();
        previous_tail = (!tail.is_empty()).then_some(tail);
    }
    Ok(())
}

fn log_path(
    folder: &Path,
    organization: &str,
    account: &str,
    region: &str,
    delivered: DateTime<Utc>,
    random: &mut Random,
) -> PathBuf {
    folder
        .join("AWSLogs")
        .join(organization)
        .join(account)
        .join("CloudTrail")
        .join(region)
        .join(delivered.format("%Y/%m/%d").to_string())
        .join(format!(
            "{account}_CloudTrail_{region}_{}_{}.json.gz",
            delivered.format("%Y%m%dT%H%MZ"),
            random.chars(
                16,
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            )
        ))
}

fn write_gzip_json(path: &Path, value: &Value) -> Result<(), GenerateError> {
    let failed = |source| GenerateError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let file = File::create(path).map_err(failed)?;
    let mut encoder = GzEncoder::new(BufWriter::new(file), Compression::fast());
    serde_json::to_writer(&mut encoder, value).map_err(|error| failed(error.into()))?;
    let mut writer = encoder.finish().map_err(failed)?;
    writer.flush().map_err(failed)
}

/// Writes the crypto events of one account's last day again as a JSON array
/// of bare records, the shape that exports of `LookupEvents` results have.
/// Every record repeats one of the delivered log files.
fn write_lookup_export(
    account: &str,
    region: &str,
    events: &[Pending],
    folder: &Path,
    counts: &mut TrailCounts,
) -> Result<(), GenerateError> {
    let records: Vec<&Value> = events
        .iter()
        .filter(|pending| pending.crypto)
        .map(|pending| &pending.record)
        .collect();
    let path = folder
        .join("exports")
        .join(format!("lookup-events-{account}-{region}.json"));
    let failed = |source| GenerateError::Write {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let text = serde_json::to_vec_pretty(&records).map_err(|error| failed(error.into()))?;
    std::fs::write(&path, text).map_err(failed)?;
    counts.files += 1;
    counts.records += records.len() as u64;
    counts.duplicates += records.len() as u64;
    Ok(())
}

/// Writes one digest file per account and Region for the last day, which
/// ingest skips by its path.
fn write_digest(
    world: &World,
    account: &str,
    region: &str,
    folder: &Path,
    counts: &mut TrailCounts,
) -> Result<(), GenerateError> {
    let end = world.now;
    let path = folder
        .join("AWSLogs")
        .join(&world.organization.id)
        .join(account)
        .join("CloudTrail-Digest")
        .join(region)
        .join(end.format("%Y/%m/%d").to_string())
        .join(format!(
            "{account}_CloudTrail-Digest_{region}_organization-trail_{region}_{}.json.gz",
            end.format("%Y%m%dT%H%M%SZ")
        ));
    let digest = json!({
        "awsAccountId": account,
        "digestStartTime": format_time(end - Duration::hours(1)),
        "digestEndTime": format_time(end),
        "digestS3Bucket": "example-organization-trail",
        "digestSignatureAlgorithm": "SHA256withRSA",
        "logFiles": [],
    });
    write_gzip_json(&path, &digest)?;
    counts.files += 1;
    counts.skipped_files += 1;
    Ok(())
}

/// Writes one CloudTrail Insights file, which ingest skips by its path: an
/// unusual rate of `Decrypt` calls an hour before the end of the period.
fn write_insight(
    world: &World,
    account: &str,
    region: &str,
    folder: &Path,
    counts: &mut TrailCounts,
) -> Result<(), GenerateError> {
    let time = world.now - Duration::hours(1);
    let path = folder
        .join("AWSLogs")
        .join(&world.organization.id)
        .join(account)
        .join("CloudTrail-Insight")
        .join(region)
        .join(time.format("%Y/%m/%d").to_string())
        .join(format!(
            "{account}_CloudTrail-Insight_{region}_{}_demoinsight0001.json.gz",
            time.format("%Y%m%dT%H%MZ")
        ));
    let insight = json!({"Records": [{
        "eventVersion": "1.08",
        "eventTime": format_time(time),
        "awsRegion": region,
        "eventID": "5b2b9d7e-1c64-4f0e-9a4f-000000000001",
        "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": account,
        "sharedEventID": "5b2b9d7e-1c64-4f0e-9a4f-000000000002",
        "insightDetails": {
            "state": "Start",
            "eventSource": "kms.amazonaws.com",
            "eventName": "Decrypt",
            "insightType": "ApiCallRateInsight",
            "insightContext": {"statistics": {
                "baseline": {"average": 0.8},
                "insight": {"average": 41.5},
            }},
        },
        "eventCategory": "Insight",
    }]});
    write_gzip_json(&path, &insight)?;
    counts.files += 1;
    counts.skipped_files += 1;
    Ok(())
}

/// Writes Secrets Manager's rotation events again as the EventBridge
/// events of a rule that archives them, one JSON Lines file per account
/// and Region.
fn write_eventbridge(
    events: &BTreeMap<(String, String), Vec<Value>>,
    folder: &Path,
    counts: &mut TrailCounts,
) -> Result<(), GenerateError> {
    for ((account, region), records) in events {
        let path = folder
            .join("eventbridge")
            .join(account)
            .join(format!("{region}-secretsmanager.jsonl"));
        let failed = |source| GenerateError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let mut writer = BufWriter::new(File::create(&path).map_err(failed)?);
        for record in records {
            let envelope = json!({
                "version": "0",
                "id": record["eventID"],
                "detail-type": "AWS Service Event via CloudTrail",
                "source": "aws.secretsmanager",
                "account": account,
                "time": record["eventTime"],
                "region": region,
                "resources": [],
                "detail": record,
            });
            serde_json::to_writer(&mut writer, &envelope).map_err(|error| failed(error.into()))?;
            writer.write_all(b"\n").map_err(failed)?;
        }
        writer.flush().map_err(failed)?;
        counts.files += 1;
        counts.records += records.len() as u64;
        counts.duplicates += records.len() as u64;
    }
    Ok(())
}
