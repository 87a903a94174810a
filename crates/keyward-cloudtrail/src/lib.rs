//! Readers for AWS CloudTrail log files.
//!
//! [`read_log`] takes one file in any shape that CloudTrail, EventBridge or
//! a log pipeline writes and returns the events of the services whose
//! assets keyward watches: AWS KMS, Secrets Manager, Certificate Manager,
//! Private CA and CloudHSM. Every other record is counted and dropped.
//! [`classify_ocsf`] reads the same events in the OCSF form that Amazon
//! Security Lake stores, and [`read_log`] accepts OCSF JSON as well.

#![deny(missing_docs)]

mod event;
pub mod gzip;
mod names;
mod ocsf;
mod plain;
mod reader;
mod resource;
mod service;
mod time;

pub use compact_str::CompactString;
pub use event::{Classified, Event, Parsed, REDACTED, RecordError, parse_record, redact_secrets};
pub use names::{NameBinding, name_bindings};
pub use ocsf::{API_ACTIVITY_CLASS, RC2_API_ACTIVITY_CLASS, classify_ocsf};
pub use reader::{FileSummary, Position, ReadError, ReadOptions, read_log, read_log_bytes};
pub use resource::{Scope, normalize_key_id, primary_resource};
pub use service::{
    CERTIFICATE_USE_OPERATIONS, CRYPTO_EVENT_SOURCES, CryptoService, KMS_CRYPTOGRAPHIC_OPERATIONS,
    SECRET_READ_OPERATIONS,
};
pub use time::{format_day, parse_event_time};
