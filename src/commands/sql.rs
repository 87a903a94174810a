//! `keyward sql`: run an SQL statement over the store's tables.

use std::path::Path;
use std::process::ExitCode;

use keyward_store::Store;
use keyward_store::query::output::write_batches;
use keyward_store::query::{open_read_only_session, run_sql};

use super::Format;

/// Arguments of `keyward sql`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    /// A read-only SQL statement. Tables: events, crypto_events, names,
    /// manifest, usage, usage_by_operation, and the inventory: keys,
    /// aliases, certificates, certificate_authorities, secrets, coverage,
    /// scans (docs/columns.md describes them).
    #[arg(value_name = "SQL")]
    sql: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `keyward sql`.
pub fn run(store_path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open(store_path)?;
    let runtime = super::runtime()?;
    let batches = runtime.block_on(async {
        let session = open_read_only_session(&store).await?;
        run_sql(&session, &args.sql).await
    })?;
    let mut stdout = std::io::stdout().lock();
    write_batches(&batches, args.format.into(), &mut stdout)?;
    Ok(ExitCode::SUCCESS)
}
