//! Queries over the store with Apache DataFusion.
//!
//! [`open_session`] registers the store's tables and views in a DataFusion
//! session:
//!
//! - `events`: every stored event, with the partition columns `eventday`,
//!   `accountid` and `region`.
//! - `names`: aliases and secret names seen in events, with their targets.
//! - `manifest`: the source files already ingested.
//! - `crypto_events`: `events` plus `principal` (who acted) and `asset` (the
//!   key, secret, certificate or authority concerned, with aliases and
//!   secret names resolved to ARNs where events revealed them).
//!
//! The built-in questions in [`catalog`] read `crypto_events`.

pub mod catalog;
pub mod output;

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::schema::{EVENT_SCHEMA, MANIFEST_SCHEMA, NAME_SCHEMA};

pub use catalog::{QUESTIONS, Question, QuestionFilters, TimeWindow};

/// The partition columns of the `events` table, outermost first.
pub const PARTITION_COLUMNS: [&str; 3] = ["eventday", "accountid", "region"];

/// Opens a DataFusion session with the store's tables registered.
pub async fn open_session(store: &Store) -> Result<SessionContext> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("keyward", "store");
    let context = SessionContext::new_with_config(config);

    let partitions: Vec<(String, DataType)> = PARTITION_COLUMNS
        .iter()
        .map(|name| ((*name).to_owned(), DataType::Utf8))
        .collect();
    register_table(
        &context,
        "events",
        &store.events_dir(),
        EVENT_SCHEMA.clone(),
        partitions,
    )
    .await?;
    register_table(
        &context,
        "names",
        &store.names_dir(),
        NAME_SCHEMA.clone(),
        Vec::new(),
    )
    .await?;
    register_table(
        &context,
        "manifest",
        &store.manifest_dir(),
        MANIFEST_SCHEMA.clone(),
        Vec::new(),
    )
    .await?;
    context.sql(CRYPTO_EVENTS_VIEW).await?;
    Ok(context)
}

/// Resolves aliases and secret names through the latest binding seen, and
/// names the acting principal: the role of an assumed-role session, else
/// the caller's ARN, else the AWS service that called, else the principal id.
const CRYPTO_EVENTS_VIEW: &str = "
CREATE VIEW crypto_events AS
SELECT e.*,
       COALESCE(e.actor_session_issuer, e.actor_user_uid, e.actor_invoked_by,
                e.actor_user_uid_alt) AS principal,
       COALESCE(n.target, e.resource_uid) AS asset
FROM events e
LEFT JOIN (
    SELECT account, region, reference,
           first_value(target ORDER BY time DESC) AS target
    FROM names
    GROUP BY account, region, reference
) n
  ON n.account = e.cloud_account_uid
 AND n.region = e.cloud_region
 AND n.reference = e.resource_uid";

async fn register_table(
    context: &SessionContext,
    name: &str,
    directory: &std::path::Path,
    schema: SchemaRef,
    partitions: Vec<(String, DataType)>,
) -> Result<()> {
    std::fs::create_dir_all(directory).map_err(|e| StoreError::io("create", directory, e))?;
    let mut location = directory.to_string_lossy().into_owned();
    if !location.ends_with('/') {
        location.push('/');
    }
    let url = ListingTableUrl::parse(&location)?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partitions);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    let table = ListingTable::try_new(config)?;
    context.register_table(name, Arc::new(table))?;
    Ok(())
}

/// Runs one SQL statement and collects its result.
pub async fn run_sql(context: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let frame = context.sql(sql).await?;
    Ok(frame.collect().await?)
}
