//! Errors of the export functions.

/// An export that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the output failed.
    #[error("failed to write the export: {0}")]
    Io(#[from] std::io::Error),
    /// A file or folder of the export could not be written.
    #[error("failed to {action} {path}: {source}")]
    File {
        /// Operation that failed: `create` or `write`.
        action: &'static str,
        /// The file or folder.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A value could not be serialized as JSON.
    #[error("failed to serialize a finding as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A row could not be written as CSV.
    #[error("failed to write a CSV row: {0}")]
    Csv(#[from] csv::Error),
    /// The findings could not be converted to Arrow or written as Parquet.
    #[error("failed to write Parquet: {0}")]
    Parquet(String),
}

impl ExportError {
    /// Creates an error for a file or folder.
    pub fn file(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::File {
            action,
            path: path.to_owned(),
            source,
        }
    }
}
