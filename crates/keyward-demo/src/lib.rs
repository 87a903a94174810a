//! A generated AWS organization for `keyward demo` and for tests. It
//! consists of the inventory that a scan of it would read, its CloudTrail
//! log files in the S3 delivery layout, and its ground truth: the verdict
//! that every rule must reach on every asset.
//!
//! The organization has accounts in organizational units and several
//! Regions. Each account and Region has KMS keys (customer managed ones in
//! every state the rules tell apart, and AWS managed ones), ACM
//! certificates of every type, status and key algorithm, and Secrets
//! Manager secrets with and without rotation; the security account has an
//! AWS Private CA hierarchy, and every account has IAM policies. Each asset
//! is built from a scenario, such as a key scheduled for deletion that an
//! application still calls, and the scenario decides both the records and
//! the CloudTrail events, so the ground truth follows from the plan rather
//! than from the rules. One seed always gives the same organization for the
//! same end time.

#![deny(missing_docs)]

pub mod activity;
pub mod certificates;
mod iam;
pub mod keys;
pub mod organization;
pub mod random;
mod rename;
pub mod secrets;
mod trail;
pub mod truth;
pub mod world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use keyward_store::inventory::{
    AccountRecord, AuthorityRecord, CertificateRecord, CoverageRecord, CoverageStatus,
    IamPolicyRecord, ScanRecord, SecretRecord, Snapshot,
};

use crate::activity::TrailAsset;
use crate::organization::Organization;
use crate::random::Random;
use crate::truth::{ExpectedAsset, Truth, Verdict};
use crate::world::{Place, World};

/// Placeholder scan id of the records while they are built; [`generate`]
/// replaces it with the scan's id.
const SCAN_ID: &str = "";

/// Sizes and seed of a generated organization.
#[derive(Clone, Debug)]
pub struct Options {
    /// Accounts, the management account included; at least 2.
    pub accounts: u32,
    /// Regions in which every account has assets.
    pub regions: Vec<String>,
    /// Days of CloudTrail, ending at `now`.
    pub days: u32,
    /// CloudTrail records per day in the whole organization, other
    /// services included; the exact events of the assets come on top.
    pub events_per_day: u32,
    /// Seed of the random choices.
    pub seed: u64,
    /// End of the period, and the time at which the rules judge.
    pub now: DateTime<Utc>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            accounts: 12,
            regions: vec![
                "us-east-1".to_owned(),
                "eu-west-1".to_owned(),
                "ap-southeast-2".to_owned(),
            ],
            days: 120,
            events_per_day: 4000,
            seed: 1,
            now: Utc::now(),
        }
    }
}

/// Failure to write the generated organization.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A file or folder could not be written.
    #[error("failed to write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The options are out of range.
    #[error("{0}")]
    Invalid(String),
}

/// A generated organization.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The inventory, as a scan would read it.
    pub snapshot: Snapshot,
    /// The ground truth, also written to `truth.json`.
    pub truth: Truth,
}

/// One asset as a generator built it.
#[derive(Clone, Debug)]
pub struct Built {
    /// The verdicts that the rules must reach on the asset.
    pub expected: ExpectedAsset,
    /// The asset's CloudTrail plan; `None` when CloudTrail has no events of
    /// it.
    pub trail: Option<TrailAsset>,
    /// The plan of the asset, for loading it into an emulator and judging
    /// it again as scanned.
    pub planned: Planned,
}

/// The plan of one asset, by kind.
#[derive(Clone, Debug)]
pub enum Planned {
    /// A KMS key.
    Key(Box<keys::KeyPlan>),
    /// A primary Secrets Manager secret.
    Secret(Box<secrets::SecretPlan>),
    /// The replica of a secret in another Region, which no rule judges.
    SecretReplica(Box<SecretRecord>),
    /// An ACM certificate.
    Certificate(Box<CertificateRecord>),
    /// An AWS Private CA certificate authority, which no rule judges.
    Authority(Box<AuthorityRecord>),
    /// A customer managed IAM policy, or an inline policy of a role.
    IamPolicy(Box<IamPolicyRecord>),
}

/// A generated organization before its files are written. An emulator
/// loader creates its assets, renames them to the ids the emulator chose
/// with [`Plan::rename`], and judges them again as scanned with
/// [`Plan::judge_scanned`], before [`Plan::write`] writes the CloudTrail
/// files and the ground truth.
#[derive(Clone, Debug)]
pub struct Plan {
    options: Options,
    world: World,
    snapshot: Snapshot,
    /// Every asset, in the order the generator built them.
    pub assets: Vec<Built>,
    /// The UNKNOWN findings of the services that the scan could not read.
    pub gap: Vec<ExpectedAsset>,
}

/// Name of the ground truth file in the output folder.
pub const TRUTH_FILE: &str = "truth.json";

/// Name of the folder of CloudTrail files in the output folder.
pub const CLOUDTRAIL_FOLDER: &str = "cloudtrail";

/// Generates an organization into `folder`: the CloudTrail files under
/// `cloudtrail/` and the ground truth in `truth.json`. Returns the
/// inventory, which the caller stores as a scan.
pub fn generate(options: &Options, folder: &Path) -> Result<Generated, GenerateError> {
    plan(options)?.write(folder)
}

/// Plans an organization without writing anything.
pub fn plan(options: &Options) -> Result<Plan, GenerateError> {
    plan_with(options, None)
}

/// Ids that replace the generated ones of an organization, such as those
/// an emulator assigned.
#[derive(Clone, Debug)]
pub struct OrganizationIds {
    /// Organization id, such as `o-a1b2c3d4e5`.
    pub organization_id: String,
    /// Account ids, management account first, one for each account of the
    /// options.
    pub account_ids: Vec<String>,
}

/// Plans an organization with the organization and account ids of `ids`,
/// such as those of an emulator. Every other id and random choice is that
/// of [`plan`].
pub fn plan_in_organization(
    options: &Options,
    ids: &OrganizationIds,
) -> Result<Plan, GenerateError> {
    if ids.account_ids.len() != options.accounts as usize {
        return Err(GenerateError::Invalid(format!(
            "{} account ids given for an organization of {} accounts",
            ids.account_ids.len(),
            options.accounts
        )));
    }
    plan_with(options, Some(ids))
}

fn plan_with(options: &Options, ids: Option<&OrganizationIds>) -> Result<Plan, GenerateError> {
    check(options)?;
    let root = Random::new(options.seed);
    let now = options.now.trunc_subsecs(0);
    let mut organization = Organization::generate(
        &mut root.fork("organization"),
        options.accounts,
        &options.regions,
    );
    if let Some(ids) = ids {
        organization.id.clone_from(&ids.organization_id);
        for (account, id) in organization.accounts.iter_mut().zip(&ids.account_ids) {
            account.id.clone_from(id);
        }
    }
    let world = World {
        organization,
        now,
        start: now - Duration::days(i64::from(options.days)),
        days: options.days,
    };

    let mut snapshot = Snapshot::default();
    let assets = build_assets(&world, &root, &mut snapshot);
    let gap = coverage(&world, &mut snapshot);
    Ok(Plan {
        options: options.clone(),
        world,
        snapshot,
        assets,
        gap,
    })
}

impl Plan {
    /// Returns the organization and the period.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Keeps only the assets for which `keep` returns true, and drops the
    /// UNKNOWN findings of unread services unless `keep_gap` is set.
    pub fn retain(&mut self, keep: impl FnMut(&Built) -> bool, keep_gap: bool) {
        self.assets.retain(keep);
        if !keep_gap {
            self.gap.clear();
        }
    }

    /// Replaces every id of the plan that is a key of `names` with its
    /// value, in the ARNs, records, policies and CloudTrail events, such as
    /// a generated KMS key id with the one an emulator assigned.
    pub fn rename(&mut self, names: &BTreeMap<String, String>) {
        if names.is_empty() {
            return;
        }
        for asset in &mut self.assets {
            rename::built(asset, names);
        }
    }

    /// Works out the verdicts of every key, secret and certificate again
    /// from the records that a scan read, where the plan's CloudTrail
    /// activity and policy intent stay as planned. IAM policies keep their
    /// planned verdicts, and no rule judges a certificate authority. Returns the ARNs of the
    /// planned assets that the scan did not find, whose verdicts stay as
    /// planned.
    pub fn judge_scanned(&mut self, scanned: &Snapshot) -> Vec<String> {
        let mut missing = Vec::new();
        for asset in &mut self.assets {
            let arn = &asset.expected.arn;
            match &asset.planned {
                Planned::Key(plan) => match scanned.keys.iter().find(|key| key.arn == *arn) {
                    Some(key) => {
                        asset.expected.verdicts = keys::verdicts_as_scanned(&self.world, plan, key);
                    }
                    None => missing.push(arn.clone()),
                },
                Planned::Secret(plan) => {
                    match scanned.secrets.iter().find(|secret| secret.arn == *arn) {
                        Some(secret) => {
                            asset.expected.verdicts =
                                secrets::verdicts_as_scanned(&self.world, plan, secret);
                        }
                        None => missing.push(arn.clone()),
                    }
                }
                Planned::Certificate(_) => {
                    let found = scanned
                        .certificates
                        .iter()
                        .find(|certificate| certificate.arn == *arn);
                    match found {
                        Some(certificate) => {
                            asset.expected.verdicts =
                                certificates::verdicts_as_scanned(&self.world, certificate);
                        }
                        None => missing.push(arn.clone()),
                    }
                }
                Planned::SecretReplica(_) => {
                    if !scanned.secrets.iter().any(|secret| secret.arn == *arn) {
                        missing.push(arn.clone());
                    }
                }
                Planned::Authority(_) => {
                    if !scanned.authorities.iter().any(|ca| ca.arn == *arn) {
                        missing.push(arn.clone());
                    }
                }
                // The verdict of an IAM policy follows from its document
                // alone, which the loader copies as planned.
                Planned::IamPolicy(_) => {
                    let found = scanned.iam_policies.iter().any(|policy| {
                        policy.arn.as_deref() == Some(arn.as_str())
                            || policy.principal_arn.as_deref() == Some(arn.as_str())
                    });
                    if !found {
                        missing.push(arn.clone());
                    }
                }
            }
        }
        missing
    }

    /// Writes the CloudTrail files under `cloudtrail/` and the ground truth
    /// in `truth.json`, and returns the planned inventory with the truth.
    pub fn write(self, folder: &Path) -> Result<Generated, GenerateError> {
        let Plan {
            options,
            world,
            mut snapshot,
            assets,
            gap,
        } = self;
        let root = Random::new(options.seed);
        let trail_assets: Vec<TrailAsset> = assets.iter().filter_map(|b| b.trail.clone()).collect();
        let counts = trail::write(
            &world,
            &mut root.fork("trail"),
            &trail_assets,
            options.events_per_day,
            &folder.join(CLOUDTRAIL_FOLDER),
        )?;

        let mut expected: Vec<ExpectedAsset> = assets.into_iter().map(|b| b.expected).collect();
        expected.extend(gap);
        let truth = Truth {
            seed: options.seed,
            now: world.now,
            days: options.days,
            organization_id: world.organization.id.clone(),
            accounts: world
                .organization
                .accounts
                .iter()
                .map(|a| a.id.clone())
                .collect(),
            regions: world.organization.regions.clone(),
            trail: counts,
            assets: expected,
        };
        let path = folder.join(TRUTH_FILE);
        let text = serde_json::to_string_pretty(&truth).expect("truth serializes");
        std::fs::write(&path, text).map_err(|source| GenerateError::Write { path, source })?;

        finish_snapshot(&world, &mut snapshot);
        Ok(Generated { snapshot, truth })
    }
}

fn check(options: &Options) -> Result<(), GenerateError> {
    if options.accounts < 2 {
        return Err(GenerateError::Invalid(format!(
            "invalid number of accounts {}: an organization needs at least 2",
            options.accounts
        )));
    }
    if options.regions.is_empty() {
        return Err(GenerateError::Invalid("no Region given".to_owned()));
    }
    if options.days == 0 || options.days > 3650 {
        return Err(GenerateError::Invalid(format!(
            "invalid number of days {}: use 1 to 3650",
            options.days
        )));
    }
    Ok(())
}

/// Returns the account and Region whose Secrets Manager the scan could
/// not read: the last account's last Region, when the organization has 4
/// accounts or more.
fn unread_place(world: &World) -> Option<(&str, &str)> {
    let accounts = &world.organization.accounts;
    (accounts.len() >= 4).then(|| {
        (
            accounts[accounts.len() - 1].id.as_str(),
            world.organization.regions[world.organization.regions.len() - 1].as_str(),
        )
    })
}

/// Builds every asset of every account and Region.
fn build_assets(world: &World, root: &Random, snapshot: &mut Snapshot) -> Vec<Built> {
    let mut random = root.fork("assets");
    let mut built = Vec::new();
    let authorities = certificates::build_authorities(world, &mut random, snapshot, &mut built);
    let mut key_scenarios = keys::Scenario::ALL.into_iter();
    let mut certificate_scenarios = certificates::Scenario::ALL.into_iter();
    let mut secret_scenarios = secrets::Scenario::ALL.into_iter();
    let places = world.organization.accounts.len() * world.organization.regions.len();
    let mut done = 0;
    let unread = unread_place(world);

    for (position, account) in world.organization.accounts.iter().enumerate() {
        for region in &world.organization.regions {
            let left = places - done;
            done += 1;
            let place = Place { account, region };
            // Enough assets in each place that every scenario is built
            // before the last place.
            let count = |random: &mut Random, low: u32, high: u32, forced: usize| {
                random.between(low, high).max(forced.div_ceil(left) as u32)
            };

            let n = count(&mut random, 3, 7, key_scenarios.len());
            built.extend(keys::build(
                world,
                &mut random,
                place,
                &mut key_scenarios,
                n,
                snapshot,
            ));
            let n = count(&mut random, 2, 5, certificate_scenarios.len());
            built.extend(certificates::build(
                world,
                &mut random,
                place,
                &authorities,
                &mut certificate_scenarios,
                n,
                snapshot,
            ));
            if unread == Some((account.id.as_str(), region.as_str())) {
                continue;
            }
            let key_arn = snapshot
                .keys
                .iter()
                .find(|key| {
                    key.account_id == account.id
                        && key.region == *region
                        && key.key_manager.as_deref() == Some("CUSTOMER")
                        && key.key_state.as_deref() == Some("Enabled")
                })
                .map(|key| key.arn.clone());
            let n = count(&mut random, 3, 6, secret_scenarios.len());
            built.extend(secrets::build(
                world,
                &mut random,
                place,
                key_arn.as_deref(),
                &mut secret_scenarios,
                n,
                snapshot,
            ));
        }
        built.extend(iam::build(world, &mut random, position, account, snapshot));
    }
    built
}

/// Records what the scan read in each account, Region and service, and
/// returns the UNKNOWN findings that the unread service must give.
fn coverage(world: &World, snapshot: &mut Snapshot) -> Vec<ExpectedAsset> {
    let unread = unread_place(world);
    let mut gap = Vec::new();
    for account in &world.organization.accounts {
        for region in &world.organization.regions {
            for service in ["kms", "acm", "acm-pca", "secretsmanager"] {
                let assets = match service {
                    "kms" => count_in(
                        &snapshot.keys,
                        |k| (&k.account_id, &k.region),
                        account,
                        region,
                    ),
                    "acm" => count_in(
                        &snapshot.certificates,
                        |c| (&c.account_id, &c.region),
                        account,
                        region,
                    ),
                    "acm-pca" => count_in(
                        &snapshot.authorities,
                        |c| (&c.account_id, &c.region),
                        account,
                        region,
                    ),
                    _ => count_in(
                        &snapshot.secrets,
                        |s| (&s.account_id, &s.region),
                        account,
                        region,
                    ),
                };
                let mut row = CoverageRecord {
                    account_id: account.id.clone(),
                    region: region.clone(),
                    service: service.to_owned(),
                    assets,
                    calls: assets * 4 + 1,
                    ..CoverageRecord::default()
                };
                if service == "secretsmanager"
                    && unread == Some((account.id.as_str(), region.as_str()))
                {
                    row.status = CoverageStatus::AccessDenied;
                    row.operation = Some("ListSecrets".to_owned());
                    row.error_code = Some("AccessDeniedException".to_owned());
                    row.error_message = Some(format!(
                        "User: arn:aws:sts::{}:assumed-role/KeywardAudit/keyward is not authorized to perform: secretsmanager:ListSecrets with an explicit deny in a service control policy",
                        account.id
                    ));
                    row.calls = 1;
                    gap.push(ExpectedAsset {
                        arn: format!("{}/{region}/secretsmanager", account.id),
                        resource_type: "AwsSecretsManagerSecret".to_owned(),
                        account_id: account.id.clone(),
                        region: region.clone(),
                        scenario: "service-unreadable".to_owned(),
                        last_use: None,
                        verdicts: SECRET_RULES
                            .iter()
                            .map(|rule| ((*rule).to_owned(), Verdict::Unknown))
                            .collect::<BTreeMap<_, _>>(),
                    });
                }
                snapshot.coverage.push(row);
            }
        }
        let policies = snapshot
            .iam_policies
            .iter()
            .filter(|p| p.account_id == account.id)
            .count() as u32;
        snapshot.coverage.push(CoverageRecord {
            account_id: account.id.clone(),
            service: "iam".to_owned(),
            assets: policies,
            calls: 1,
            ..CoverageRecord::default()
        });
    }
    gap
}

/// The rules on secrets, which each give an UNKNOWN finding for a Secrets
/// Manager that could not be read.
const SECRET_RULES: [&str; 8] = [
    "secret-rotation-enabled",
    "secret-rotation-failing",
    "secret-rotated-recently",
    "secret-unused",
    "secret-customer-managed-key",
    "secret-policy-public",
    "secret-external-access",
    "secret-used-by-other-account",
];

fn count_in<T>(
    items: &[T],
    place: impl Fn(&T) -> (&String, &String),
    account: &organization::Account,
    region: &str,
) -> u32 {
    items
        .iter()
        .filter(|item| {
            let (a, r) = place(item);
            *a == account.id && r == region
        })
        .count() as u32
}

/// Fills in the scan and account records and stamps every record with the
/// scan's id.
fn finish_snapshot(world: &World, snapshot: &mut Snapshot) {
    let scan_id = format!("{}-demo", world.now.format("%Y%m%dT%H%M%SZ"));
    let complete = snapshot
        .coverage
        .iter()
        .all(|row| row.status == CoverageStatus::Ok);
    snapshot.scan = ScanRecord {
        scan_id: scan_id.clone(),
        started_at: world.now - Duration::minutes(2),
        finished_at: world.now - Duration::minutes(1),
        caller_account: Some(world.organization.accounts[0].id.clone()),
        accounts: world.organization.accounts.len() as u32,
        account_regions: (world.organization.accounts.len() * world.organization.regions.len())
            as u32,
        complete,
        keyward_version: env!("CARGO_PKG_VERSION").to_owned(),
    };

    let organization = &world.organization;
    snapshot.accounts = organization
        .accounts
        .iter()
        .map(|account| {
            let (ids, names) = match account.unit {
                Some(unit) => (
                    vec![
                        organization.root.clone(),
                        organization.units[unit].id.clone(),
                    ],
                    vec!["Root".to_owned(), organization.units[unit].name.clone()],
                ),
                None => (vec![organization.root.clone()], vec!["Root".to_owned()]),
            };
            AccountRecord {
                scan_id: scan_id.clone(),
                account_id: account.id.clone(),
                name: Some(account.name.clone()),
                status: Some("ACTIVE".to_owned()),
                scanned: true,
                organization_id: Some(organization.id.clone()),
                ou_path_ids: ids,
                ou_path_names: names,
                org_path: Some(organization.org_path(account)),
            }
        })
        .collect();

    for row in &mut snapshot.coverage {
        row.scan_id.clone_from(&scan_id);
    }
    for key in &mut snapshot.keys {
        key.scan_id.clone_from(&scan_id);
    }
    for alias in &mut snapshot.aliases {
        alias.scan_id.clone_from(&scan_id);
    }
    for certificate in &mut snapshot.certificates {
        certificate.scan_id.clone_from(&scan_id);
    }
    for authority in &mut snapshot.authorities {
        authority.scan_id.clone_from(&scan_id);
    }
    for secret in &mut snapshot.secrets {
        secret.scan_id.clone_from(&scan_id);
    }
    for policy in &mut snapshot.iam_policies {
        policy.scan_id.clone_from(&scan_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> Options {
        Options {
            accounts: 4,
            regions: vec!["us-east-1".to_owned(), "eu-west-1".to_owned()],
            days: 20,
            events_per_day: 100,
            seed,
            now: DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
                .expect("valid time")
                .with_timezone(&Utc),
        }
    }

    /// Returns every file under a folder with its contents, by relative
    /// path.
    fn files(folder: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut found = BTreeMap::new();
        let mut pending = vec![folder.to_owned()];
        while let Some(current) = pending.pop() {
            for entry in std::fs::read_dir(&current).expect("list folder") {
                let path = entry.expect("folder entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let relative = path.strip_prefix(folder).expect("under folder").to_owned();
                    found.insert(relative, std::fs::read(&path).expect("read file"));
                }
            }
        }
        found
    }

    #[test]
    fn same_seed_same_files() {
        let first = tempfile::tempdir().expect("temporary folder");
        let second = tempfile::tempdir().expect("temporary folder");
        let a = generate(&small(5), first.path()).expect("generate");
        let b = generate(&small(5), second.path()).expect("generate");
        assert_eq!(a.truth, b.truth);
        assert_eq!(a.snapshot, b.snapshot);
        assert_eq!(files(first.path()), files(second.path()));
    }

    #[test]
    fn other_seed_other_organization() {
        let first = tempfile::tempdir().expect("temporary folder");
        let second = tempfile::tempdir().expect("temporary folder");
        let a = generate(&small(5), first.path()).expect("generate");
        let b = generate(&small(6), second.path()).expect("generate");
        assert_ne!(a.truth.accounts, b.truth.accounts);
    }

    #[test]
    fn asset_arns_unique() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let truth = generate(&small(9), folder.path()).expect("generate").truth;
        let mut arns: Vec<&str> = truth.assets.iter().map(|a| a.arn.as_str()).collect();
        let count = arns.len();
        arns.sort_unstable();
        arns.dedup();
        assert_eq!(arns.len(), count);
    }

    #[test]
    fn one_account_rejected() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let options = Options {
            accounts: 1,
            ..small(1)
        };
        let error = generate(&options, folder.path()).expect_err("one account");
        assert!(error.to_string().contains("at least 2"), "{error}");
    }

    fn ids(count: usize) -> OrganizationIds {
        OrganizationIds {
            organization_id: "o-emulator01".to_owned(),
            account_ids: (0..count).map(|i| format!("99990000{i:04}")).collect(),
        }
    }

    #[test]
    fn organization_ids_replace_generated() {
        let planned = plan(&small(5)).expect("plan");
        let renamed = plan_in_organization(&small(5), &ids(4)).expect("plan");
        let scenarios = |plan: &Plan| -> Vec<String> {
            plan.assets
                .iter()
                .map(|asset| asset.expected.scenario.clone())
                .collect()
        };
        assert_eq!(scenarios(&planned), scenarios(&renamed));

        let folder = tempfile::tempdir().expect("temporary folder");
        let truth = renamed.write(folder.path()).expect("write").truth;
        assert_eq!(truth.organization_id, "o-emulator01");
        assert_eq!(truth.accounts, ids(4).account_ids);
        for asset in &truth.assets {
            assert!(truth.accounts.contains(&asset.account_id), "{}", asset.arn);
        }
    }

    #[test]
    fn wrong_number_of_ids_rejected() {
        let error = plan_in_organization(&small(5), &ids(3)).expect_err("3 ids for 4 accounts");
        assert!(error.to_string().contains("3 account ids"), "{error}");
    }

    #[test]
    fn rename_reaches_truth_and_trail() {
        let mut plan = plan(&small(5)).expect("plan");
        let key_id = plan
            .assets
            .iter()
            .find_map(|asset| match &asset.planned {
                Planned::Key(key) if asset.expected.scenario == "healthy" => {
                    Some(key.record.key_id.clone())
                }
                _ => None,
            })
            .expect("a healthy key");
        let names = BTreeMap::from([(key_id.clone(), "renamed-key-id".to_owned())]);
        plan.rename(&names);
        let folder = tempfile::tempdir().expect("folder");
        let truth = plan.write(folder.path()).expect("write").truth;
        assert!(
            truth
                .assets
                .iter()
                .any(|a| a.arn.ends_with("key/renamed-key-id")),
            "no renamed key in the truth"
        );
        let mut renamed_found = false;
        for (path, bytes) in files(&folder.path().join(CLOUDTRAIL_FOLDER)) {
            let mut text = String::new();
            if path.extension().is_some_and(|e| e == "gz") {
                std::io::Read::read_to_string(
                    &mut flate2::read::GzDecoder::new(bytes.as_slice()),
                    &mut text,
                )
                .expect("gzip");
            } else {
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            assert!(!text.contains(&key_id), "old key id in {}", path.display());
            renamed_found |= text.contains("renamed-key-id");
        }
        assert!(renamed_found, "no CloudTrail record names the renamed key");
    }

    #[test]
    fn judge_scanned_reports_missing_assets() {
        let mut plan = plan(&small(5)).expect("plan");
        let planned = plan.assets.len();
        let missing = plan.judge_scanned(&Snapshot::default());
        assert_eq!(missing.len(), planned);
    }

    #[test]
    fn judge_scanned_follows_scanned_record() {
        let mut plan = plan(&small(5)).expect("plan");
        let position = plan
            .assets
            .iter()
            .position(|asset| {
                asset.expected.scenario == "healthy"
                    && asset.expected.verdicts.get("kms-key-rotation") == Some(&Verdict::Pass)
            })
            .expect("a healthy rotating key");
        let Planned::Key(key) = &plan.assets[position].planned else {
            panic!("not a key");
        };
        let mut scanned = Snapshot::default();
        scanned.keys.push(keyward_store::inventory::KeyRecord {
            rotation_enabled: Some(false),
            ..key.record.clone()
        });
        plan.judge_scanned(&scanned);
        let verdicts = &plan.assets[position].expected.verdicts;
        assert_eq!(verdicts.get("kms-key-rotation"), Some(&Verdict::Fail));
    }

    #[test]
    fn no_secret_value_written() {
        let folder = tempfile::tempdir().expect("temporary folder");
        generate(&small(2), folder.path()).expect("generate");
        for (path, bytes) in files(folder.path()) {
            let text = if path.extension().is_some_and(|e| e == "gz") {
                let mut decoded = String::new();
                std::io::Read::read_to_string(
                    &mut flate2::read::GzDecoder::new(bytes.as_slice()),
                    &mut decoded,
                )
                .expect("gzip");
                decoded
            } else {
                String::from_utf8(bytes).expect("UTF-8")
            };
            for field in ["SecretString", "SecretBinary", "Plaintext", "PrivateKey"] {
                assert!(!text.contains(field), "{field} in {}", path.display());
            }
        }
    }
}
