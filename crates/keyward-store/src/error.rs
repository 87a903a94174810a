//! The store's error type.

use std::io;
use std::path::PathBuf;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::parquet::errors::ParquetError;

/// A failure to read or write the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("failed to {action} {path}: {source}")]
    Io {
        /// Action that failed, such as "create" or "read".
        action: &'static str,
        /// The file or folder concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A Parquet file could not be read or written.
    #[error("parquet file {path}: {source}")]
    Parquet {
        /// The file concerned.
        path: PathBuf,
        /// The Parquet library's error.
        source: ParquetError,
    },
    /// Building Arrow data failed.
    #[error("arrow data: {0}")]
    Arrow(#[from] ArrowError),
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[from] DataFusionError),
    /// Another process holds the store's lock.
    #[error("store {0} is in use by another keyward process; wait for it to finish")]
    Locked(PathBuf),
    /// The folder contains a store of another format version.
    #[error("{path} holds a store of format {found}; this keyward reads format {expected}")]
    Format {
        /// The store folder.
        path: PathBuf,
        /// The format found.
        found: String,
        /// The format this build reads.
        expected: u32,
    },
    /// Inventory rows could not be converted to or from Arrow data.
    #[error("inventory data: {0}")]
    Inventory(String),
    /// A request named something that does not exist or is malformed.
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>, source: ParquetError) -> Self {
        Self::Parquet {
            path: path.into(),
            source,
        }
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Joins the messages of an error and its sources with `: `, leaving out a
/// source whose message is already there, so that the failure behind the
/// outer message (a refused connection, a timeout) shows.
pub fn error_chain_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let message = inner.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = inner.source();
    }
    text
}
