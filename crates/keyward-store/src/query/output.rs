//! Output of query results as a table, CSV, JSON or JSON Lines, behind one
//! function so that every command prints the same way.

use std::io::Write;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::json::writer::{JsonArray, LineDelimited, WriterBuilder};
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::error::Result;

/// Format of printed results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    JsonLines,
}

/// Writes batches in the given format.
pub fn write_batches(
    batches: &[RecordBatch],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        OutputFormat::Table => {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            if rows == 0 {
                writeln!(out, "(no rows)").map_err(io_error)?;
            } else {
                let table = pretty_format_batches(batches)?;
                writeln!(out, "{table}").map_err(io_error)?;
            }
        }
        OutputFormat::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, JsonArray>(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            drop(writer);
            writeln!(out).map_err(io_error)?;
        }
        OutputFormat::JsonLines => {
            let mut writer = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, LineDelimited>(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}

fn io_error(error: std::io::Error) -> crate::StoreError {
    crate::StoreError::Arrow(error.into())
}
