//! `keyward query`: run a built-in question over the store.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use keyward_store::Store;
use keyward_store::query::catalog::{QUESTIONS, question};
use keyward_store::query::output::write_batches;
use keyward_store::query::{QuestionFilters, TimeWindow, open_session, run_sql};

use super::Format;
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
}

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
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,

    /// Keep only this Region; repeat for several.
    #[arg(long = "region", value_name = "NAME")]
    regions: Vec<String>,
}

impl FilterArgs {
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
            bail!("the window is empty: --from must be before --to");
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
        let width = QUESTIONS.iter().map(|q| q.name.len()).max().unwrap_or(0);
        for question in &QUESTIONS {
            println!("{:<width$}  {}", question.name, question.description);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = args.name.unwrap_or_default();
    let Some(question) = question(&name) else {
        bail!("unknown question {name:?}; `keyward query --list` shows the built-in questions");
    };
    let filters = args.filters.to_filters()?;
    let sql = question.sql(&filters);
    if args.show_sql {
        println!("{}", sql.trim());
        return Ok(ExitCode::SUCCESS);
    }

    let store = Store::open(store_path)?;
    let runtime = super::runtime()?;
    let batches = runtime.block_on(async {
        let session = open_session(&store).await?;
        run_sql(&session, &sql).await
    });
    let batches = batches.with_context(|| format!("question {name} failed"))?;
    let mut stdout = std::io::stdout().lock();
    write_batches(&batches, args.format.into(), &mut stdout)?;
    Ok(ExitCode::SUCCESS)
}
