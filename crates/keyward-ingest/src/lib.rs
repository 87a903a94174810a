//! CloudTrail ingest: reads log files from disk and S3 in parallel and
//! writes the events of the kept services into the store. The files are
//! CloudTrail's own, or OCSF in Parquet or JSON as Amazon Security Lake
//! stores CloudTrail management events.
//!
//! Worker threads read and parse files. The calling thread converts their
//! events to Arrow and hands them to the store writer, which writes them on
//! a thread of its own. A file whose every part was read goes into the
//! manifest with the next write, so a later run skips it while it is
//! unchanged. A file with problems stays out of the manifest: its valid
//! events are stored, and the next run reads it again, storing nothing
//! twice.

#![deny(missing_docs)]

mod error;
mod ocsf_parquet;
mod s3;
mod source;

use std::fs::File;
use std::io::Read;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keyward_cloudtrail::{Event, FileSummary, ReadOptions, read_log, read_log_bytes};
use keyward_store::{EventBatchBuilder, EventRows, ManifestEntry, Store};
use serde::Serialize;
use tokio::runtime::Handle;
use tracing::{debug, info};

pub use error::IngestError;
pub use ocsf_parquet::{is_parquet, read_ocsf_parquet};
pub use s3::S3Reader;
pub use source::{Listing, Location, PathKind, Source, SourceFile, classify_path, list_local};

/// Batches of events queued between the readers and the writer.
const QUEUE_LENGTH: usize = 16;

/// Maximum number of events sent to the writer at a time.
const EVENT_BATCH: usize = 1024;

/// Files that a single reader thread may have waiting, read ahead.
const READ_AHEAD_FILES: usize = 4;

/// Largest file read ahead into memory. A larger one is streamed by its
/// reader.
const MAX_READ_AHEAD_BYTES: u64 = 2 << 20;

/// Maximum number of reader threads started by default. Each reader added
/// about 6 MB of peak memory on generated trees. The calling thread and the
/// store writer handle every event, so beyond a few readers they set the pace.
pub const MAX_DEFAULT_THREADS: usize = 8;

/// Settings of one ingest run.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Reader threads. The default is the number of cores, at most
    /// [`MAX_DEFAULT_THREADS`].
    pub threads: usize,
    /// S3 endpoint that replaces AWS's, for S3-compatible servers.
    pub endpoint_url: Option<String>,
    /// S3 client to read with, in place of one built from the standard
    /// configuration chain and `endpoint_url`.
    pub s3_client: Option<aws_sdk_s3::Client>,
    /// Whether to draw a progress bar on a terminal.
    pub progress: bool,
    /// Read files again even when the manifest has them unchanged.
    pub force: bool,
    /// Limits for each file.
    pub read: ReadOptions,
    /// Buffered event bytes that trigger a write to the store.
    pub flush_bytes: Option<usize>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_DEFAULT_THREADS),
            endpoint_url: None,
            s3_client: None,
            progress: false,
            force: false,
            read: ReadOptions::default(),
            flush_bytes: None,
        }
    }
}

/// Counts of one ingest run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IngestSummary {
    /// Log files found in the sources.
    pub files: u64,
    /// Files read in full without a problem.
    pub files_ingested: u64,
    /// Files skipped because the manifest has them unchanged.
    pub files_unchanged: u64,
    /// Files read with problems, or not readable at all.
    pub files_failed: u64,
    /// Digest files skipped by their path.
    pub digest_files: u64,
    /// Insights files skipped by their path.
    pub insight_files: u64,
    /// Files in the trees skipped because their name is not a log file's, or
    /// because their path is another Security Lake source's.
    pub other_files: u64,
    /// Sources that could not be listed.
    pub sources_failed: u64,
    /// CloudTrail records read.
    pub records_read: u64,
    /// Events of kept services read, second deliveries included.
    pub events_read: u64,
    /// Events of kept services newly stored.
    pub events_stored: u64,
    /// Events dropped because the store or this run already had them.
    pub duplicates: u64,
    /// Records of other services, counted and dropped.
    pub other_events: u64,
    /// Insights records and digest documents found inside files.
    pub skipped_records: u64,
    /// Insights records found inside files, counted in `records_read`.
    pub insight_records: u64,
    /// Digest documents found inside files, not counted in `records_read`.
    pub digests: u64,
    /// JSON values that are not CloudTrail records.
    pub not_cloudtrail: u64,
    /// Problems found: unreadable files, invalid JSON, records of the wrong
    /// shape.
    pub errors: u64,
    /// Uncompressed bytes read.
    pub bytes_uncompressed: u64,
    /// Bytes read as stored.
    pub bytes_stored: u64,
    /// Parquet files written.
    pub parquet_files: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Whether the run was a dry run, which stores nothing.
    pub dry_run: bool,
}

impl IngestSummary {
    /// Reports whether some input could not be read.
    pub fn is_partial(&self) -> bool {
        self.errors > 0 || self.files_failed > 0 || self.sources_failed > 0
    }
}

/// A problem with one source or file. The run goes on.
#[derive(Clone, Debug)]
pub struct Problem {
    /// The source, file or object concerned.
    pub source: String,
    /// Description of the problem, with its position when there is one.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

enum Message {
    /// Events of consecutive files, copied by the reader thread.
    Events(EventRows),
    Done(Box<SourceFile>, Box<FileSummary>),
    Failed(Box<SourceFile>, String),
}

/// Ingests the sources into the store.
///
/// `runtime` runs S3 requests; call this from outside that runtime. Each
/// problem is passed to `on_problem` as it is found. Fails as a whole only
/// when the store cannot be written.
pub fn ingest(
    store: &Store,
    sources: &[Source],
    options: &IngestOptions,
    runtime: &Handle,
    on_problem: &mut dyn FnMut(&Problem),
) -> Result<IngestSummary, IngestError> {
    run(Mode::Ingest(store), sources, options, runtime, on_problem)
}

/// Reads the sources as [`ingest`] does and reports the same counts and
/// problems, but stores nothing: the events read are dropped, and no file
/// goes into the manifest.
///
/// Of `store`, only the manifest is read, to skip the files that an
/// ingest would skip. Without a store, every file is read.
pub fn dry_run(
    store: Option<&Store>,
    sources: &[Source],
    options: &IngestOptions,
    runtime: &Handle,
    on_problem: &mut dyn FnMut(&Problem),
) -> Result<IngestSummary, IngestError> {
    run(Mode::DryRun(store), sources, options, runtime, on_problem)
}

/// Destination of the events that a run reads.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// Writes them into the store.
    Ingest(&'a Store),
    /// Drops them, and reads only the manifest of the store, if any.
    DryRun(Option<&'a Store>),
}

fn run(
    mode: Mode<'_>,
    sources: &[Source],
    options: &IngestOptions,
    runtime: &Handle,
    on_problem: &mut dyn FnMut(&Problem),
) -> Result<IngestSummary, IngestError> {
    let started = Instant::now();
    let (store, writing) = match mode {
        Mode::Ingest(store) => (Some(store), Some(store)),
        Mode::DryRun(store) => (store, None),
    };
    let _lock = writing.map(Store::lock).transpose()?;
    let mut summary = IngestSummary {
        dry_run: writing.is_none(),
        ..IngestSummary::default()
    };

    let s3 = needs_s3(sources).then(|| match &options.s3_client {
        Some(client) => S3Reader::from_client(client.clone(), runtime.clone()),
        None => runtime.block_on(S3Reader::new(options.endpoint_url.as_deref())),
    });
    let listing = list_sources(sources, s3.as_ref(), runtime, &mut summary, on_problem);
    summary.files += listing.files.len() as u64;
    summary.digest_files = listing.digest_files;
    summary.insight_files = listing.insight_files;
    summary.other_files = listing.other_files;

    let manifest = store.map(Store::manifest).transpose()?.unwrap_or_default();
    let (pending, unchanged): (Vec<_>, Vec<_>) = listing
        .files
        .into_iter()
        .partition(|file| options.force || !manifest.contains(&file.id, &file.fingerprint));
    summary.files_unchanged = unchanged.len() as u64;
    info!(
        files = pending.len(),
        unchanged = unchanged.len(),
        "reading log files"
    );

    let progress = progress_bar(options.progress, pending.len() as u64);
    // A single reader leaves the other cores idle, so another thread reads
    // its next files ahead, and the reader's core only decompresses and
    // parses. Several readers each open their own files.
    let threads = options.threads.max(1);
    let read_ahead = threads == 1;
    let (work_sender, work) = if read_ahead {
        bounded(READ_AHEAD_FILES)
    } else {
        unbounded()
    };
    let ahead = if read_ahead {
        Some((pending, work_sender))
    } else {
        for file in pending {
            let _ = work_sender.send(Work {
                file,
                content: None,
            });
        }
        drop(work_sender);
        None
    };

    let run_id = run_id();
    let mut writer = writing.map(|store| {
        let writer = store.writer(run_id.clone());
        match options.flush_bytes {
            Some(bytes) => writer.with_flush_bytes(bytes),
            None => writer,
        }
    });
    let keep_events = writer.is_some();
    let (sender, receiver) = bounded(QUEUE_LENGTH);
    // Event buffers that the writer has emptied go back to the readers.
    let (spare_sender, spare) = unbounded();
    let stats = std::thread::scope(|scope| {
        if let Some((files, queue)) = ahead {
            scope.spawn(move || read_files_ahead(files, &queue));
        }
        for _ in 0..threads {
            let work = work.clone();
            let sender = sender.clone();
            let spare = spare.clone();
            let s3 = s3.clone();
            let read = options.read.clone();
            scope.spawn(move || {
                read_files(&work, &sender, &spare, s3.as_ref(), &read, keep_events);
            });
        }
        // The readers hold the only receivers of the work queue, so that
        // the read-ahead thread stops once they have, also after a failure.
        drop(work);
        drop(sender);
        let mut report = |problem: &Problem| progress.suspend(|| on_problem(problem));
        let written = write_events(
            receiver,
            &spare_sender,
            writer.as_mut(),
            &mut summary,
            &progress,
            &mut report,
        );
        // Workers stop at their next send once the receiver is gone.
        written.and_then(|()| {
            writer
                .map(keyward_store::EventWriter::finish)
                .transpose()
                .map_err(IngestError::from)
        })
    })?
    .unwrap_or_default();
    progress.finish_and_clear();

    summary.events_stored = stats.stored;
    summary.duplicates = stats.duplicates;
    summary.parquet_files = stats.files;
    summary.seconds = started.elapsed().as_secs_f64();
    debug!(run = run_id, "ingest finished");
    Ok(summary)
}

fn needs_s3(sources: &[Source]) -> bool {
    sources
        .iter()
        .any(|source| matches!(source, Source::S3 { .. }))
}

fn list_sources(
    sources: &[Source],
    s3: Option<&S3Reader>,
    runtime: &Handle,
    summary: &mut IngestSummary,
    on_problem: &mut dyn FnMut(&Problem),
) -> Listing {
    let mut listing = Listing::default();
    for source in sources {
        let result = match (source, s3) {
            (Source::Local(path), _) => list_local(path, &mut listing),
            (Source::S3 { bucket, prefix }, Some(s3)) => {
                runtime.block_on(s3.list(bucket, prefix, &mut listing))
            }
            (Source::S3 { .. }, None) => Ok(()),
        };
        if let Err(error) = result {
            summary.sources_failed += 1;
            summary.errors += 1;
            on_problem(&Problem {
                source: source.to_string(),
                message: error.to_string(),
            });
        }
    }
    for (place, message) in listing.unreadable.drain(..) {
        summary.files += 1;
        summary.files_failed += 1;
        summary.errors += 1;
        on_problem(&Problem {
            source: place,
            message,
        });
    }
    listing
}

fn progress_bar(enabled: bool, files: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(files), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} files, {msg} ({eta} left)",
    );
    if let Ok(style) = style {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Returns a run id that sorts by time and differs between processes.
fn run_id() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{micros:013x}-{:x}", std::process::id())
}

/// A file to read, with its content when it was read ahead.
struct Work {
    file: SourceFile,
    content: Option<Vec<u8>>,
}

/// Reads each local log file of at most [`MAX_READ_AHEAD_BYTES`] into
/// memory and queues it, and queues every other file as it is. A file that
/// fails to be read is queued without content, so that its reader reports
/// the failure when it opens the file. Stops when the readers have.
fn read_files_ahead(files: Vec<SourceFile>, queue: &Sender<Work>) {
    for file in files {
        let content = match &file.location {
            Location::Local(path) if file.size <= MAX_READ_AHEAD_BYTES && !is_parquet(&file.id) => {
                read_small_file(path, file.size)
            }
            _ => None,
        };
        if queue.send(Work { file, content }).is_err() {
            return;
        }
    }
}

/// Reads a file whole, or returns `None` when it fails to be read or has
/// grown past [`MAX_READ_AHEAD_BYTES`]. `size` is the size listed, which
/// the file usually still has.
fn read_small_file(path: &std::path::Path, size: u64) -> Option<Vec<u8>> {
    // One byte more than the size lets the read see the end of the file
    // without growing the buffer.
    let room = size.min(MAX_READ_AHEAD_BYTES) + 1;
    let mut content = Vec::with_capacity(usize::try_from(room).ok()?);
    File::open(path)
        .ok()?
        .take(MAX_READ_AHEAD_BYTES + 1)
        .read_to_end(&mut content)
        .ok()?;
    (content.len() as u64 <= MAX_READ_AHEAD_BYTES).then_some(content)
}

/// Reads files from the work queue until it is empty or the writer stops.
///
/// Events of consecutive files go to the writer together, up to
/// [`EVENT_BATCH`], in buffers taken from `spare` when it has one, unless
/// `keep_events` is false, which drops them. A file is reported done only
/// after all its events were sent, because the writer records it in the
/// manifest once the events sent before are stored.
fn read_files(
    work: &Receiver<Work>,
    sender: &Sender<Message>,
    spare: &Receiver<EventRows>,
    s3: Option<&S3Reader>,
    options: &ReadOptions,
    keep_events: bool,
) {
    let mut events = EventRows::default();
    let mut finished: Vec<Message> = Vec::new();
    for Work { file, content } in work {
        let mut writer_gone = false;
        let summary = read_file(&file, content, s3, options, &mut |event| {
            if !keep_events {
                return;
            }
            events.push(event, &file.id);
            if events.len() == EVENT_BATCH {
                let full = take_events(&mut events, spare);
                writer_gone |= sender.send(Message::Events(full)).is_err();
            }
        });
        let message = match summary {
            Ok(summary) => Message::Done(Box::new(file), Box::new(summary)),
            Err(message) => Message::Failed(Box::new(file), message),
        };
        finished.push(message);
        if events.len() >= EVENT_BATCH / 2 {
            writer_gone |= !send_finished(&mut events, &mut finished, sender, spare);
        }
        if writer_gone {
            return;
        }
    }
    send_finished(&mut events, &mut finished, sender, spare);
}

/// Takes the events gathered, leaving in their place an emptied buffer from
/// `spare`, or a new one when it has none.
fn take_events(events: &mut EventRows, spare: &Receiver<EventRows>) -> EventRows {
    std::mem::replace(events, spare.try_recv().unwrap_or_default())
}

/// Sends the events gathered, then the files whose events they complete.
/// Returns `false` when the writer has stopped.
fn send_finished(
    events: &mut EventRows,
    finished: &mut Vec<Message>,
    sender: &Sender<Message>,
    spare: &Receiver<EventRows>,
) -> bool {
    if !events.is_empty() {
        let full = take_events(events, spare);
        if sender.send(Message::Events(full)).is_err() {
            return false;
        }
    }
    finished
        .drain(..)
        .all(|message| sender.send(message).is_ok())
}

/// Reads one file: OCSF Parquet by its name, CloudTrail or OCSF JSON
/// otherwise, from `content` when it was read ahead. Fails with a message
/// when the file cannot be opened.
fn read_file(
    file: &SourceFile,
    content: Option<Vec<u8>>,
    s3: Option<&S3Reader>,
    options: &ReadOptions,
    sink: &mut dyn FnMut(&Event),
) -> Result<FileSummary, String> {
    // A gzip file has at least a header and a trailer, so an empty one was
    // cut off, as an interrupted download leaves it.
    let size = content
        .as_ref()
        .map_or(file.size, |content| content.len() as u64);
    if size == 0 && file.id.to_ascii_lowercase().ends_with(".gz") {
        return Err("invalid gzip file: the file is empty; download it again".to_owned());
    }
    if !is_parquet(&file.id) {
        if let Some(content) = content {
            return Ok(read_log_bytes(&content, options, sink));
        }
        let input = open_stream(file, s3)?;
        return Ok(read_log(input, options, sink));
    }
    match (&file.location, s3) {
        (Location::Local(path), _) => {
            let input = File::open(path).map_err(|error| format!("failed to open: {error}"))?;
            Ok(read_ocsf_parquet(input, file.size, sink))
        }
        (Location::S3 { bucket, key }, Some(s3)) => {
            // Parquet needs random access to its footer, so the object is
            // read into memory whole.
            let mut body = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
            s3.open(bucket, key)
                .map_err(|error| error.to_string())?
                .read_to_end(&mut body)
                .map_err(|error| format!("failed to read: {error}"))?;
            Ok(read_ocsf_parquet(Bytes::from(body), file.size, sink))
        }
        (Location::S3 { .. }, None) => Err("no S3 client configured".to_owned()),
    }
}

/// Opens a file for streaming reads.
fn open_stream(file: &SourceFile, s3: Option<&S3Reader>) -> Result<Box<dyn Read>, String> {
    match (&file.location, s3) {
        (Location::Local(path), _) => File::open(path)
            .map(|file| Box::new(file) as Box<dyn Read>)
            .map_err(|error| format!("failed to open: {error}")),
        (Location::S3 { bucket, key }, Some(s3)) => s3
            .open(bucket, key)
            .map(|reader| Box::new(reader) as Box<dyn Read>)
            .map_err(|error| error.to_string()),
        (Location::S3 { .. }, None) => Err("no S3 client configured".to_owned()),
    }
}

/// Receives the readers' messages, converts their events to Arrow, and
/// passes them to the store writer, if there is one. Each emptied event
/// buffer goes to `spare`, for a reader to fill again.
fn write_events(
    receiver: Receiver<Message>,
    spare: &Sender<EventRows>,
    mut writer: Option<&mut keyward_store::EventWriter<'_>>,
    summary: &mut IngestSummary,
    progress: &ProgressBar,
    report: &mut dyn FnMut(&Problem),
) -> Result<(), IngestError> {
    let ingested_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let mut batches = EventBatchBuilder::new(EVENT_BATCH);
    for message in receiver {
        match message {
            Message::Events(mut events) => {
                if let Some(writer) = writer.as_deref_mut() {
                    batches.push_rows(&mut events);
                    for batch in batches.finish()? {
                        writer.push_batch(batch)?;
                    }
                }
                let _ = spare.send(events);
            }
            Message::Done(file, file_summary) => {
                add_file_summary(summary, &file_summary);
                summary.bytes_stored += file.size;
                for error in &file_summary.errors {
                    report(&Problem {
                        source: file.id.clone(),
                        message: error.to_string(),
                    });
                }
                let hidden = file_summary.error_count - file_summary.errors.len() as u64;
                if hidden > 0 {
                    let message = format!("{hidden} more problems in this file not shown");
                    report(&Problem {
                        source: file.id.clone(),
                        message,
                    });
                }
                if file_summary.error_count == 0 {
                    summary.files_ingested += 1;
                    if let Some(writer) = writer.as_deref_mut() {
                        writer.source_done(ManifestEntry {
                            source: file.id,
                            fingerprint: file.fingerprint,
                            ingested_at,
                            records: file_summary.records,
                            events: file_summary.crypto_events,
                        });
                    }
                } else {
                    summary.files_failed += 1;
                }
                progress.inc(1);
                progress.set_message(format!("{} records", summary.records_read));
            }
            Message::Failed(file, message) => {
                summary.files_failed += 1;
                summary.errors += 1;
                report(&Problem {
                    source: file.id,
                    message,
                });
                progress.inc(1);
            }
        }
    }
    Ok(())
}

fn add_file_summary(summary: &mut IngestSummary, file: &FileSummary) {
    summary.records_read += file.records;
    summary.events_read += file.crypto_events;
    summary.other_events += file.other_events;
    summary.skipped_records += file.insight_records + file.digests;
    summary.insight_records += file.insight_records;
    summary.digests += file.digests;
    summary.not_cloudtrail += file.not_cloudtrail;
    summary.errors += file.error_count;
    summary.bytes_uncompressed += file.bytes;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_threads_are_capped() {
        let threads = IngestOptions::default().threads;
        assert!(threads >= 1);
        assert!(threads <= MAX_DEFAULT_THREADS);
    }
}
