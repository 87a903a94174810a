//! Queries over the store for the API: rows as JSON objects, and pages of
//! a table sorted on the server.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::json::writer::{JsonArray, WriterBuilder};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use keyward_store::Store;
use keyward_store::query::{open_read_only_session, run_sql};
use serde_json::{Map, Value};

use crate::error::{Result, ServeError};
use crate::filters::Paging;

/// One result row, column name to value.
pub type Row = Map<String, Value>;

/// A read-only query session over one store, shared by every request.
#[derive(Clone)]
pub struct Data {
    session: Arc<SessionContext>,
    events_dir: PathBuf,
}

/// One page of a sorted table.
#[derive(Debug, serde::Serialize)]
pub struct Page {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows of the page.
    pub rows: Vec<Row>,
    /// Rows of the whole table.
    pub total: u64,
    /// Page number, from 1.
    pub page: usize,
    /// Rows per page.
    pub page_size: usize,
    /// Column sorted by, if any.
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub order: &'static str,
}

impl Data {
    /// Opens a session that reads the store and never writes to it.
    pub async fn open(store: &Store) -> Result<Self> {
        let session = open_read_only_session(store).await?;
        Ok(Self {
            session: Arc::new(session),
            events_dir: store.events_dir(),
        })
    }

    /// Returns the accounts and Regions that have stored events, read from
    /// the names of the partition folders. A query would read the footer
    /// of every event file, which takes seconds in a large store.
    pub async fn event_places(&self) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
        let root = self.events_dir.clone();
        let places = tokio::task::spawn_blocking(move || partition_values(&root))
            .await
            .map_err(|error| ServeError::Io(std::io::Error::other(error)))?;
        Ok(places)
    }

    /// Runs a query and returns its rows.
    pub async fn rows(&self, sql: impl Into<String>) -> Result<Vec<Row>> {
        let batches = run_sql(&self.session, &sql.into()).await?;
        batches_to_rows(&batches)
    }

    /// Runs a query that returns a count in its first column and row.
    pub async fn count(&self, sql: impl Into<String>) -> Result<u64> {
        let rows = self.rows(sql).await?;
        let value = rows.first().and_then(|row| row.values().next());
        Ok(value.and_then(Value::as_u64).unwrap_or(0))
    }

    /// Runs a query and returns `fetch` rows after the first `skip`.
    async fn slice(&self, sql: &str, skip: usize, fetch: usize) -> Result<Vec<Row>> {
        let frame = self
            .session
            .sql_with_options(sql, read_only_options())
            .await
            .and_then(|frame| frame.limit(skip, Some(fetch)))
            .map_err(keyward_store::StoreError::from)?;
        let batches = frame
            .collect()
            .await
            .map_err(keyward_store::StoreError::from)?;
        batches_to_rows(&batches)
    }

    /// Returns the output columns of a query without running it, with
    /// whether each can be sorted (nested types cannot).
    pub async fn columns(&self, sql: &str) -> Result<Vec<(String, bool)>> {
        let frame = self
            .session
            .sql_with_options(sql, read_only_options())
            .await
            .map_err(keyward_store::StoreError::from)?;
        Ok(frame
            .schema()
            .fields()
            .iter()
            .map(|field| (field.name().clone(), !field.data_type().is_nested()))
            .collect())
    }

    /// Returns one page of a query's rows, sorted by a column of its
    /// output. The sort column must be one of those columns, so request
    /// text never reaches the SQL unchecked. Ties are ordered by the other
    /// sortable columns, so pages do not overlap.
    pub async fn page(&self, sql: &str, paging: &Paging) -> Result<Page> {
        let columns = self.columns(sql).await?;
        let sortable: Vec<&str> = columns
            .iter()
            .filter(|(_, sortable)| *sortable)
            .map(|(name, _)| name.as_str())
            .collect();
        let mut order_by = Vec::new();
        if let Some(sort) = &paging.sort {
            if !sortable.contains(&sort.as_str()) {
                return Err(ServeError::invalid(format!(
                    "invalid sort column {sort:?}: use one of {}",
                    sortable.join(", ")
                )));
            }
            order_by.push(format!("\"{sort}\" {} NULLS LAST", paging.order.sql()));
            for name in sortable.iter().filter(|name| **name != sort) {
                order_by.push(format!("\"{name}\" ASC NULLS FIRST"));
            }
        }
        // Without a sort column the query's own ORDER BY applies, so the
        // page is cut from its plan: a subquery could lose the order.
        let ordered = if order_by.is_empty() {
            sql.to_owned()
        } else {
            format!(
                "SELECT * FROM ({sql}) AS page_source ORDER BY {}",
                order_by.join(", ")
            )
        };
        let count_sql = format!("SELECT count(*) AS total FROM ({sql}) AS page_source");
        let (rows, total) = tokio::try_join!(
            self.slice(&ordered, paging.offset(), paging.page_size),
            self.count(count_sql)
        )?;
        Ok(Page {
            columns: columns.into_iter().map(|(name, _)| name).collect(),
            rows,
            total,
            page: paging.page,
            page_size: paging.page_size,
            sort: paging.sort.clone(),
            order: paging.order.as_str(),
        })
    }
}

/// Collects the plain account and Region values of the partition folders
/// `eventday=D/accountid=A/region=R`. Escaped and missing values are left
/// out: they are no valid account id or Region name.
fn partition_values(root: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut accounts = BTreeSet::new();
    let mut regions = BTreeSet::new();
    for day in subfolders(root, "eventday=") {
        for account in subfolders(&day, "accountid=") {
            accounts.extend(folder_value(&account, "accountid="));
            for region in subfolders(&account, "region=") {
                regions.extend(folder_value(&region, "region="));
            }
        }
    }
    (accounts, regions)
}

fn subfolders(folder: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix))
        })
        .collect()
}

fn folder_value(folder: &Path, prefix: &str) -> Option<String> {
    let name = folder.file_name()?.to_str()?;
    let value = name.strip_prefix(prefix)?;
    let valid = keyward_store::is_plain_value(value) && value != "__HIVE_DEFAULT_PARTITION__";
    valid.then(|| value.to_owned())
}

fn read_only_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Converts record batches to JSON objects, nulls included, with times
/// as RFC 3339 text.
pub fn batches_to_rows(batches: &[RecordBatch]) -> Result<Vec<Row>> {
    let mut buffer = Vec::new();
    let mut writer = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(&mut buffer);
    for batch in batches {
        writer
            .write(batch)
            .map_err(|error| ServeError::Json(error.to_string()))?;
    }
    writer
        .finish()
        .map_err(|error| ServeError::Json(error.to_string()))?;
    drop(writer);
    if buffer.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Row> =
        serde_json::from_slice(&buffer).map_err(|error| ServeError::Json(error.to_string()))?;
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::{Order, Params};

    async fn data() -> (tempfile::TempDir, Data) {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(directory.path()).unwrap();
        let data = Data::open(&store).await.unwrap();
        (directory, data)
    }

    const NUMBERS: &str = "SELECT * FROM (VALUES (1, 'c'), (2, 'a'), (3, 'b')) AS t(n, name)";

    #[tokio::test]
    async fn page_sorts_and_counts() {
        let (_directory, data) = data().await;
        let paging = Paging {
            page: 1,
            page_size: 2,
            sort: Some("name".to_owned()),
            order: Order::Descending,
        };
        let page = data.page(NUMBERS, &paging).await.unwrap();
        assert_eq!(page.total, 3);
        assert_eq!(page.columns, ["n", "name"]);
        let names: Vec<&str> = page
            .rows
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["c", "b"]);
    }

    #[test]
    fn partition_values_skip_escaped_and_missing() {
        let directory = tempfile::tempdir().unwrap();
        for path in [
            "eventday=20260501/accountid=111122223333/region=us-east-1",
            "eventday=20260502/accountid=444455556666/region=eu-west-1",
            "eventday=20260502/accountid=__HIVE_DEFAULT_PARTITION__/region=us-west-2",
            "eventday=20260502/accountid=a%2Fb/region=eu-central-1",
        ] {
            std::fs::create_dir_all(directory.path().join(path)).unwrap();
        }
        let (accounts, regions) = partition_values(directory.path());
        assert_eq!(
            accounts.into_iter().collect::<Vec<_>>(),
            ["111122223333", "444455556666"]
        );
        assert_eq!(
            regions.into_iter().collect::<Vec<_>>(),
            ["eu-central-1", "eu-west-1", "us-east-1", "us-west-2"]
        );
    }

    #[tokio::test]
    async fn unknown_sort_column_rejected() {
        let (_directory, data) = data().await;
        let params = Params::parse(Some("sort=n%22%20--"));
        let paging = Paging::parse(&params).unwrap();
        let error = data.page(NUMBERS, &paging).await.unwrap_err();
        assert!(matches!(error, ServeError::Invalid(_)), "{error}");
    }
}
