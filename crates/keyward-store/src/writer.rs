//! Buffered, de-duplicating writes of events into the store.
//!
//! Events are grouped by partition in memory, mostly as record batches that
//! reader threads built. A background thread writes them, one Parquet file
//! per partition and hand-off, while the caller goes on reading.
//!
//! A partition is handed off once no event has reached it for a while.
//! CloudTrail's delivery layout keeps the files of one account, Region and
//! day together, so a walk of the tree leaves each partition behind in
//! turn. Every partition is handed off when the buffer is full and at the
//! end. The partitions of that last hand-off are written on several
//! threads, because reading has ended and its cores are free.
//!
//! A duplicate delivery always falls into the same partition as the first
//! (same time, account and Region), so de-duplication only needs the keys of
//! the partitions being written, never of the whole store.
//!
//! A source's manifest entry is written only after every event pushed
//! before it, so that a crash leaves the source to be read again rather
//! than marked done with events missing.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use datafusion::arrow::array::{AsArray, RecordBatch};
use keyward_cloudtrail::{NameBinding, name_bindings};
use std::sync::mpsc::{SyncSender, sync_channel};
use tracing::{debug, warn};

use crate::Store;
use crate::batch::{EventBatch, Selected, event_keys, merge_by_time};
use crate::error::{Result, StoreError};
use crate::files::{
    PendingFile, commit_files, parquet_files, read_columns, read_event_keys, write_parquet_atomic,
    write_pending,
};
use crate::manifest::{ManifestEntry, entries_to_batch};
use crate::partition::Partition;
use crate::schema::{EVENT_SCHEMA, StoredEvent, events_to_batch, names_to_batch};

/// Buffered bytes of events that trigger a hand-off of every partition.
const DEFAULT_FLUSH_BYTES: usize = 24 << 20;

/// Events pushed elsewhere after which a partition counts as finished and
/// is handed off.
const IDLE_EVENTS: u64 = 8192;

/// Events pushed between two checks for finished partitions.
const IDLE_CHECK_EVENTS: u64 = 1024;

/// Number of events converted to Arrow, or merged in time order, at a time.
const ENCODE_ROWS: usize = 4096;

/// Names gathered before they are written without waiting for a full
/// hand-off.
const MAX_PENDING_NAMES: usize = 100_000;

/// Manifest entries gathered before they are written without waiting for a
/// full hand-off.
const MAX_PENDING_SOURCES: usize = 1000;

/// Name of the column that gives each event's source file.
const SOURCE_FILE_COLUMN: &str = "source_file";

/// Event keys cached across writes before the cache is dropped; each costs
/// about 32 bytes.
const MAX_CACHED_KEYS: usize = 1_500_000;

/// Name bindings remembered across writes before they are forgotten. Each
/// costs an estimated few hundred bytes.
const MAX_CACHED_NAMES: usize = 100_000;

/// A name binding without its time: account, Region, reference, target.
type NameKey = (String, String, String, String);

/// The earliest and latest times at which a name binding was seen, in
/// microseconds since the epoch.
type TimeRange = (i64, i64);

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

/// Events of one partition waiting to be handed off.
#[derive(Default)]
struct Buffer {
    /// Events pushed as record batches.
    batches: Vec<RecordBatch>,
    /// Events pushed one at a time, converted to Arrow at hand-off.
    events: Vec<StoredEvent>,
    bytes: usize,
    /// Sequence number of the first event in the buffer.
    first: u64,
    /// Sequence number of the last event in the buffer.
    last: u64,
}

/// Work for the background thread, done in order: events, then names, then
/// manifest entries.
struct Job {
    partitions: Vec<(Partition, Vec<RecordBatch>)>,
    names: Vec<NameBinding>,
    sources: Vec<ManifestEntry>,
    /// Whether this job empties the buffer, after which the names and
    /// manifest entries gathered so far are written.
    everything: bool,
    /// Whether this is the last job, sent once reading has ended, whose
    /// partitions are then written on several threads.
    last: bool,
}

/// Writes events into a store. Nothing is sure to be in the store before
/// [`EventWriter::finish`] returns.
pub struct EventWriter<'a> {
    store: &'a Store,
    run_id: String,
    buffers: BTreeMap<Partition, Buffer>,
    buffered_bytes: usize,
    flush_bytes: usize,
    /// Events pushed so far; the next event's sequence number.
    pushed: u64,
    names: Vec<NameBinding>,
    /// Finished sources, each with the number of events pushed before it.
    pending_sources: Vec<(u64, ManifestEntry)>,
    background: Option<Background>,
    /// Whether the next hand-off is the last, which [`EventWriter::finish`]
    /// sends.
    last: bool,
}

struct Background {
    jobs: SyncSender<Job>,
    thread: JoinHandle<Result<WriteStats>>,
}

impl<'a> EventWriter<'a> {
    pub(crate) fn new(store: &'a Store, run_id: String) -> Self {
        Self {
            store,
            run_id,
            buffers: BTreeMap::new(),
            buffered_bytes: 0,
            flush_bytes: DEFAULT_FLUSH_BYTES,
            pushed: 0,
            names: Vec::new(),
            pending_sources: Vec::new(),
            background: None,
            last: false,
        }
    }

    /// Sets the buffered size, in bytes, at which every partition is
    /// handed off.
    pub fn with_flush_bytes(mut self, bytes: usize) -> Self {
        self.flush_bytes = bytes.max(1);
        self
    }

    /// Adds an event, handing off buffered events when the buffer is full
    /// or a partition has been left behind.
    pub fn push(&mut self, stored: StoredEvent) -> Result<()> {
        let sequence = self.pushed;
        self.pushed += 1;
        self.names.extend(name_bindings(&stored.event));
        let bytes = stored.approximate_size();
        let buffer = self.buffer(Partition::of(&stored.event), sequence, bytes);
        buffer.events.push(stored);
        self.after_push(sequence)
    }

    /// Adds a batch of events, handing off buffered events when the buffer
    /// is full or a partition has been left behind.
    pub fn push_batch(&mut self, batch: EventBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let first = self.pushed;
        self.pushed += batch.len() as u64;
        self.names.extend(batch.names);
        let bytes = batch.batch.get_array_memory_size();
        let buffer = self.buffer(batch.partition, first, bytes);
        buffer.batches.push(batch.batch);
        self.after_push(first)
    }

    /// Returns a partition's buffer, counting `bytes` more in it and the
    /// events up to the last one pushed, which started at `first`.
    fn buffer(&mut self, partition: Partition, first: u64, bytes: usize) -> &mut Buffer {
        self.buffered_bytes += bytes;
        let buffer = self.buffers.entry(partition).or_insert_with(|| Buffer {
            first,
            ..Buffer::default()
        });
        buffer.bytes += bytes;
        buffer.last = self.pushed - 1;
        buffer
    }

    /// Hands off buffered events when the buffer is full, or when the push
    /// that started at sequence number `first` passed a check for
    /// partitions left behind.
    fn after_push(&mut self, first: u64) -> Result<()> {
        if self.buffered_bytes >= self.flush_bytes {
            self.hand_off(true, |_| true)?;
        } else if first / IDLE_CHECK_EVENTS != self.pushed / IDLE_CHECK_EVENTS {
            let now = self.pushed;
            self.hand_off(false, |buffer| buffer.last + IDLE_EVENTS < now)?;
        }
        Ok(())
    }

    /// Records that a source was read in full. Its manifest entry is
    /// written after every event pushed before this call.
    pub fn source_done(&mut self, entry: ManifestEntry) {
        self.pending_sources.push((self.pushed, entry));
    }

    /// Writes everything buffered, waits for the background thread and
    /// returns the counts.
    pub fn finish(mut self) -> Result<WriteStats> {
        self.last = true;
        self.hand_off(true, |_| true)?;
        match self.background.take() {
            Some(background) => {
                drop(background.jobs);
                join(background.thread)
            }
            None => Ok(WriteStats::default()),
        }
    }

    /// Sends the partitions that `select` picks to the background thread,
    /// with the names found so far and the manifest entries whose events
    /// have all been sent.
    fn hand_off(&mut self, everything: bool, select: impl Fn(&Buffer) -> bool) -> Result<()> {
        let chosen: Vec<Partition> = self
            .buffers
            .iter()
            .filter(|(_, buffer)| select(buffer))
            .map(|(partition, _)| partition.clone())
            .collect();
        let mut partitions = Vec::with_capacity(chosen.len());
        for partition in chosen {
            if let Some(buffer) = self.buffers.remove(&partition) {
                self.buffered_bytes -= buffer.bytes;
                let mut batches = buffer.batches;
                append_events(&mut batches, buffer.events)?;
                partitions.push((partition, batches));
            }
        }
        let oldest_buffered = self
            .buffers
            .values()
            .map(|buffer| buffer.first)
            .min()
            .unwrap_or(u64::MAX);
        let ready = self
            .pending_sources
            .iter()
            .take_while(|(pushed_before, _)| *pushed_before <= oldest_buffered)
            .count();
        let sources: Vec<ManifestEntry> = self
            .pending_sources
            .drain(..ready)
            .map(|(_, entry)| entry)
            .collect();
        if partitions.is_empty() && sources.is_empty() && !everything {
            return Ok(());
        }
        let job = Job {
            partitions,
            names: std::mem::take(&mut self.names),
            sources,
            everything,
            last: self.last,
        };
        self.send(job)
    }

    fn send(&mut self, job: Job) -> Result<()> {
        if self.background.is_none() {
            self.background = Some(self.start_background()?);
        }
        let Some(background) = &self.background else {
            return Ok(());
        };
        if background.jobs.send(job).is_ok() {
            return Ok(());
        }
        // The thread stopped on an error; it returns it when joined.
        match self.background.take() {
            Some(background) => join(background.thread).and(Err(StoreError::Invalid(
                "the store writer thread stopped before the end of the run".to_owned(),
            ))),
            None => Ok(()),
        }
    }

    fn start_background(&self) -> Result<Background> {
        // A job is handed over only when the writer thread is free, so at
        // most the buffer being filled and one job are in memory.
        let (jobs, receiver) = sync_channel::<Job>(0);
        let mut files = FileWriter {
            store: self.store.clone(),
            run_id: self.run_id.clone(),
            sequence: 0,
            names: Vec::new(),
            sources: Vec::new(),
            known: HashMap::new(),
            known_count: 0,
            written_names: HashMap::new(),
            written_alias_times: HashSet::new(),
            stored_names_read: false,
            stats: WriteStats::default(),
        };
        let thread = std::thread::Builder::new()
            .name("keyward-store-writer".to_owned())
            .spawn(move || {
                for job in receiver {
                    files.write(job)?;
                }
                Ok(files.stats)
            })
            .map_err(|error| {
                StoreError::Invalid(format!("failed to start a writer thread: {error}"))
            })?;
        Ok(Background { jobs, thread })
    }
}

/// Events of one partition to write to a new file.
struct EventFile {
    path: PathBuf,
    batches: Vec<Selected>,
    events: usize,
}

/// Maximum number of threads that write the last job's files.
const MAX_FINAL_WORKERS: usize = 4;

/// Returns the number of threads that write the last job's files: one per
/// core, at most [`MAX_FINAL_WORKERS`].
fn final_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_FINAL_WORKERS)
}

/// Writes each file on one of `workers` threads, the calling thread
/// included, largest first. Returns the events and files written, or, once
/// every thread has stopped, the error of a thread that failed.
fn write_event_files(
    mut files: Vec<EventFile>,
    workers: usize,
    temp_dir: &Path,
) -> Result<(u64, u64)> {
    files.sort_by_key(|file| std::cmp::Reverse(file.events));
    let workers = workers.min(files.len()).max(1);
    let queue = Mutex::new(files.into_iter());
    let written = Mutex::new(Vec::new());
    // Every worker stops after the file it is writing once one has failed,
    // since the job fails whole.
    let failed = AtomicBool::new(false);
    let drain = || -> Result<u64> {
        let mut stored = 0;
        while !failed.load(Ordering::Relaxed)
            && let Some(file) = queue.lock().ok().and_then(|mut files| files.next())
        {
            let (events, pending) = write_event_file(file, temp_dir)
                .inspect_err(|_| failed.store(true, Ordering::Relaxed))?;
            stored += events;
            written
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(pending);
        }
        Ok(stored)
    };
    let stored = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers)
            .filter_map(|worker| {
                std::thread::Builder::new()
                    .name(format!("keyward-store-w{worker}"))
                    .spawn_scoped(scope, drain)
                    .ok()
            })
            .collect();
        let mut total = drain();
        for helper in helpers {
            let stored = helper.join().unwrap_or_else(|_| {
                Err(StoreError::Invalid(
                    "a store writer thread panicked".to_owned(),
                ))
            });
            total = match (total, stored) {
                (Ok(stored), Ok(more)) => Ok(stored + more),
                (Err(error), _) | (_, Err(error)) => Err(error),
            };
        }
        total
    });
    let written = written.into_inner().unwrap_or_else(PoisonError::into_inner);
    let stored = match stored {
        Ok(stored) => stored,
        Err(error) => {
            written.into_iter().for_each(PendingFile::discard);
            return Err(error);
        }
    };
    let files = written.len() as u64;
    commit_files(written, temp_dir)?;
    Ok((stored, files))
}

/// Writes one file of events in time order under `temp_dir`, and returns
/// its event count and the file to commit.
fn write_event_file(file: EventFile, temp_dir: &Path) -> Result<(u64, PendingFile)> {
    let batches = merge_by_time(file.batches, ENCODE_ROWS)?;
    let pending = write_pending(EVENT_SCHEMA.clone(), batches, &file.path, temp_dir)?;
    debug!(path = %file.path.display(), events = file.events, "wrote events");
    Ok((file.events as u64, pending))
}

/// Reports whether a name binding's reference is an alias ARN.
fn is_alias(reference: &str) -> bool {
    reference.contains(":alias/")
}

/// Returns a mask per batch of the events to write: those whose key is not
/// in `known`, which gains their keys. Of the events of one hand-off that
/// share a key, the one from the first source file by name is kept,
/// whichever thread read it first.
///
/// NOTE: a second delivery handed off after the first is dropped whatever
/// its source file, so across hand-offs the choice still depends on timing.
fn choose_deliveries(batches: &[RecordBatch], known: &mut HashSet<u128>) -> Result<Vec<Vec<bool>>> {
    let mut sources = Vec::with_capacity(batches.len());
    for batch in batches {
        let source = batch
            .column_by_name(SOURCE_FILE_COLUMN)
            .and_then(|column| column.as_string_opt::<i32>())
            .ok_or_else(|| StoreError::Invalid("source_file is not a text column".to_owned()))?;
        sources.push(source);
    }
    let source_of = |(index, row): (usize, usize)| sources[index].value(row);
    let mut keep: Vec<Vec<bool>> = batches
        .iter()
        .map(|batch| vec![false; batch.num_rows()])
        .collect();
    let mut chosen: HashMap<u128, (usize, usize)> = HashMap::new();
    for (index, batch) in batches.iter().enumerate() {
        for (row, key) in event_keys(batch)?.into_iter().enumerate() {
            if known.contains(&key) {
                continue;
            }
            match chosen.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert((index, row));
                    keep[index][row] = true;
                }
                Entry::Occupied(mut slot) => {
                    let first = *slot.get();
                    if source_of((index, row)) < source_of(first) {
                        keep[first.0][first.1] = false;
                        keep[index][row] = true;
                        slot.insert((index, row));
                    }
                }
            }
        }
    }
    known.extend(chosen.into_keys());
    Ok(keep)
}

/// Converts events to record batches sorted by time and appends them to
/// `batches`. Events are freed as they are converted, so that they and
/// their Arrow copy are not both held whole.
fn append_events(batches: &mut Vec<RecordBatch>, mut events: Vec<StoredEvent>) -> Result<()> {
    events.sort_by_key(|stored| stored.event.time);
    let mut rest = events.into_iter();
    loop {
        let chunk: Vec<StoredEvent> = rest.by_ref().take(ENCODE_ROWS).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        batches.push(events_to_batch(&chunk)?);
    }
}

fn join(thread: JoinHandle<Result<WriteStats>>) -> Result<WriteStats> {
    thread.join().unwrap_or_else(|_| {
        Err(StoreError::Invalid(
            "the store writer thread panicked".to_owned(),
        ))
    })
}

/// The background thread's state: encodes and writes Parquet files.
struct FileWriter {
    store: Store,
    run_id: String,
    sequence: u64,
    /// Names waiting to be written, before `sources`.
    names: Vec<NameBinding>,
    /// Manifest entries whose events are all written.
    sources: Vec<ManifestEntry>,
    known: HashMap<Partition, HashSet<u128>>,
    known_count: usize,
    /// Latest time of each name binding that this run wrote.
    written_names: HashMap<NameKey, TimeRange>,
    /// Alias bindings written with each of their times: aliases move
    /// between keys and back, and their events are few, so every time is
    /// kept.
    written_alias_times: HashSet<(NameKey, i64)>,
    /// Whether the bindings already in the store were added to
    /// `written_names`, which the first write of names does.
    stored_names_read: bool,
    stats: WriteStats,
}

impl FileWriter {
    fn write(&mut self, job: Job) -> Result<()> {
        let mut files = Vec::with_capacity(job.partitions.len());
        for (partition, batches) in job.partitions {
            files.extend(self.fresh_events(&partition, batches)?);
        }
        // Readers have ended by the last job, so their cores are free.
        let workers = if job.last { final_workers() } else { 1 };
        let (stored, written) = write_event_files(files, workers, &self.store.temp_dir())?;
        self.stats.stored += stored;
        self.stats.files += written;
        self.names.extend(job.names);
        self.sources.extend(job.sources);
        // Names and manifest entries go out in batches, so that frequent
        // small hand-offs do not make many tiny files.
        if job.everything
            || self.names.len() >= MAX_PENDING_NAMES
            || self.sources.len() >= MAX_PENDING_SOURCES
        {
            let names = std::mem::take(&mut self.names);
            self.write_names(names)?;
            let sources = std::mem::take(&mut self.sources);
            self.write_manifest(sources)?;
        }
        if job.last {
            self.compact_manifest();
        }
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

    fn next_file_name(&mut self, prefix: &str) -> String {
        self.sequence += 1;
        format!("{prefix}-{}-{:05}.parquet", self.run_id, self.sequence)
    }

    /// Returns the events of `batches` that are not in the store yet, with
    /// the path of the file to write them to, or `None` when there are none.
    fn fresh_events(
        &mut self,
        partition: &Partition,
        batches: Vec<RecordBatch>,
    ) -> Result<Option<EventFile>> {
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
        let chosen = choose_deliveries(&batches, known)?;
        let mut fresh: Vec<Selected> = Vec::with_capacity(batches.len());
        let (mut before, mut count) = (0, 0);
        for (batch, keep) in batches.into_iter().zip(chosen) {
            let new_events = keep.iter().filter(|new| **new).count();
            before += keep.len();
            count += new_events;
            if new_events == keep.len() {
                fresh.push((batch, None));
            } else if new_events > 0 {
                fresh.push((batch, Some(keep)));
            }
        }
        self.known_count += count;
        self.stats.duplicates += (before - count) as u64;
        if count == 0 {
            return Ok(None);
        }
        let path = directory.join(self.next_file_name("part"));
        Ok(Some(EventFile {
            path,
            batches: fresh,
            events: count,
        }))
    }

    /// Adds the bindings already in the store to `written_names` with their
    /// earliest and latest times, and alias bindings to `written_alias_times`,
    /// so that a file read again does not add its bindings a second time. Past [`MAX_CACHED_NAMES`] bindings none are kept, and
    /// bindings may then be written again.
    fn read_stored_names(&mut self) -> Result<()> {
        use datafusion::arrow::datatypes::TimestampMicrosecondType;

        const COLUMNS: [&str; 5] = ["account", "region", "reference", "target", "time"];
        for file in parquet_files(&self.store.names_dir())? {
            let batches = read_columns(&file, &COLUMNS).map_err(|error| {
                StoreError::Invalid(format!(
                    "{error}; move this names file out of the store and run the ingest again \
                     (ingest --force of the logs that named its aliases and secrets restores \
                     their bindings)"
                ))
            })?;
            for batch in batches {
                let invalid = || {
                    StoreError::Invalid(format!(
                        "invalid names file {}: unexpected column types",
                        file.display()
                    ))
                };
                let text = |index: usize| {
                    batch
                        .column(index)
                        .as_string_opt::<i32>()
                        .ok_or_else(invalid)
                };
                let (account, region) = (text(0)?, text(1)?);
                let (reference, target) = (text(2)?, text(3)?);
                let times = batch
                    .column(4)
                    .as_primitive_opt::<TimestampMicrosecondType>()
                    .ok_or_else(invalid)?;
                for row in 0..batch.num_rows() {
                    let key = (
                        account.value(row).to_owned(),
                        region.value(row).to_owned(),
                        reference.value(row).to_owned(),
                        target.value(row).to_owned(),
                    );
                    let time = times.value(row);
                    if is_alias(&key.2) {
                        self.written_alias_times.insert((key, time));
                        continue;
                    }
                    let range = self.written_names.entry(key).or_insert((time, time));
                    *range = (range.0.min(time), range.1.max(time));
                }
                if self.written_names.len() + self.written_alias_times.len() > MAX_CACHED_NAMES {
                    self.written_names.clear();
                    self.written_alias_times.clear();
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Writes the bindings that extend what the store has. An alias binding
    /// is written at each time it is seen, because an alias may move between
    /// keys and back many times. A secret name is bound by every call that
    /// names the secret, and never returns to an ARN it left, because a new
    /// secret of the same name gets a new ARN. So each secret binding gets a
    /// row at its earliest and at its latest time, and none between them.
    fn write_names(&mut self, names: Vec<NameBinding>) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        if !self.stored_names_read {
            self.stored_names_read = true;
            self.read_stored_names()?;
        }
        if self.written_names.len() + self.written_alias_times.len() > MAX_CACHED_NAMES {
            self.written_names.clear();
            self.written_alias_times.clear();
        }
        let mut ranges: HashMap<NameKey, TimeRange> = HashMap::new();
        let mut written = Vec::new();
        for name in names {
            let key = (name.account, name.region, name.reference, name.target);
            if is_alias(&key.2) {
                if self.written_alias_times.insert((key.clone(), name.time)) {
                    let (account, region, reference, target) = key;
                    written.push(NameBinding {
                        account,
                        region,
                        reference,
                        target,
                        time: name.time,
                    });
                }
                continue;
            }
            let range = ranges.entry(key).or_insert((name.time, name.time));
            *range = (range.0.min(name.time), range.1.max(name.time));
        }
        let mut names = written;
        for (key, (first, last)) in ranges {
            let (mut write_first, mut write_last) = (true, last != first);
            match self.written_names.get_mut(&key) {
                Some(known) => {
                    write_first = first < known.0;
                    write_last = last > known.1;
                    *known = (known.0.min(first), known.1.max(last));
                }
                None => {
                    self.written_names.insert(key.clone(), (first, last));
                }
            }
            let (account, region, reference, target) = key;
            let binding = |time: i64| NameBinding {
                account: account.clone(),
                region: region.clone(),
                reference: reference.clone(),
                target: target.clone(),
                time,
            };
            if write_first {
                names.push(binding(first));
            }
            if write_last {
                names.push(binding(last));
            }
        }
        if names.is_empty() {
            return Ok(());
        }
        names.sort_unstable_by(|a, b| {
            (&a.account, &a.region, &a.reference, a.time).cmp(&(
                &b.account,
                &b.region,
                &b.reference,
                b.time,
            ))
        });
        let batch = names_to_batch(&names)?;
        let path = self.store.names_dir().join(self.next_file_name("names"));
        write_parquet_atomic(&batch, &path, &self.store.temp_dir())
    }

    /// Merges the manifest's segments once there are many. A failure leaves
    /// the manifest readable, so it is logged and the write goes on.
    fn compact_manifest(&mut self) {
        let file_name = self.next_file_name("manifest");
        let dir = self.store.manifest_dir();
        match crate::manifest::compact(&dir, &self.store.temp_dir(), &file_name) {
            Ok(true) => debug!(folder = %dir.display(), "merged the manifest's segments"),
            Ok(false) => {}
            Err(error) => warn!(%error, "failed to merge the manifest's segments"),
        }
    }

    fn write_manifest(&mut self, entries: Vec<ManifestEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let batch = entries_to_batch(&entries)?;
        let path = self
            .store
            .manifest_dir()
            .join(self.next_file_name("manifest"));
        write_parquet_atomic(&batch, &path, &self.store.temp_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventBatchBuilder;
    use crate::schema::decrypt_event;
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn entry(source: &str) -> ManifestEntry {
        ManifestEntry {
            source: source.to_owned(),
            fingerprint: "f".to_owned(),
            ingested_at: 0,
            records: 1,
            events: 1,
        }
    }

    /// Builds a `GetSecretValue` event at `time` that names secret `db` by
    /// name in the request and by ARN in `resources[]`, so it binds the two.
    fn secret_read(key: u128, time: i64) -> StoredEvent {
        let mut read = decrypt_event(key, "111111111111");
        read.event.service = "secretsmanager.amazonaws.com".into();
        read.event.operation = "GetSecretValue".into();
        read.event.time = time;
        read.event.resource_arns =
            vec!["arn:aws:secretsmanager:us-east-1:111111111111:secret:db-AbCdEf".to_owned()];
        read.event.request_resource_id = Some("db".to_owned());
        read
    }

    /// Returns the times of every row of the store's names table, sorted.
    fn name_times(store: &Store) -> Vec<i64> {
        let mut rows = Vec::new();
        for file in parquet_files(&store.names_dir()).unwrap() {
            let reader = std::fs::File::open(&file).unwrap();
            let batches = ParquetRecordBatchReaderBuilder::try_new(reader)
                .unwrap()
                .build()
                .unwrap();
            for batch in batches {
                let batch = batch.unwrap();
                let time = batch.column_by_name("time").unwrap();
                let time = time.as_any().downcast_ref::<TimestampMicrosecondArray>();
                rows.extend(time.unwrap().values().iter().copied());
            }
        }
        rows.sort_unstable();
        rows
    }

    fn partition(account: &str) -> Partition {
        Partition::of(&decrypt_event(0, account).event)
    }

    /// Pushes enough events into `account` for every other partition to
    /// count as left behind.
    fn push_past_idle(writer: &mut EventWriter<'_>, account: &str, first_key: u128) {
        let count = IDLE_EVENTS + IDLE_CHECK_EVENTS;
        for key in first_key..first_key + u128::from(count) {
            writer.push(decrypt_event(key, account)).unwrap();
        }
    }

    #[test]
    fn left_behind_partition_is_written_with_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path()).unwrap();
        let _lock = store.lock().unwrap();
        let mut writer = store.writer("run");
        for key in 0..10 {
            writer.push(decrypt_event(key, "111111111111")).unwrap();
        }
        writer.source_done(entry("a.json"));
        push_past_idle(&mut writer, "222222222222", 100);

        assert!(!writer.buffers.contains_key(&partition("111111111111")));
        assert!(writer.buffers.contains_key(&partition("222222222222")));
        assert!(writer.pending_sources.is_empty());

        let stats = writer.finish().unwrap();
        assert_eq!(stats.stored, 10 + IDLE_EVENTS + IDLE_CHECK_EVENTS);
        assert!(store.manifest().unwrap().contains("a.json", "f"));
    }

    #[test]
    fn source_waits_for_older_events_still_buffered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path()).unwrap();
        let _lock = store.lock().unwrap();
        let mut writer = store.writer("run");
        writer.push(decrypt_event(1, "111111111111")).unwrap();
        writer.push(decrypt_event(2, "222222222222")).unwrap();
        writer.source_done(entry("a.json"));
        push_past_idle(&mut writer, "222222222222", 100);

        // The first account's events were handed off, but one event pushed
        // before the source finished is still in the second's buffer.
        assert!(!writer.buffers.contains_key(&partition("111111111111")));
        assert_eq!(writer.pending_sources.len(), 1);

        writer.finish().unwrap();
        assert!(store.manifest().unwrap().contains("a.json", "f"));
    }

    #[test]
    fn duplicate_after_hand_off_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path()).unwrap();
        let _lock = store.lock().unwrap();
        let mut writer = store.writer("run");
        writer.push(decrypt_event(1, "111111111111")).unwrap();
        push_past_idle(&mut writer, "222222222222", 100);
        writer.push(decrypt_event(1, "111111111111")).unwrap();

        let stats = writer.finish().unwrap();
        assert_eq!(stats.duplicates, 1);
        assert_eq!(stats.stored, 1 + IDLE_EVENTS + IDLE_CHECK_EVENTS);
    }

    /// Returns the source file of every event stored for account
    /// 111111111111.
    fn stored_sources(store: &Store) -> Vec<String> {
        let directory = store
            .events_dir()
            .join(partition("111111111111").relative_path());
        let mut sources = Vec::new();
        for file in parquet_files(&directory).unwrap() {
            let file = std::fs::File::open(file).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let column = batch.column_by_name(SOURCE_FILE_COLUMN).unwrap();
                sources.extend(
                    column
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(str::to_owned),
                );
            }
        }
        sources
    }

    #[test]
    fn second_delivery_chosen_by_source_file() {
        let event = decrypt_event(1, "111111111111").event;
        let other = decrypt_event(2, "111111111111").event;
        for sources in [["b.json", "a.json"], ["a.json", "b.json"]] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::create_or_open(dir.path()).unwrap();
            let _lock = store.lock().unwrap();
            let mut writer = store.writer("run");
            for source in sources {
                let mut builder = EventBatchBuilder::new(4);
                builder.push(&event, source);
                builder.push(&other, source);
                for batch in builder.finish().unwrap() {
                    writer.push_batch(batch).unwrap();
                }
            }
            let stats = writer.finish().unwrap();

            assert_eq!(stats.duplicates, 2);
            assert_eq!(stored_sources(&store), ["a.json", "a.json"]);
        }
    }

    #[test]
    fn last_partitions_written_on_several_threads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path()).unwrap();
        let _lock = store.lock().unwrap();
        let mut writer = store.writer("run");
        let accounts = 2 * MAX_FINAL_WORKERS + 1;
        for account in 0..accounts {
            for key in 0..3 {
                let key = (account * 10 + key) as u128;
                writer
                    .push(decrypt_event(key, &format!("{account:012}")))
                    .unwrap();
            }
        }
        let stats = writer.finish().unwrap();

        assert_eq!(stats.files, accounts as u64);
        assert_eq!(stats.stored, 3 * accounts as u64);
        for account in 0..accounts {
            let directory = store
                .events_dir()
                .join(partition(&format!("{account:012}")).relative_path());
            assert_eq!(parquet_files(&directory).unwrap().len(), 1, "{account}");
        }
    }

    #[test]
    fn large_partition_is_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path()).unwrap();
        let _lock = store.lock().unwrap();
        let mut writer = store.writer("run");
        let count = 2 * ENCODE_ROWS + 1;
        for key in 0..count as u128 {
            writer.push(decrypt_event(key, "111111111111")).unwrap();
        }
        let stats = writer.finish().unwrap();
        assert_eq!((stats.stored, stats.files), (count as u64, 1));

        let mut keys = HashSet::new();
        let directory = store
            .events_dir()
            .join(partition("111111111111").relative_path());
        for file in parquet_files(&directory).unwrap() {
            read_event_keys(&file, &mut keys).unwrap();
        }
        assert_eq!(keys.len(), count);
    }

    #[test]
    fn repeated_name_keeps_first_and_latest_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path()).unwrap();
        let _lock = store.lock().unwrap();
        let mut writer = store.writer("run");
        for (key, time) in [(1, 3_000_000), (2, 1_000_000), (3, 2_000_000)] {
            writer.push(secret_read(key, time)).unwrap();
        }
        writer.finish().unwrap();

        assert_eq!(name_times(&store), [1_000_000, 3_000_000]);
    }

    #[test]
    fn name_seen_again_written_only_outside_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path()).unwrap();
        let _lock = store.lock().unwrap();
        // A one-byte buffer hands off, names included, after every event.
        let mut writer = store.writer("run").with_flush_bytes(1);
        for (key, time) in [
            (1, 2_000_000),
            (2, 1_000_000),
            (3, 2_000_000),
            (4, 3_000_000),
        ] {
            writer.push(secret_read(key, time)).unwrap();
        }
        writer.finish().unwrap();

        assert_eq!(name_times(&store), [1_000_000, 2_000_000, 3_000_000]);
    }

    #[test]
    fn stored_name_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path()).unwrap();
        let _lock = store.lock().unwrap();
        for (run, key, time) in [("one", 1, 2_000_000), ("two", 2, 2_000_000)] {
            let mut writer = store.writer(run.to_owned());
            writer.push(secret_read(key, time)).unwrap();
            writer.finish().unwrap();
        }
        assert_eq!(name_times(&store), [2_000_000]);

        let mut writer = store.writer("three".to_owned());
        writer.push(secret_read(3, 3_000_000)).unwrap();
        writer.finish().unwrap();
        assert_eq!(name_times(&store), [2_000_000, 3_000_000]);
    }

    #[test]
    fn damaged_names_file_named_with_next_step() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path()).unwrap();
        let _lock = store.lock().unwrap();
        let mut writer = store.writer("one");
        writer.push(secret_read(1, 1_000_000)).unwrap();
        writer.finish().unwrap();
        let names = parquet_files(&store.names_dir()).unwrap().remove(0);
        std::fs::write(&names, b"not a Parquet file").unwrap();

        let mut writer = store.writer("two");
        writer.push(secret_read(2, 2_000_000)).unwrap();
        let error = writer.finish().unwrap_err().to_string();

        assert!(error.contains(&names.display().to_string()), "{error}");
        assert!(error.contains("move this names file out"), "{error}");
    }

    #[test]
    fn full_buffer_hands_off_every_partition() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path()).unwrap();
        let _lock = store.lock().unwrap();
        let mut writer = store.writer("run").with_flush_bytes(1);
        writer.push(decrypt_event(1, "111111111111")).unwrap();
        assert!(writer.buffers.is_empty());
        writer.source_done(entry("a.json"));
        let stats = writer.finish().unwrap();
        assert_eq!((stats.stored, stats.files), (1, 1));
        assert!(store.manifest().unwrap().contains("a.json", "f"));
    }
}
