//! `keyward query`: run a built-in question over the store.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use keyward_store::Store;
use keyward_store::query::athena::{LakeTable, LakeTables, athena_sql, table_read};
use keyward_store::query::catalog::{QUESTIONS, Question, question};
use keyward_store::query::output::write_batches;
use keyward_store::query::{QuestionFilters, TimeWindow, open_read_only_session, run_sql};

use super::Format;
use crate::UsageError;
use crate::time_args::{now_micros, parse_duration, parse_instant};

/// Arguments of `keyward query`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// Name of the question; `--list` shows them all.
    #[arg(required_unless_present = "list", value_name = "NAME")]
    name: Option<String>,

    /// List the built-in questions.
    #[arg(long)]
    list: bool,

    #[command(flatten)]
    filters: FilterArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Print the SQL instead of running it.
    #[arg(long)]
    show_sql: bool,

    #[command(flatten)]
    athena: AthenaArgs,
}

/// Options that print a question as Athena SQL over Amazon Security Lake.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct AthenaArgs {
    /// Print the question as Athena (Trino) SQL over the Amazon Security
    /// Lake tables instead of running it. With --list, show the table that
    /// each question reads.
    #[arg(long, conflicts_with_all = ["show_sql", "format"])]
    athena: bool,

    /// Glue database of the Security Lake tables (default
    /// amazon_security_lake_glue_db_REGION of --lake-region).
    #[arg(long, value_name = "NAME", requires = "athena")]
    database: Option<String>,

    /// Region of the Security Lake whose tables the SQL reads, the rollup
    /// Region when there is one (default: the Region of --region when it is
    /// given once, else us-east-1).
    #[arg(long, value_name = "NAME", requires = "athena")]
    lake_region: Option<String>,
}

/// Security Lake Region used when neither --lake-region nor a single
/// --region names one.
const DEFAULT_LAKE_REGION: &str = "us-east-1";

/// Time, account and Region filters shared by the query commands.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct FilterArgs {
    /// Keep events of the last DURATION before --to or now, as in 30d, 12h,
    /// 2w.
    #[arg(long, value_name = "DURATION", conflicts_with = "from", value_parser = parse_duration)]
    since: Option<i64>,

    /// Keep events at or after this date or time (UTC), as in 2026-05-01 or
    /// 2026-05-01T12:00:00Z.
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    from: Option<i64>,

    /// Keep events before this date or time (UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    to: Option<i64>,

    /// Keep only this account; repeat for several.
    #[arg(long = "account", value_name = "ID", value_parser = super::scan::parse_account)]
    accounts: Vec<String>,

    /// Keep only this Region; repeat for several.
    #[arg(long = "region", value_name = "NAME", value_parser = super::scan::parse_region)]
    regions: Vec<String>,
}

impl FilterArgs {
    /// Reports whether any of --since, --from and --to is given.
    fn has_window(&self) -> bool {
        self.since.is_some() || self.from.is_some() || self.to.is_some()
    }

    /// Checks the options and turns them into query filters.
    pub fn to_filters(&self) -> anyhow::Result<QuestionFilters> {
        let now = now_micros();
        let to = self.to;
        let from = match (self.since, self.from) {
            (Some(since), _) => Some(to.unwrap_or(now) - since),
            (None, from) => from,
        };
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(
                UsageError("the window is empty: --from must be before --to".to_owned()).into(),
            );
        }
        Ok(QuestionFilters {
            window: TimeWindow { from, to },
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
            now,
        })
    }
}

/// Runs `keyward query`.
pub fn run(store_path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    if args.list {
        list(args.athena.athena);
        return Ok(ExitCode::SUCCESS);
    }
    let name = args.name.unwrap_or_default();
    let Some(question) = question(&name) else {
        let message = format!(
            "unknown question {name:?}; `keyward query --list` shows the built-in questions"
        );
        return Err(UsageError(message).into());
    };
    let filters = args.filters.to_filters()?;
    if args.athena.athena {
        println!("{}", athena_text(question, &filters, &args.athena)?);
        return Ok(ExitCode::SUCCESS);
    }
    // Over Security Lake the window selects findings by time. Over the
    // store these questions read only the latest check, whatever the window.
    if question.reads_findings() && args.filters.has_window() {
        tracing::warn!(
            "{name} answers from the latest check's findings, so --since, --from and --to do \
             not apply"
        );
    }
    let sql = question.sql(&filters);
    if args.show_sql {
        println!("{}", sql.trim());
        return Ok(ExitCode::SUCCESS);
    }

    let store = Store::open(store_path)?;
    let runtime = super::runtime()?;
    let batches = runtime.block_on(async {
        let session = open_read_only_session(&store).await?;
        run_sql(&session, &sql).await
    });
    let batches = batches.with_context(|| format!("question {name} failed"))?;
    let mut stdout = std::io::stdout().lock();
    write_batches(&batches, args.format.into(), &mut stdout)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the built-in questions, with the Security Lake table that each
/// reads when `athena` is set.
fn list(athena: bool) {
    let width = QUESTIONS.iter().map(|q| q.name.len()).max().unwrap_or(0);
    for question in &QUESTIONS {
        if athena {
            let table = match table_read(question) {
                LakeTable::CloudTrail => "cloud_trail_mgmt_2_0",
                LakeTable::Findings => "sh_findings_2_0",
            };
            println!(
                "{:<width$}  {table:<20}  {}",
                question.name, question.description
            );
        } else {
            println!("{:<width$}  {}", question.name, question.description);
        }
    }
}

/// Returns a question as Athena SQL for the options.
fn athena_text(
    question: &Question,
    filters: &QuestionFilters,
    args: &AthenaArgs,
) -> anyhow::Result<String> {
    let lake_region = match (&args.lake_region, filters.regions.as_slice()) {
        (Some(region), _) => region.as_str(),
        (None, [region]) => region.as_str(),
        (None, _) => DEFAULT_LAKE_REGION,
    };
    let tables = LakeTables::new(lake_region, args.database.as_deref())
        .map_err(|message| anyhow::anyhow!("Security Lake {message}; set --lake-region"))?;
    let Some(sql) = athena_sql(question, filters, &tables) else {
        bail!("question {} has no Athena form", question.name);
    };
    Ok(sql)
}
