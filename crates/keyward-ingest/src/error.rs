//! The ingest error type.

/// A failure that stops an ingest run, or one source of it.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A source argument is malformed.
    #[error("invalid source {0}")]
    InvalidSource(String),
    /// A local file or folder could not be read.
    #[error("failed to {action} {path}: {source}")]
    Io {
        /// Action that failed.
        action: &'static str,
        /// The path concerned.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An S3 request failed.
    #[error("{operation} s3://{bucket}/{key} failed: {message}")]
    S3 {
        /// The S3 operation.
        operation: &'static str,
        /// Bucket name.
        bucket: String,
        /// Object key or prefix.
        key: String,
        /// The error with its causes.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] keyward_store::StoreError),
}
