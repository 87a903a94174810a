//! `keyward inventory`: print the inventory of the latest scan, or of an
//! earlier one.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use clap::ValueEnum;
use keyward_store::Store;
use keyward_store::query::output::write_batches;
use keyward_store::query::{open_read_only_session, run_sql};

use super::Format;

/// Arguments of `keyward inventory`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// Table to print.
    #[arg(value_enum, default_value_t = Table::Keys)]
    table: Table,

    /// Print this scan instead of the latest; `keyward inventory scans`
    /// lists them.
    #[arg(long, value_name = "SCAN_ID")]
    scan: Option<String>,

    /// Keep only this account; repeat for several.
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,

    /// Keep only this Region; repeat for several.
    #[arg(long = "region", value_name = "NAME")]
    regions: Vec<String>,

    /// Output format. The table shows the main columns; the other formats
    /// every column.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// A table of the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Table {
    /// KMS keys.
    Keys,
    /// KMS aliases.
    Aliases,
    /// ACM certificates.
    Certificates,
    /// AWS Private CA certificate authorities.
    #[value(alias = "certificate_authorities")]
    CertificateAuthorities,
    /// Secrets Manager secrets.
    Secrets,
    /// IAM customer managed and inline policies.
    #[value(alias = "iam_policies")]
    IamPolicies,
    /// The accounts of the scan, with their organizational units.
    Accounts,
    /// Coverage of each scan, per account, Region and service.
    Coverage,
    /// The finished scans.
    Scans,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Keys => "keys",
            Self::Aliases => "aliases",
            Self::Certificates => "certificates",
            Self::CertificateAuthorities => "certificate_authorities",
            Self::Secrets => "secrets",
            Self::IamPolicies => "iam_policies",
            Self::Accounts => "accounts",
            Self::Coverage => "coverage",
            Self::Scans => "scans",
        }
    }

    /// Columns shown in the text table, and the sort order.
    fn summary(self) -> (&'static str, &'static str) {
        match self {
            Self::Keys => (
                "account_id, region, key_id, key_manager, key_state, key_spec, \
                 rotation_enabled, aliases, last_used_at, usage_known",
                "account_id, region, key_id",
            ),
            Self::Aliases => (
                "account_id, region, alias_name, target_key_id",
                "account_id, region, alias_name",
            ),
            Self::Certificates => (
                "account_id, region, domain_name, certificate_type, status, key_algorithm, \
                 not_after, in_use_by",
                "account_id, region, domain_name, arn",
            ),
            Self::CertificateAuthorities => (
                "account_id, region, common_name, authority_type, status, key_algorithm, \
                 not_after",
                "account_id, region, arn",
            ),
            Self::Secrets => (
                "account_id, region, name, rotation_enabled, rotation_interval_days, \
                 last_rotated_at, last_accessed_at, deleted_at, primary_region",
                "account_id, region, name",
            ),
            Self::IamPolicies => (
                "account_id, policy_type, policy_name, arn, principal_type, principal_name, \
                 attachment_count, default_version_id",
                "account_id, policy_type, arn, principal_arn, policy_name",
            ),
            Self::Accounts => (
                "account_id, name, status, scanned, ou_path_names, ou_path_ids",
                "account_id",
            ),
            Self::Coverage => (
                "account_id, region, service, status, assets, partial_assets, calls, operation, \
                 error_code",
                "account_id, region, service",
            ),
            Self::Scans => (
                "scan_id, started_at, finished_at, accounts, account_regions, complete",
                "started_at, scan_id",
            ),
        }
    }
}

/// Runs `keyward inventory`.
pub fn run(store_path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let no_scan = || {
        anyhow::anyhow!(
            "the store at {} contains no finished scan; run `keyward scan` first",
            store_path.display()
        )
    };
    let store = Store::open(store_path).map_err(|_| no_scan())?;
    let scans = store.scans()?;
    if args.table != Table::Scans && scans.is_empty() {
        return Err(no_scan());
    }
    if let Some(id) = &args.scan
        && !scans.iter().any(|scan| &scan.scan_id == id)
    {
        bail!("scan {id:?} not found in the store; `keyward inventory scans` lists them");
    }
    let sql = inventory_sql(&args)?;
    let runtime = super::runtime()?;
    let batches = runtime.block_on(async {
        let session = open_read_only_session(&store).await?;
        run_sql(&session, &sql).await
    })?;
    let mut stdout = std::io::stdout().lock();
    write_batches(&batches, args.format.into(), &mut stdout)?;
    Ok(ExitCode::SUCCESS)
}

fn inventory_sql(args: &Args) -> anyhow::Result<String> {
    let (summary_columns, order) = args.table.summary();
    let columns = if args.format == Format::Table {
        summary_columns
    } else {
        "*"
    };
    let table = args.table.name();
    let mut conditions = Vec::new();
    let source = match (&args.scan, args.table) {
        (_, Table::Scans) => table.to_owned(),
        (Some(scan), _) => {
            conditions.push(format!("scan_id = {}", quote(scan)));
            format!("{table}_history")
        }
        (None, _) => table.to_owned(),
    };
    if args.table == Table::Scans && (!args.accounts.is_empty() || !args.regions.is_empty()) {
        bail!("--account and --region do not apply to the list of scans");
    }
    let global = matches!(args.table, Table::IamPolicies | Table::Accounts);
    if global && !args.regions.is_empty() {
        bail!("--region does not apply to {table}, which has no Region column");
    }
    if !args.accounts.is_empty() {
        conditions.push(in_list("account_id", &args.accounts));
    }
    if !args.regions.is_empty() {
        conditions.push(in_list("region", &args.regions));
    }
    let mut sql = format!("SELECT {columns} FROM {source}");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY {order}"));
    Ok(sql)
}

/// Quotes text as an SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn in_list(column: &str, values: &[String]) -> String {
    let values: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("{column} IN ({})", values.join(", "))
}
