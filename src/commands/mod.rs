//! One module per subcommand, each with its arguments and a `run` entry.

pub mod check;
pub mod demo;
pub mod export;
pub mod ingest;
pub mod inventory;
pub mod query;
pub mod report;
pub mod rules;
pub mod scan;
pub mod serve;
pub mod sql;

use clap::ValueEnum;
use keyward_store::query::output::OutputFormat;

/// Output formats for query results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header row. Text that a spreadsheet would run as a
    /// formula (starting with =, +, -, @, a tab or a carriage return, also
    /// after spaces or invisible characters) gets a leading '.
    Csv,
    /// A JSON array of row objects.
    Json,
    /// One JSON object per line.
    Jsonl,
}

impl From<Format> for OutputFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Table => Self::Table,
            Format::Csv => Self::Csv,
            Format::Json => Self::Json,
            Format::Jsonl => Self::JsonLines,
        }
    }
}

/// Builds the Tokio runtime that runs queries and S3 requests.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

/// Formats a count with the singular or plural form of its noun.
pub fn counted(count: u64, singular: &str, plural: &str) -> String {
    if count == 1 {
        format!("1 {singular}")
    } else {
        format!("{count} {plural}")
    }
}
