//! keyward's rules as AWS Config custom rules: the `keyward-lambda`
//! function reads the invocation that AWS Config sends, runs one keyward
//! rule on the assets it names, and reports the verdicts with
//! `PutEvaluations`.
//!
//! Each Config rule names its keyward rule in the `rule` parameter, and a
//! rule with a threshold takes it from `thresholdDays`. A scheduled
//! invocation judges every asset of the rule's type in the function's
//! account and Region; a change notification judges the one resource that
//! changed, read live from its service. A failed API call fails the
//! invocation, so that AWS Config never records a guess.
//!
//! The same function also ingests CloudTrail log files into a keyward
//! store kept in S3, when S3 event notifications invoke it ([`ingest`]).
//!
//! The function reads only the metadata of keys, certificates and secrets,
//! through `keyward-scan`: never a secret value, a private key or a data
//! key.

#![deny(missing_docs)]

pub mod handler;
pub mod ingest;
pub mod report;
pub mod request;
pub mod verdicts;

pub use handler::{Environment, Outcome, handle};
