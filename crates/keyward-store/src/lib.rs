//! The keyward store: a folder of Parquet tables that DataFusion queries.
//!
//! ```text
//! STORE/
//!   keyward-store.json         format version
//!   events/eventday=YYYYMMDD/accountid=ID/region=NAME/part-*.parquet
//!   names/names-*.parquet      aliases and secret names seen in events
//!   manifest/manifest-*.parquet  source files already ingested
//!   inventory/TABLE/SCAN_ID.parquet  what each scan read, `scans` last
//!   findings/RUN_ID.parquet    what each `keyward check` found
//!   checks/RUN_ID.parquet      the check runs, each written after its findings
//!   .tmp/                      files being written
//! ```
//!
//! Every file is written whole and renamed into place, so readers never see
//! a partial file, and a crash leaves the store as it was or with whole
//! files added. Only one writer works on a store at a time, under a lock.

#![deny(missing_docs)]

mod batch;
mod error;
mod files;
pub mod findings;
pub mod inventory;
mod manifest;
mod partition;
pub mod query;
mod schema;
mod writer;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

pub use batch::{EventBatch, EventBatchBuilder, EventRows};
pub use error::{Result, StoreError, error_chain_text};
pub use manifest::{Manifest, ManifestEntry};
pub use partition::{Partition, escape_value, is_plain_value};
pub use schema::{EVENT_SCHEMA, MANIFEST_SCHEMA, NAME_SCHEMA, StoredEvent};
pub use writer::{EventWriter, WriteStats};

/// The store format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

const FORMAT_FILE: &str = "keyward-store.json";

/// A store folder.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// The exclusive right to write a store, held until dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl Store {
    /// Opens the store at `root`, creating it when the folder is missing or
    /// empty.
    pub fn create_or_open(root: impl Into<PathBuf>) -> Result<Self> {
        let store = Self { root: root.into() };
        store.check_not_a_file()?;
        fs::create_dir_all(&store.root).map_err(|e| StoreError::io("create", &store.root, e))?;
        let format_path = store.root.join(FORMAT_FILE);
        if !format_path.exists() {
            let text = format!("{{\"format\": {FORMAT_VERSION}}}\n");
            fs::write(&format_path, text).map_err(|e| StoreError::io("write", &format_path, e))?;
        }
        store.check_format()?;
        Ok(store)
    }

    /// Opens the store at `root` for reading, or returns `None` when the
    /// folder contains no store. Fails when `root` is a file.
    pub fn open_if_exists(root: impl Into<PathBuf>) -> Result<Option<Self>> {
        let store = Self { root: root.into() };
        store.check_not_a_file()?;
        if !store.root.join(FORMAT_FILE).exists() {
            return Ok(None);
        }
        store.check_format()?;
        Ok(Some(store))
    }

    fn check_not_a_file(&self) -> Result<()> {
        if self.root.exists() && !self.root.is_dir() {
            return Err(StoreError::Invalid(format!(
                "{} is not a folder; the store is a folder of Parquet files",
                self.root.display()
            )));
        }
        Ok(())
    }

    /// Opens an existing store for reading.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let store = Self { root: root.into() };
        if !store.root.join(FORMAT_FILE).exists() {
            return Err(StoreError::Invalid(format!(
                "no keyward store at {}; run `keyward ingest` first or pass --store",
                store.root.display()
            )));
        }
        store.check_format()?;
        Ok(store)
    }

    fn check_format(&self) -> Result<()> {
        let path = self.root.join(FORMAT_FILE);
        let text = fs::read_to_string(&path).map_err(|e| StoreError::io("read", &path, e))?;
        let found = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|value| value.get("format")?.as_u64());
        if found == Some(u64::from(FORMAT_VERSION)) {
            return Ok(());
        }
        Err(StoreError::Format {
            path: self.root.clone(),
            found: found.map_or_else(|| "unknown".to_owned(), |f| f.to_string()),
            expected: FORMAT_VERSION,
        })
    }

    /// Takes the store's write lock and removes files a crashed writer left
    /// half-written.
    pub fn lock(&self) -> Result<StoreLock> {
        let path = self.root.join(".lock");
        let file = File::create(&path).map_err(|e| StoreError::io("create", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(self.root.clone())),
            Err(fs::TryLockError::Error(error)) => {
                return Err(StoreError::io("lock", &path, error));
            }
        }
        let temp = self.temp_dir();
        if temp.exists() {
            fs::remove_dir_all(&temp).map_err(|e| StoreError::io("clean", &temp, e))?;
        }
        fs::create_dir_all(&temp).map_err(|e| StoreError::io("create", &temp, e))?;
        Ok(StoreLock { _file: file })
    }

    /// Returns the store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Root of the `events` table.
    pub fn events_dir(&self) -> PathBuf {
        self.root.join("events")
    }

    /// Root of the `names` table.
    pub fn names_dir(&self) -> PathBuf {
        self.root.join("names")
    }

    /// Root of the `manifest` table.
    pub fn manifest_dir(&self) -> PathBuf {
        self.root.join("manifest")
    }

    /// Folder for files being written.
    pub fn temp_dir(&self) -> PathBuf {
        self.root.join(".tmp")
    }

    /// Loads the manifest of ingested sources.
    pub fn manifest(&self) -> Result<Manifest> {
        Manifest::load(&self.manifest_dir())
    }

    /// Starts writing events. Hold [`Store::lock`] while writing.
    pub fn writer(&self, run_id: impl Into<String>) -> EventWriter<'_> {
        EventWriter::new(self, run_id.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_as_store_rejected() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("store");
        fs::write(&file, "not a store").unwrap();

        let error = Store::create_or_open(&file).unwrap_err().to_string();
        let read_error = Store::open_if_exists(&file).unwrap_err().to_string();

        assert!(error.contains("is not a folder"), "{error}");
        assert!(read_error.contains("is not a folder"), "{read_error}");
    }

    #[test]
    fn folder_without_store_opens_as_none() {
        let directory = tempfile::tempdir().unwrap();

        let store = Store::open_if_exists(directory.path()).unwrap();

        assert!(store.is_none());
        assert!(fs::read_dir(directory.path()).unwrap().next().is_none());
    }
}
