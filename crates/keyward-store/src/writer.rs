//! Buffered, de-duplicating writes of events into the store.
//!
//! Events are grouped by partition in memory and written as one Parquet
//! file per partition when the buffer reaches its size limit, and at the
//! end. A duplicate delivery always falls into the same partition as the
//! first (same time, account and Region), so de-duplication only needs the
//! keys of the partitions being written, never of the whole store.

use std::collections::{BTreeMap, HashMap, HashSet};

use keyward_cloudtrail::{NameBinding, name_bindings};
use tracing::debug;

use crate::Store;
use crate::error::Result;
use crate::files::{parquet_files, read_event_keys, write_parquet_atomic};
use crate::manifest::{ManifestEntry, entries_to_batch};
use crate::partition::Partition;
use crate::schema::{StoredEvent, events_to_batch, names_to_batch};

/// Buffered bytes of events that trigger a write.
const DEFAULT_FLUSH_BYTES: usize = 48 << 20;

/// Event keys cached across writes before the cache is dropped; each costs
/// about 32 bytes.
const MAX_CACHED_KEYS: usize = 1_500_000;

/// Counts of one writer's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Events written.
    pub stored: u64,
    /// Events dropped because the store or this run already had them.
    pub duplicates: u64,
    /// Parquet files written.
    pub files: u64,
}

/// Writes events into a store. Nothing reaches the store before
/// [`EventWriter::flush`] or [`EventWriter::finish`].
pub struct EventWriter<'a> {
    store: &'a Store,
    run_id: String,
    sequence: u64,
    buffers: BTreeMap<Partition, Vec<StoredEvent>>,
    buffered_bytes: usize,
    flush_bytes: usize,
    names: Vec<NameBinding>,
    pending_sources: Vec<ManifestEntry>,
    known: HashMap<Partition, HashSet<u128>>,
    known_count: usize,
    stats: WriteStats,
}

impl<'a> EventWriter<'a> {
    pub(crate) fn new(store: &'a Store, run_id: String) -> Self {
        Self {
            store,
            run_id,
            sequence: 0,
            buffers: BTreeMap::new(),
            buffered_bytes: 0,
            flush_bytes: DEFAULT_FLUSH_BYTES,
            names: Vec::new(),
            pending_sources: Vec::new(),
            known: HashMap::new(),
            known_count: 0,
            stats: WriteStats::default(),
        }
    }

    /// Sets the buffered size, in bytes, at which events are written.
    pub fn with_flush_bytes(mut self, bytes: usize) -> Self {
        self.flush_bytes = bytes.max(1);
        self
    }

    /// Adds an event, writing buffered events when the buffer is full.
    pub fn push(&mut self, stored: StoredEvent) -> Result<()> {
        self.names.extend(name_bindings(&stored.event));
        self.buffered_bytes += stored.approximate_size();
        self.buffers
            .entry(Partition::of(&stored.event))
            .or_default()
            .push(stored);
        if self.buffered_bytes >= self.flush_bytes {
            self.flush()?;
        }
        Ok(())
    }

    /// Records that a source was read in full. Its manifest entry is written
    /// with the next flush, after the events pushed before it.
    pub fn source_done(&mut self, entry: ManifestEntry) {
        self.pending_sources.push(entry);
    }

    /// Writes every buffered event, then the manifest entries of the sources
    /// finished so far.
    pub fn flush(&mut self) -> Result<()> {
        let buffers = std::mem::take(&mut self.buffers);
        self.buffered_bytes = 0;
        for (partition, events) in buffers {
            self.write_partition(&partition, events)?;
        }
        self.write_names()?;
        self.write_manifest()?;
        if self.known_count > MAX_CACHED_KEYS {
            debug!(
                keys = self.known_count,
                "dropping the cache of stored event keys"
            );
            self.known.clear();
            self.known_count = 0;
        }
        Ok(())
    }

    /// Writes everything buffered and returns the counts.
    pub fn finish(mut self) -> Result<WriteStats> {
        self.flush()?;
        Ok(self.stats)
    }

    fn next_file_name(&mut self, prefix: &str) -> String {
        self.sequence += 1;
        format!("{prefix}-{}-{:05}.parquet", self.run_id, self.sequence)
    }

    fn write_partition(&mut self, partition: &Partition, events: Vec<StoredEvent>) -> Result<()> {
        let directory = self.store.events_dir().join(partition.relative_path());
        if !self.known.contains_key(partition) {
            let mut keys = HashSet::new();
            for file in parquet_files(&directory)? {
                read_event_keys(&file, &mut keys)?;
            }
            self.known_count += keys.len();
            self.known.insert(partition.clone(), keys);
        }
        let known = self.known.entry(partition.clone()).or_default();
        let before = events.len();
        let mut fresh: Vec<StoredEvent> = events
            .into_iter()
            .filter(|stored| known.insert(stored.event.key))
            .collect();
        self.known_count += fresh.len();
        self.stats.duplicates += (before - fresh.len()) as u64;
        if fresh.is_empty() {
            return Ok(());
        }
        fresh.sort_by_key(|stored| stored.event.time);
        let batch = events_to_batch(&fresh)?;
        let path = directory.join(self.next_file_name("part"));
        write_parquet_atomic(&batch, &path, &self.store.temp_dir())?;
        debug!(path = %path.display(), events = fresh.len(), "wrote events");
        self.stats.stored += fresh.len() as u64;
        self.stats.files += 1;
        Ok(())
    }

    fn write_names(&mut self) -> Result<()> {
        if self.names.is_empty() {
            return Ok(());
        }
        let names = std::mem::take(&mut self.names);
        let batch = names_to_batch(&names)?;
        let path = self.store.names_dir().join(self.next_file_name("names"));
        write_parquet_atomic(&batch, &path, &self.store.temp_dir())
    }

    fn write_manifest(&mut self) -> Result<()> {
        if self.pending_sources.is_empty() {
            return Ok(());
        }
        let entries = std::mem::take(&mut self.pending_sources);
        let batch = entries_to_batch(&entries)?;
        let path = self
            .store
            .manifest_dir()
            .join(self.next_file_name("manifest"));
        write_parquet_atomic(&batch, &path, &self.store.temp_dir())
    }
}
