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
//! - `usage` and `usage_by_operation`: the usage index, per asset.
//! - the inventory that `keyward scan` wrote: `keys`, `aliases`,
//!   `certificates`, `certificate_authorities`, `secrets` and `coverage`
//!   hold the latest finished scan, `TABLE_history` every finished scan,
//!   and `scans` lists the finished scans.
//!
//! The built-in questions in [`catalog`] read `crypto_events` and
//! `findings`; [`athena`] prints them as Athena SQL over Amazon Security
//! Lake.

pub mod athena;
pub mod catalog;
pub mod output;

use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::inventory::InventoryTable;
use crate::schema::{EVENT_SCHEMA, MANIFEST_SCHEMA, NAME_SCHEMA};

pub use catalog::{QUESTIONS, Question, QuestionFilters, TimeWindow};
pub use datafusion::arrow::array::RecordBatch;

/// The partition columns of the `events` table, outermost first.
pub const PARTITION_COLUMNS: [&str; 3] = ["eventday", "accountid", "region"];

/// Opens a DataFusion session with the store's tables registered, creating
/// the folders of tables that nothing has written yet.
pub async fn open_session(store: &Store) -> Result<SessionContext> {
    open_session_with(store, Access::ReadWrite).await
}

/// Opens a DataFusion session that changes nothing in the store: a table
/// whose folder is missing reads as empty.
pub async fn open_read_only_session(store: &Store) -> Result<SessionContext> {
    open_session_with(store, Access::ReadOnly).await
}

/// Whether opening a session may create the folders of missing tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

async fn open_session_with(store: &Store, access: Access) -> Result<SessionContext> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("keyward", "store")
        .with_extension(Arc::new(StoreRoot(store.root().to_path_buf())))
        .with_extension(Arc::new(StoreTables::default()));
    // DataFusion caches the file listing of each table for the life of the
    // session by default. A merge of the manifest, or an ingest while
    // `keyward serve` runs, changes the files, so every query lists them.
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_list_cache_limit(0)
        .build_arc()?;
    let context = SessionContext::new_with_config_rt(config, runtime);

    let partitions: Vec<(String, DataType)> = PARTITION_COLUMNS
        .iter()
        .map(|name| ((*name).to_owned(), DataType::Utf8))
        .collect();
    register_table(
        &context,
        access,
        "events",
        &store.events_dir(),
        EVENT_SCHEMA.clone(),
        partitions,
    )
    .await?;
    register_table(
        &context,
        access,
        "names",
        &store.names_dir(),
        NAME_SCHEMA.clone(),
        Vec::new(),
    )
    .await?;
    register_table(
        &context,
        access,
        "manifest",
        &store.manifest_dir(),
        MANIFEST_SCHEMA.clone(),
        Vec::new(),
    )
    .await?;
    register_inventory(&context, store, access).await?;
    register_findings(&context, store, access).await?;
    context.sql(CRYPTO_EVENTS_VIEW).await?;
    context.sql(&usage_view()).await?;
    context.sql(&usage_by_operation_view()).await?;
    Ok(context)
}

/// Resolves aliases and secret names to the target they had at the event's
/// time: that of the latest binding seen at or before it, else that of the
/// earliest binding seen after it. An alias ARN resolves whatever account
/// logged the event, and a secret ARN without its random suffix (a partial
/// ARN) resolves by the secret's name, unless an event bound a name to it,
/// which makes it a full ARN. Also names the acting principal:
/// the role of an assumed-role session, else the caller's ARN, else the AWS
/// service that called, else the principal id.
const CRYPTO_EVENTS_VIEW: &str = "
CREATE VIEW crypto_events AS
WITH bindings AS (
    SELECT account, region, reference, time, max(target) AS target
    FROM names
    GROUP BY account, region, reference, time
),
spans AS (
    SELECT account, region, reference, target,
           CASE WHEN row_number() OVER (PARTITION BY account, region, reference ORDER BY time) = 1
                THEN NULL ELSE time END AS valid_from,
           lead(time) OVER (PARTITION BY account, region, reference ORDER BY time) AS valid_until
    FROM bindings
),
known_targets AS (
    SELECT DISTINCT target FROM names
),
named AS (
    SELECT e.*,
           e.resource_uid LIKE 'arn:%:secretsmanager:%:secret:%' AND k.target IS NULL
               AS names_secret
    FROM events e
    LEFT JOIN known_targets k ON k.target = e.resource_uid
),
referenced AS (
    SELECT *,
           CASE WHEN names_secret THEN split_part(resource_uid, ':secret:', 2)
                ELSE resource_uid END AS name_reference,
           CASE WHEN names_secret THEN split_part(resource_uid, ':', 5)
                ELSE cloud_account_uid END AS name_account,
           CASE WHEN names_secret THEN split_part(resource_uid, ':', 4)
                ELSE cloud_region END AS name_region
    FROM named
)
SELECT e.* EXCLUDE (names_secret, name_reference, name_account, name_region),
       COALESCE(e.actor_session_issuer, e.actor_user_uid, e.actor_invoked_by,
                e.actor_user_uid_alt) AS principal,
       COALESCE(n.target, e.resource_uid) AS asset
FROM referenced e
LEFT JOIN spans n
  ON n.reference = e.name_reference
 AND (n.reference LIKE 'arn:%' OR (n.account = e.name_account AND n.region = e.name_region))
 AND (n.valid_from IS NULL OR e.time >= n.valid_from)
 AND (n.valid_until IS NULL OR e.time < n.valid_until)";

/// Builds the condition that makes an event a use of its asset.
fn use_condition() -> String {
    use keyward_cloudtrail::{
        CERTIFICATE_USE_OPERATIONS, KMS_CRYPTOGRAPHIC_OPERATIONS, SECRET_READ_OPERATIONS,
    };
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|name| format!("'{name}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "((api_service_name = 'kms.amazonaws.com' AND api_operation IN ({}))
          OR (api_service_name = 'secretsmanager.amazonaws.com' AND api_operation IN ({}))
          OR (api_service_name IN ('acm.amazonaws.com', 'acm-pca.amazonaws.com')
              AND api_operation IN ({})))",
        list(&KMS_CRYPTOGRAPHIC_OPERATIONS),
        list(&SECRET_READ_OPERATIONS),
        list(&CERTIFICATE_USE_OPERATIONS),
    )
}

/// Builds the `usage` view: one row per asset with its latest use, counts,
/// callers, latest refused use (see [`catalog::TRANSIENT_ERRORS`]) and, for secrets, the latest rotation events
/// that Secrets Manager logs. Account and Region come from the asset's ARN,
/// or from its events for a secret known only by name.
fn usage_view() -> String {
    format!(
        "
CREATE VIEW usage AS
WITH named AS (
    SELECT asset, api_service_name, api_operation, time, metadata_uid, principal,
           actor_user_account_uid, cloud_account_uid, cloud_region, status,
           api_response_error, shared_event_id, {uses} AS is_use
    FROM crypto_events
    WHERE asset IS NOT NULL
),
latest_use AS (
    SELECT asset, time, api_operation, metadata_uid, principal,
           row_number() OVER (PARTITION BY asset ORDER BY time DESC, metadata_uid DESC) AS rank
    FROM named WHERE is_use AND status = 'Success'
),
latest_denied AS (
    SELECT asset, time, api_operation, principal, api_response_error,
           row_number() OVER (PARTITION BY asset ORDER BY time DESC, metadata_uid DESC) AS rank
    FROM named
    WHERE is_use AND status = 'Failure' AND api_response_error NOT IN ({transient})
),
latest_rotation_failure AS (
    SELECT asset, time, metadata_uid,
           row_number() OVER (PARTITION BY asset ORDER BY time DESC, metadata_uid DESC) AS rank
    FROM named WHERE api_operation = 'RotationFailed'
),
latest_rotation_success AS (
    SELECT asset, max(time) AS time FROM named
    WHERE api_operation = 'RotationSucceeded' GROUP BY asset
),
totals AS (
    SELECT asset,
           min(api_service_name) AS service,
           max(cloud_account_uid) AS event_account,
           max(cloud_region) AS event_region,
           count(*) FILTER (WHERE is_use AND status = 'Success' AND shared_event_id IS NULL)
               + count(DISTINCT api_operation || ' ' || shared_event_id)
                   FILTER (WHERE is_use AND status = 'Success')
               AS uses,
           count(DISTINCT CASE WHEN is_use AND status = 'Success' THEN principal END)
               AS principals,
           array_agg(DISTINCT actor_user_account_uid)
               FILTER (WHERE is_use AND status = 'Success'
                       AND actor_user_account_uid IS NOT NULL) AS principal_accounts,
           min(time) AS first_seen,
           max(time) AS last_seen
    FROM named GROUP BY asset
)
SELECT t.asset, t.service,
       CASE WHEN t.asset LIKE 'arn:%' THEN split_part(t.asset, ':', 5)
            ELSE t.event_account END AS account,
       CASE WHEN t.asset LIKE 'arn:%' THEN split_part(t.asset, ':', 4)
            ELSE t.event_region END AS region,
       u.time AS last_used, u.api_operation AS last_operation,
       u.metadata_uid AS last_event_id, u.principal AS last_principal,
       t.uses, t.principals, t.principal_accounts, t.first_seen, t.last_seen,
       d.time AS last_denied, d.api_operation AS last_denied_operation,
       d.principal AS last_denied_principal, d.api_response_error AS last_denied_error,
       rf.time AS last_rotation_failed, rf.metadata_uid AS last_rotation_failed_event_id,
       rs.time AS last_rotation_succeeded
FROM totals t
LEFT JOIN latest_use u ON u.asset = t.asset AND u.rank = 1
LEFT JOIN latest_denied d ON d.asset = t.asset AND d.rank = 1
LEFT JOIN latest_rotation_failure rf ON rf.asset = t.asset AND rf.rank = 1
LEFT JOIN latest_rotation_success rs ON rs.asset = t.asset",
        uses = use_condition(),
        transient = catalog::TRANSIENT_ERRORS,
    )
}

/// Counts of successful and failed calls per asset and operation.
fn usage_by_operation_view() -> String {
    "
CREATE VIEW usage_by_operation AS
SELECT asset, api_service_name AS service, api_operation AS operation,
       count(*) FILTER (WHERE status = 'Success' AND shared_event_id IS NULL)
           + count(DISTINCT shared_event_id) FILTER (WHERE status = 'Success') AS successes,
       count(*) FILTER (WHERE status = 'Failure' AND shared_event_id IS NULL)
           + count(DISTINCT shared_event_id) FILTER (WHERE status = 'Failure') AS failures
FROM crypto_events
WHERE asset IS NOT NULL
GROUP BY 1, 2, 3"
        .to_owned()
}

/// Registers the inventory: for each table, `raw_TABLE` contains every file
/// written, `TABLE_history` the rows of every finished scan, and `TABLE`
/// the rows of the latest finished scan. `scans` lists the finished scans.
async fn register_inventory(context: &SessionContext, store: &Store, access: Access) -> Result<()> {
    let scans = InventoryTable::Scans;
    let schema = Arc::new(Schema::new(scans.fields()?));
    let directory = store.inventory_dir(scans);
    register_table(
        context,
        access,
        scans.name(),
        &directory,
        schema,
        Vec::new(),
    )
    .await?;
    for table in InventoryTable::ALL {
        if table == scans {
            continue;
        }
        let schema = Arc::new(Schema::new(table.fields()?));
        let name = table.name();
        let raw = format!("raw_{name}");
        register_table(
            context,
            access,
            &raw,
            &store.inventory_dir(table),
            schema,
            Vec::new(),
        )
        .await?;
        context
            .sql(&format!(
                "CREATE VIEW {name}_history AS SELECT * FROM {raw} \
                 WHERE scan_id IN (SELECT scan_id FROM scans)"
            ))
            .await?;
        context
            .sql(&format!(
                "CREATE VIEW {name} AS SELECT * FROM {raw} WHERE scan_id = \
                 (SELECT scan_id FROM scans ORDER BY started_at DESC, scan_id DESC LIMIT 1)"
            ))
            .await?;
    }
    Ok(())
}

/// Registers `checks` (the finished runs of `keyward check`),
/// `findings_history` (their findings) and `findings` (the latest run's).
async fn register_findings(context: &SessionContext, store: &Store, access: Access) -> Result<()> {
    let schema = Arc::new(Schema::new(Store::check_fields()?));
    register_table(
        context,
        access,
        "checks",
        &store.checks_dir(),
        schema,
        Vec::new(),
    )
    .await?;
    let schema = Arc::new(Schema::new(Store::finding_fields()?));
    register_table(
        context,
        access,
        "raw_findings",
        &store.findings_dir(),
        schema,
        Vec::new(),
    )
    .await?;
    context
        .sql(
            "CREATE VIEW findings_history AS SELECT * FROM raw_findings \
             WHERE run_id IN (SELECT run_id FROM checks)",
        )
        .await?;
    context
        .sql(
            "CREATE VIEW findings AS SELECT * FROM raw_findings WHERE run_id = \
             (SELECT run_id FROM checks ORDER BY checked_at DESC, run_id DESC LIMIT 1)",
        )
        .await?;
    Ok(())
}

async fn register_table(
    context: &SessionContext,
    access: Access,
    name: &str,
    directory: &std::path::Path,
    schema: SchemaRef,
    partitions: Vec<(String, DataType)>,
) -> Result<()> {
    if access == Access::ReadOnly && !directory.is_dir() {
        context.register_table(name, Arc::new(empty_table(&schema, &partitions)))?;
        return Ok(());
    }
    std::fs::create_dir_all(directory).map_err(|e| StoreError::io("create", directory, e))?;
    let url = table_url(directory)?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partitions);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema.clone());
    let table = ListingTable::try_new(config)?;
    context.register_table(name, Arc::new(table))?;
    if let Some(tables) = context.state().config().get_extension::<StoreTables>() {
        let mut tables = tables.0.lock().unwrap_or_else(PoisonError::into_inner);
        tables.push((directory.to_path_buf(), schema));
    }
    Ok(())
}

/// Names of the files that a table reads: Parquet files whose names do not
/// start with a dot, the same files that the store writer checks for
/// duplicates.
const TABLE_FILE_NAMES: &str = "[!.]*.parquet";

/// Returns the listing URL of the Parquet files in `directory` and its
/// partition folders. The folder's path is taken as it is, so characters
/// such as `[` or `*` in it are not read as a pattern.
fn table_url(directory: &std::path::Path) -> Result<ListingTableUrl> {
    let invalid = |detail: String| {
        StoreError::Invalid(format!(
            "failed to list {} as a table: {detail}",
            directory.display()
        ))
    };
    let absolute =
        std::path::absolute(directory).map_err(|e| StoreError::io("resolve", directory, e))?;
    let url = url::Url::from_directory_path(&absolute)
        .map_err(|()| invalid("not a local folder path".to_owned()))?;
    let pattern = glob::Pattern::new(TABLE_FILE_NAMES).map_err(|e| invalid(e.to_string()))?;
    Ok(ListingTableUrl::try_new(url, Some(pattern))?)
}

/// Builds an empty table with the columns that a listing table of `schema`
/// and `partitions` would have.
fn empty_table(
    schema: &SchemaRef,
    partitions: &[(String, DataType)],
) -> datafusion::datasource::empty::EmptyTable {
    use datafusion::arrow::datatypes::Field;
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (name, data_type) in partitions {
        fields.push(Field::new(name, data_type.clone(), false));
    }
    datafusion::datasource::empty::EmptyTable::new(Arc::new(Schema::new(fields)))
}

/// Runs one read-only SQL statement and collects its result. Statements
/// that would change the store or write files (`INSERT`, `COPY`, `CREATE`,
/// `DROP`, `SET`) are rejected.
pub async fn run_sql(context: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let frame = context
        .sql_with_options(sql, options)
        .await
        .map_err(explain_rejected_statement)?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    // An ingest that merges the manifest removes files that a query running
    // at the same time may have listed. The query then runs again, over the
    // files there are now.
    let mut attempt = 1;
    let mut batches = loop {
        match frame.clone().collect().await {
            Ok(batches) => break batches,
            Err(error) if is_missing_file(&error) && attempt < MAX_QUERY_ATTEMPTS => attempt += 1,
            Err(error) => return Err(name_unreadable_files(context, error)),
        }
    };
    // An empty result still has columns: CSV output writes their header.
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(batches)
}

/// Explains the error of a statement that the read-only options rejected:
/// DataFusion's message names only the statement, not why.
fn explain_rejected_statement(error: DataFusionError) -> StoreError {
    let message = error.to_string();
    let rejected = [
        "DML not supported",
        "DDL not supported",
        "Statement not supported",
    ]
    .iter()
    .any(|text| message.contains(text));
    if rejected {
        StoreError::Invalid(format!(
            "{message}: queries of the store are read-only, so only SELECT, WITH, EXPLAIN, \
             SHOW and DESCRIBE run"
        ))
    } else {
        error.into()
    }
}

/// Maximum number of times that [`run_sql`] runs a query whose files were
/// removed while it ran.
const MAX_QUERY_ATTEMPTS: usize = 3;

/// Reports whether a query failed because a file it listed was gone when it
/// read it.
fn is_missing_file(error: &DataFusionError) -> bool {
    match error.find_root() {
        DataFusionError::ObjectStore(error) => {
            matches!(**error, datafusion::object_store::Error::NotFound { .. })
        }
        DataFusionError::IoError(error) => error.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// Reports whether a query failed in planning or in evaluating its own
/// expressions, such as a division by zero or a failed cast, which no file
/// of the store causes.
fn is_expression_error(error: &DataFusionError) -> bool {
    use datafusion::arrow::error::ArrowError;

    match error.find_root() {
        DataFusionError::ArrowError(error, _) => matches!(
            **error,
            ArrowError::DivideByZero
                | ArrowError::CastError(_)
                | ArrowError::ArithmeticOverflow(_)
                | ArrowError::ComputeError(_)
                | ArrowError::ParseError(_)
        ),
        DataFusionError::Plan(_)
        | DataFusionError::SQL(..)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_) => true,
        _ => false,
    }
}

/// Reports whether a query failed in the Parquet reader, rather than in
/// planning, in its own expressions (such as a failed cast) or on a missing
/// file.
fn is_decoding_error(error: &DataFusionError) -> bool {
    match error.find_root() {
        DataFusionError::ParquetError(_) => true,
        DataFusionError::ArrowError(error, _) => {
            matches!(
                **error,
                datafusion::arrow::error::ArrowError::ParquetError(_)
            )
        }
        DataFusionError::External(error) => error
            .downcast_ref::<parquet::errors::ParquetError>()
            .is_some(),
        _ => false,
    }
}

/// The root folder of the store that a session reads, kept in the
/// session's configuration.
#[derive(Debug)]
struct StoreRoot(std::path::PathBuf);

/// The folder and file schema of each table that a session reads from the
/// store, kept in the session's configuration so that a failed query can
/// check each table's files against its schema.
#[derive(Debug, Default)]
struct StoreTables(Mutex<Vec<(std::path::PathBuf, SchemaRef)>>);

/// Turns an error of a query into the store's error. When a file of the
/// store cannot be read, the error names it: DataFusion's own message does
/// not say which file it was reading. Footers are checked first, and each
/// table's files against its schema, because that is quick. When those find
/// nothing and the query failed while decoding data, every file is read
/// whole to find the damaged one.
fn name_unreadable_files(context: &SessionContext, error: DataFusionError) -> StoreError {
    let Some(root) = context.state().config().get_extension::<StoreRoot>() else {
        return error.into();
    };
    if is_expression_error(&error) {
        return error.into();
    }
    let mut unreadable = crate::files::unreadable_parquet_files(&root.0);
    if unreadable.is_empty()
        && let Some(tables) = context.state().config().get_extension::<StoreTables>()
    {
        let tables = tables.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (directory, schema) in tables.iter() {
            unreadable.extend(crate::files::files_missing_columns(directory, schema));
        }
    }
    if unreadable.is_empty() && is_decoding_error(&error) {
        unreadable = crate::files::damaged_parquet_files(&root.0);
    }
    if unreadable.is_empty() {
        return error.into();
    }
    let files: Vec<String> = unreadable
        .iter()
        .map(|(path, reason)| format!("{} ({reason})", path.display()))
        .collect();
    StoreError::Invalid(format!(
        "{error}; the store has files that cannot be read: {}. Move them out of the store to \
         query the rest",
        files.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::parquet_files;
    use crate::partition::Partition;
    use crate::schema::decrypt_event;
    use datafusion::arrow::array::Int64Array;

    async fn count(session: &SessionContext, sql: &str) -> i64 {
        let batches = run_sql(session, sql).await.unwrap();
        let column = batches[0].column(0).as_any().downcast_ref::<Int64Array>();
        column.unwrap().value(0)
    }

    #[tokio::test]
    async fn hidden_parquet_files_are_not_read() {
        // A pattern character in the store's path is taken literally.
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("store[1]");
        let store = Store::create_or_open(&root).unwrap();
        {
            let _lock = store.lock().unwrap();
            let mut writer = store.writer("run");
            writer.push(decrypt_event(1, "111111111111")).unwrap();
            writer.push(decrypt_event(2, "111111111111")).unwrap();
            writer.finish().unwrap();
        }
        let partition = Partition::of(&decrypt_event(1, "111111111111").event);
        let folder = store.events_dir().join(partition.relative_path());
        let written = parquet_files(&folder).unwrap();
        assert_eq!(written.len(), 1);
        std::fs::copy(&written[0], folder.join(".copy.parquet")).unwrap();

        let session = open_read_only_session(&store).await.unwrap();
        let all = count(&session, "SELECT count(*) FROM events").await;
        let in_account = count(
            &session,
            "SELECT count(*) FROM events WHERE accountid = '111111111111'",
        )
        .await;

        assert_eq!(all, 2);
        assert_eq!(in_account, 2);
    }

    /// Writes one event, with `entry` in the manifest when given, into a
    /// new store and returns the store with the folder of its partition.
    fn store_with_one_event(
        directory: &std::path::Path,
        entry: Option<crate::manifest::ManifestEntry>,
    ) -> (Store, std::path::PathBuf) {
        let store = Store::create_or_open(directory).unwrap();
        {
            let _lock = store.lock().unwrap();
            let mut writer = store.writer("run");
            writer.push(decrypt_event(1, "111111111111")).unwrap();
            if let Some(entry) = entry {
                writer.source_done(entry);
            }
            writer.finish().unwrap();
        }
        let partition = Partition::of(&decrypt_event(1, "111111111111").event);
        let folder = store.events_dir().join(partition.relative_path());
        (store, folder)
    }

    /// Runs SQL that is expected to fail over a read-only session of `store`
    /// and returns the error as text.
    async fn query_error(store: &Store, sql: &str) -> String {
        let session = open_read_only_session(store).await.unwrap();
        run_sql(&session, sql).await.unwrap_err().to_string()
    }

    #[tokio::test]
    async fn unreadable_file_named_in_error() {
        let directory = tempfile::tempdir().unwrap();
        let (store, folder) = store_with_one_event(directory.path(), None);
        let damaged = folder.join("damaged.parquet");
        std::fs::write(&damaged, b"not a Parquet file").unwrap();

        let error = query_error(&store, "SELECT count(*) FROM events").await;
        let division = query_error(&store, "SELECT 1 / 0").await;

        assert!(error.contains(&damaged.display().to_string()), "{error}");
        assert!(error.contains("Move them out of the store"), "{error}");
        assert!(
            !division.contains("Move them out of the store"),
            "{division}"
        );
    }

    #[test]
    fn damaged_page_index_found_by_quick_check() {
        use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};

        let directory = tempfile::tempdir().unwrap();
        let (store, folder) = store_with_one_event(directory.path(), None);
        let damaged = parquet_files(&folder).unwrap().remove(0);
        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Skip)
            .parse_and_finish(&std::fs::File::open(&damaged).unwrap())
            .unwrap();
        let mut bytes = std::fs::read(&damaged).unwrap();
        let chunk = metadata.row_group(0).column(0);
        let start = usize::try_from(chunk.offset_index_offset().unwrap()).unwrap();
        let len = usize::try_from(chunk.offset_index_length().unwrap()).unwrap();
        bytes[start..start + len].fill(0xff);
        std::fs::write(&damaged, bytes).unwrap();

        let unreadable = crate::files::unreadable_parquet_files(&store.events_dir());

        let paths: Vec<&std::path::PathBuf> = unreadable.iter().map(|(path, _)| path).collect();
        assert_eq!(paths, [&damaged]);
    }

    #[tokio::test]
    async fn damaged_data_file_named_in_error() {
        let directory = tempfile::tempdir().unwrap();
        let (store, folder) = store_with_one_event(directory.path(), None);
        let damaged = parquet_files(&folder).unwrap().remove(0);
        // Everything between the leading magic bytes and the footer is
        // overwritten, so the footer still reads and the data does not.
        let mut bytes = std::fs::read(&damaged).unwrap();
        let footer_len = u32::from_le_bytes(bytes[bytes.len() - 8..][..4].try_into().unwrap());
        let data_end = bytes.len() - 8 - footer_len as usize;
        bytes[4..data_end].fill(0xff);
        std::fs::write(&damaged, bytes).unwrap();

        let error = query_error(&store, "SELECT * FROM events").await;
        let cast = query_error(&store, "SELECT CAST('x' AS INT)").await;
        let division = query_error(&store, "SELECT 1 / 0").await;

        assert!(error.contains(&damaged.display().to_string()), "{error}");
        assert!(error.contains("Move them out of the store"), "{error}");
        assert!(!cast.contains("Move them out of the store"), "{cast}");
        assert!(
            !division.contains("Move them out of the store"),
            "{division}"
        );
    }

    #[tokio::test]
    async fn file_of_another_table_named_in_error() {
        let directory = tempfile::tempdir().unwrap();
        let entry = crate::manifest::ManifestEntry {
            source: "a.json".to_owned(),
            fingerprint: "f".to_owned(),
            ingested_at: 0,
            records: 1,
            events: 1,
        };
        let (store, folder) = store_with_one_event(directory.path(), Some(entry));
        let manifest_file = parquet_files(&store.manifest_dir()).unwrap().remove(0);
        let foreign = folder.join("foreign.parquet");
        std::fs::copy(&manifest_file, &foreign).unwrap();

        let error = query_error(&store, "SELECT api_service_name FROM events").await;

        assert!(error.contains(&foreign.display().to_string()), "{error}");
        assert!(error.contains("lacks the columns"), "{error}");
    }

    #[tokio::test]
    async fn file_without_shared_event_id_reads() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(directory.path()).unwrap();
        let event = decrypt_event(1, "111111111111");
        let batch = crate::schema::events_to_batch(std::slice::from_ref(&event)).unwrap();
        let index = batch.schema().index_of("shared_event_id").unwrap();
        let other_columns: Vec<usize> = (0..batch.num_columns()).filter(|i| *i != index).collect();
        let older = batch.project(&other_columns).unwrap();
        let partition = Partition::of(&event.event);
        let folder = store.events_dir().join(partition.relative_path());
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::create_dir_all(store.temp_dir()).unwrap();
        crate::files::write_parquet_atomic(
            &older,
            &folder.join("older.parquet"),
            &store.temp_dir(),
        )
        .unwrap();

        let session = open_read_only_session(&store).await.unwrap();

        assert_eq!(count(&session, "SELECT count(*) FROM events").await, 1);
        let sql = "SELECT count(*) FROM events WHERE shared_event_id IS NULL";
        assert_eq!(count(&session, sql).await, 1);
        assert_eq!(count(&session, "SELECT count(*) FROM usage").await, 0);
    }

    #[tokio::test]
    async fn session_sees_files_changed_after_a_query() {
        let directory = tempfile::tempdir().unwrap();
        let (store, folder) = store_with_one_event(directory.path(), None);
        let first = parquet_files(&folder).unwrap().remove(0);
        let session = open_read_only_session(&store).await.unwrap();
        assert_eq!(count(&session, "SELECT count(*) FROM events").await, 1);

        {
            let _lock = store.lock().unwrap();
            let mut writer = store.writer("second");
            writer.push(decrypt_event(2, "111111111111")).unwrap();
            writer.finish().unwrap();
        }
        std::fs::remove_file(&first).unwrap();

        assert_eq!(count(&session, "SELECT count(*) FROM events").await, 1);
        let keys = run_sql(&session, "SELECT event_key FROM events")
            .await
            .unwrap();
        assert_eq!(keys.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    }

    #[tokio::test]
    async fn writing_statement_rejected_as_read_only() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(directory.path()).unwrap();
        let session = open_read_only_session(&store).await.unwrap();
        let target = directory.path().join("copy.csv");
        let statements = [
            format!("COPY (SELECT 1) TO '{}'", target.display()),
            "CREATE TABLE t AS SELECT 1".to_owned(),
            "SET datafusion.execution.batch_size = 1".to_owned(),
        ];
        for statement in statements {
            let error = run_sql(&session, &statement).await.unwrap_err().to_string();
            assert!(error.contains("read-only"), "{statement}: {error}");
        }
        assert!(!target.exists());
    }

    #[tokio::test]
    async fn read_only_session_creates_nothing() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(directory.path()).unwrap();
        let session = open_read_only_session(&store).await.unwrap();
        for table in ["events", "usage", "keys", "findings", "scans"] {
            let batches = run_sql(&session, &format!("SELECT * FROM {table}"))
                .await
                .unwrap();
            assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
        }
        let entries: Vec<_> = std::fs::read_dir(directory.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["keyward-store.json"]);
    }
}
