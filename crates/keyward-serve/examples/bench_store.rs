//! Builds a large synthetic store for `scripts/bench-serve`: an inventory
//! of keys, secrets and certificates spread over accounts and Regions, two
//! checks of findings on it, and CloudTrail events that use those assets.
//!
//! Usage: `bench_store STORE [ASSETS] [EVENTS]` (defaults 100000 and
//! 10000000). Prints one JSON object with the counts written.
//!
//! The values are made up but shaped like real ones: ARNs in the accounts
//! and Regions of the inventory, the operations that the dashboards count,
//! about 2% of calls denied, and times spread over the last 90 days.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use keyward_cloudtrail::Event;
use keyward_store::findings::{CheckRecord, FindingRecord};
use keyward_store::inventory::{
    CertificateRecord, CoverageRecord, KeyRecord, ScanRecord, SecretRecord, Snapshot,
};
use keyward_store::{ManifestEntry, Store, StoredEvent};

const ACCOUNTS: u64 = 20;
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const DAYS: i64 = 90;
const PRINCIPALS: u64 = 500;

const KMS_OPERATIONS: [&str; 4] = ["Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey"];
const SECRET_OPERATIONS: [&str; 3] = ["GetSecretValue", "DescribeSecret", "PutSecretValue"];
const CERTIFICATE_OPERATIONS: [&str; 3] = [
    "RequestCertificate",
    "DescribeCertificate",
    "DeleteCertificate",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = args
        .next()
        .ok_or("usage: bench_store STORE [ASSETS] [EVENTS]")?;
    let assets: u64 = args.next().map_or(Ok(100_000), |text| text.parse())?;
    let events: u64 = args.next().map_or(Ok(10_000_000), |text| text.parse())?;

    let started = Instant::now();
    let store = Store::create_or_open(&root)?;
    let _lock = store.lock()?;
    let now = Utc::now();
    let snapshot = snapshot(assets, now);
    store.write_snapshot(&snapshot)?;
    let findings = write_checks(&store, &snapshot, now)?;
    write_events(&store, &snapshot, events, now)?;
    println!(
        "{}",
        serde_json::json!({
            "assets": assets,
            "keys": snapshot.keys.len(),
            "secrets": snapshot.secrets.len(),
            "certificates": snapshot.certificates.len(),
            "findings_per_check": findings,
            "checks": 2,
            "events": events,
            "accounts": ACCOUNTS,
            "regions": REGIONS.len(),
            "days": DAYS,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}

fn account(index: u64) -> String {
    format!("{:012}", 100_000_000_000 + index % ACCOUNTS)
}

fn region(index: u64) -> &'static str {
    REGIONS[(index / ACCOUNTS) as usize % REGIONS.len()]
}

/// Splits the assets: 40% keys, 40% secrets, 20% certificates.
fn snapshot(assets: u64, now: DateTime<Utc>) -> Snapshot {
    let scan_id = "bench-scan".to_owned();
    let mut snapshot = Snapshot {
        scan: ScanRecord {
            scan_id: scan_id.clone(),
            started_at: now - Duration::minutes(10),
            finished_at: now - Duration::minutes(5),
            accounts: ACCOUNTS as u32,
            account_regions: (ACCOUNTS as usize * REGIONS.len()) as u32,
            complete: true,
            keyward_version: "bench".to_owned(),
            ..ScanRecord::default()
        },
        ..Snapshot::default()
    };
    for index in 0..ACCOUNTS * REGIONS.len() as u64 {
        for service in ["kms", "acm", "acm-pca", "secretsmanager"] {
            snapshot.coverage.push(CoverageRecord {
                scan_id: scan_id.clone(),
                account_id: account(index),
                region: region(index).to_owned(),
                service: service.to_owned(),
                ..CoverageRecord::default()
            });
        }
    }
    for index in 0..assets {
        let (account, region) = (account(index), region(index).to_owned());
        match index % 5 {
            0 | 1 => snapshot.keys.push(KeyRecord {
                scan_id: scan_id.clone(),
                key_id: format!("{index:08x}-0000-4000-8000-000000000000"),
                arn: key_arn(index),
                key_manager: Some("CUSTOMER".to_owned()),
                key_state: Some(
                    if index % 50 == 0 {
                        "Disabled"
                    } else {
                        "Enabled"
                    }
                    .to_owned(),
                ),
                rotation_enabled: Some(index % 3 != 0),
                usage_known: true,
                account_id: account,
                region,
                ..KeyRecord::default()
            }),
            2 | 3 => snapshot.secrets.push(SecretRecord {
                scan_id: scan_id.clone(),
                arn: secret_arn(index),
                name: format!("app/secret-{index}"),
                rotation_enabled: Some(index % 4 != 0),
                account_id: account,
                region,
                ..SecretRecord::default()
            }),
            _ => snapshot.certificates.push(CertificateRecord {
                scan_id: scan_id.clone(),
                arn: certificate_arn(index),
                domain_name: Some(format!("host-{index}.example.com")),
                status: Some("ISSUED".to_owned()),
                not_after: Some(now + Duration::days((index % 400) as i64)),
                account_id: account,
                region,
                ..CertificateRecord::default()
            }),
        }
    }
    snapshot
}

fn key_arn(index: u64) -> String {
    format!(
        "arn:aws:kms:{}:{}:key/{index:08x}-0000-4000-8000-000000000000",
        region(index),
        account(index)
    )
}

fn secret_arn(index: u64) -> String {
    format!(
        "arn:aws:secretsmanager:{}:{}:secret:app/secret-{index}-AbCdEf",
        region(index),
        account(index)
    )
}

fn certificate_arn(index: u64) -> String {
    format!(
        "arn:aws:acm:{}:{}:certificate/{index:08x}-1111-4000-8000-000000000000",
        region(index),
        account(index)
    )
}

/// Writes two checks with three findings per asset each, and returns the
/// findings per check.
fn write_checks(
    store: &Store,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut count = 0;
    for (run, age) in [("bench-check-1", 1), ("bench-check-2", 0)] {
        let checked_at = now - Duration::days(age);
        let mut findings = Vec::new();
        let resources = snapshot
            .keys
            .iter()
            .map(|key| (&key.arn, &key.account_id, &key.region, "KmsKey"))
            .chain(
                snapshot
                    .secrets
                    .iter()
                    .map(|s| (&s.arn, &s.account_id, &s.region, "Secret")),
            )
            .chain(
                snapshot
                    .certificates
                    .iter()
                    .map(|c| (&c.arn, &c.account_id, &c.region, "Certificate")),
            );
        for (position, (arn, account, region, kind)) in resources.enumerate() {
            for (rule, severity, fails) in [
                ("rotation", "MEDIUM", position % 3 == 0),
                ("unused", "MEDIUM", position % (7 + age as usize) == 0),
                ("external-access", "HIGH", position % 97 == 0),
            ] {
                let rule_id = match (kind, rule) {
                    ("KmsKey", "unused") => "kms-key-unused".to_owned(),
                    ("Secret", "unused") => "secret-unused".to_owned(),
                    _ => format!("{}-{rule}", kind.to_lowercase()),
                };
                findings.push(FindingRecord {
                    run_id: run.to_owned(),
                    checked_at,
                    scan_id: snapshot.scan.scan_id.clone(),
                    rule_id,
                    title: rule.to_owned(),
                    severity: severity.to_owned(),
                    verdict: if fails { "FAIL" } else { "PASS" }.to_owned(),
                    resource_type: kind.to_owned(),
                    resource_arn: arn.clone(),
                    account_id: account.clone(),
                    region: region.clone(),
                    cause: "synthetic".to_owned(),
                    evidence: "{}".to_owned(),
                    monthly_cost_usd: (fails && rule == "unused").then_some(1.0),
                    workflow: if fails { "NEW" } else { "" }.to_owned(),
                    first_seen: fails.then_some(checked_at),
                    ..FindingRecord::default()
                });
            }
        }
        count = findings.len();
        let check = CheckRecord {
            run_id: run.to_owned(),
            checked_at,
            scan_id: snapshot.scan.scan_id.clone(),
            findings: findings.len() as u32,
            failures: findings.iter().filter(|f| f.verdict == "FAIL").count() as u32,
            keyward_version: "bench".to_owned(),
        };
        store.write_check(&check, &findings)?;
    }
    Ok(count)
}

/// Writes `count` events, each naming one asset of the inventory, day by
/// day and asset by asset, so that the writer fills one partition (day,
/// account and Region) at a time, as an ingest of delivered log files does.
fn write_events(
    store: &Store,
    snapshot: &Snapshot,
    count: u64,
    now: DateTime<Utc>,
) -> Result<(), Box<dyn std::error::Error>> {
    let source: Arc<str> = Arc::from("bench");
    let mut writer = store.writer("bench-events");
    let first_day = (now - Duration::days(DAYS)).timestamp_micros() / DAY * DAY;
    let mut assets: Vec<(&str, &str, &[&str])> = Vec::new();
    for key in &snapshot.keys {
        assets.push(("kms.amazonaws.com", &key.arn, &KMS_OPERATIONS));
    }
    for secret in &snapshot.secrets {
        assets.push((
            "secretsmanager.amazonaws.com",
            &secret.arn,
            &SECRET_OPERATIONS,
        ));
    }
    for certificate in &snapshot.certificates {
        assets.push((
            "acm.amazonaws.com",
            &certificate.arn,
            &CERTIFICATE_OPERATIONS,
        ));
    }
    // Assets sorted by account and Region keep each partition together.
    assets.sort_by_key(|(_, arn, _)| place(arn));
    let per_day = count / DAYS as u64;
    let mut index = 0u64;
    for day in 0..DAYS {
        let day_start = first_day + day * DAY;
        let todays = if day == DAYS - 1 {
            count - per_day * (DAYS as u64 - 1)
        } else {
            per_day
        };
        for position in 0..todays {
            let asset = assets[(position * assets.len() as u64 / todays.max(1)) as usize];
            let event = event(index, asset, day_start);
            writer.push(StoredEvent {
                event: Box::new(event),
                source_file: Arc::clone(&source),
            })?;
            index += 1;
        }
    }
    writer.source_done(ManifestEntry {
        source: "bench".to_owned(),
        fingerprint: format!("{count}"),
        ingested_at: now.timestamp_micros(),
        records: count,
        events: count,
    });
    writer.finish()?;
    Ok(())
}

/// Microseconds in a day.
const DAY: i64 = 86_400 * 1_000_000;

fn place(arn: &str) -> (String, String) {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts[4].to_owned(), parts[3].to_owned())
}

/// Builds event number `index` on one asset, at a time in its day.
fn event(index: u64, (service, arn, operations): (&str, &str, &[&str]), day_start: i64) -> Event {
    // A multiplicative hash spreads operations, principals and times.
    let mix = index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let (account, region) = place(arn);
    let principal = format!(
        "arn:aws:iam::{account}:role/app-{}",
        (mix >> 20) % PRINCIPALS
    );
    let denied = (mix >> 12).is_multiple_of(50);
    Event {
        key: u128::from(index) | (u128::from(mix) << 64),
        time: day_start + ((mix >> 16) as i64).rem_euclid(DAY),
        event_id: Some(format!("{index:016x}")),
        event_version: Some("1.09".into()),
        service: service.into(),
        operation: operations[(mix >> 4) as usize % operations.len()].into(),
        event_type: Some("AwsApiCall".into()),
        event_category: Some("Management".into()),
        account: Some(account.clone().into()),
        region: Some(region.into()),
        error_code: denied.then(|| "AccessDenied".into()),
        actor_type: Some("AssumedRole".into()),
        actor_account: Some(account.into()),
        actor_session_issuer: Some(principal),
        resource_arns: vec![arn.to_owned()],
        resource: Some(arn.to_owned()),
        ..Event::default()
    }
}
