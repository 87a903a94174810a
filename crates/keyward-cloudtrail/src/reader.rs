//! Streaming reader for CloudTrail log files.
//!
//! One reader handles every shape found in real exports: the S3 delivery
//! format `{"Records":[...]}`, a bare record, a JSON array of records, JSON
//! Lines, and EventBridge envelopes, each optionally gzipped. Records are
//! cut out of a sliding buffer by a structural scan and parsed one at a
//! time, so memory is bounded by the largest single record, not by the file.
//! The one exception is a small gzip file, which is decompressed whole
//! within the limits of [`crate::gzip`].
//!
//! Only records of the kept services are parsed field by field. Any other
//! record is recognized from its `eventSource` value and counted, which is
//! what makes large trees fast: in an organization trail most records
//! belong to other services. Such records are checked for structure
//! (balanced braces, closed strings) but not parsed in full.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

use memchr::memmem;
use serde_json::value::RawValue;
use wide::u8x16;

#[cfg(target_arch = "x86_64")]
use pulp::x86::{V3, V4};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256i, __m512i};

use crate::event::{Classified, Event, Parsed, RecordError, parse_record};
use crate::gzip;
use crate::service::CRYPTO_EVENT_SOURCES;

/// Bytes requested from the input per read.
const READ_CHUNK: usize = 1 << 20;

/// Largest read buffer kept for the next file on the same thread.
const MAX_SPARE_BUFFER: usize = READ_CHUNK * 4;

/// Largest buffer of compressed bytes kept for the next file on the same
/// thread.
const MAX_SPARE_COMPRESSED: usize = READ_CHUNK;

thread_local! {
    /// The read buffer of the last file read on this thread, kept so that
    /// every file does not allocate and zero a new one.
    static SPARE_BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    /// The compressed bytes of the last gzip file read whole on this thread.
    static SPARE_COMPRESSED: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Error message for a JSON Lines line whose value is cut off before the
/// line ends.
const INCOMPLETE_LINE: &str =
    "invalid JSON: the value on this line is incomplete, so reading resumes at the next line";

/// Consecutive lines that are not JSON values after which a file is no
/// longer read as JSON Lines.
const MAX_BAD_LINES_IN_A_ROW: u32 = 3;

/// Error messages kept per file; further errors are only counted.
const MAX_ERRORS_KEPT: usize = 20;

/// Limits for reading one file.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Largest single JSON value (a record, or a whole document that is not
    /// in the `{"Records":[...]}` layout) held in memory. A larger one is
    /// reported and skipped.
    pub max_value_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            max_value_bytes: 64 << 20,
        }
    }
}

/// Location of a problem in a file. Offsets count uncompressed bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Offset of the first byte of the value concerned, from 0.
    pub byte: u64,
    /// Line of that byte, from 1, where the reader counts lines (it does not
    /// for the `{"Records":[...]}` layout, whose files are one line).
    pub line: Option<u64>,
    /// Column of the problem within its line, from 1, where known.
    pub column: Option<u64>,
    /// Index of the record in its array, from 0, where there is one.
    pub record: Option<u64>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}")?,
            (Some(line), None) => write!(f, "line {line}")?,
            _ => write!(f, "byte {}", self.byte)?,
        }
        if let Some(record) = self.record {
            write!(f, " (record {record})")?;
        }
        Ok(())
    }
}

/// A problem in one part of a file. Reading goes on after it where the
/// file's structure allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// Location of the problem.
    pub position: Position,
    /// Description of the problem.
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.position, self.message)
    }
}

/// Counts for one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSummary {
    /// CloudTrail records found, of every service.
    pub records: u64,
    /// Records of the kept services, passed to the caller.
    pub crypto_events: u64,
    /// Records of other services, counted and dropped.
    pub other_events: u64,
    /// CloudTrail Insights records, skipped.
    pub insight_records: u64,
    /// CloudTrail digest documents, skipped.
    pub digests: u64,
    /// JSON values that are not CloudTrail records, skipped.
    pub not_cloudtrail: u64,
    /// Uncompressed bytes read.
    pub bytes: u64,
    /// Whether the input was gzip-compressed.
    pub gzip: bool,
    /// The first problems found, up to a limit.
    pub errors: Vec<ReadError>,
    /// Number of problems found, including those not kept.
    pub error_count: u64,
    /// Whether reading stopped before the end of the file.
    pub stopped_early: bool,
}

impl FileSummary {
    fn push_error(&mut self, position: Position, message: impl Into<String>) {
        self.error_count += 1;
        if self.errors.len() < MAX_ERRORS_KEPT {
            self.errors.push(ReadError {
                position,
                message: shortened_message(message.into()),
            });
        }
    }
}

/// Maximum length of an error message kept whole, in characters. The JSON parser's messages repeat a
/// value of the wrong type, which may be megabytes long.
const MAX_MESSAGE_CHARS: usize = 300;

/// Returns a message, or its first [`MAX_MESSAGE_CHARS`] characters and its
/// length when it is longer.
fn shortened_message(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => message,
        Some((end, _)) => format!(
            "{}... (message of {} bytes shortened)",
            &message[..end],
            message.len()
        ),
    }
}

/// Reads one CloudTrail log file, plain or gzipped, and passes each event
/// of a kept service to `sink`.
///
/// Never fails as a whole: problems are counted in the summary with their
/// position, and the events read before them are kept.
pub fn read_log<R: Read>(
    input: R,
    options: &ReadOptions,
    sink: &mut dyn FnMut(&Event),
) -> FileSummary {
    let mut input = BufReader::with_capacity(64 << 10, input);
    let mut summary = FileSummary::default();
    let gzip = match input.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(error) => {
            summary.push_error(Position::default_start(), format!("read failed: {error}"));
            summary.stopped_early = true;
            return summary;
        }
    };
    summary.gzip = gzip;
    if !gzip {
        return FileReader::new(input, options, sink, summary).run();
    }

    // A small file is read whole and decompressed in one call when it is one
    // intact gzip member. Anything else is streamed, starting with the bytes
    // already read.
    let mut compressed = SPARE_COMPRESSED.take();
    compressed.clear();
    let limit = gzip::MAX_WHOLE_COMPRESSED as u64 + 1;
    let read = (&mut input).take(limit).read_to_end(&mut compressed);
    let summary = match read {
        Ok(_) if compressed.len() <= gzip::MAX_WHOLE_COMPRESSED => {
            read_small_gzip(&compressed, options, sink, summary)
        }
        Ok(_) => {
            let input = Box::new(compressed.as_slice().chain(input));
            read_gzip_stream(input, options, sink, summary)
        }
        Err(error) => {
            // The bytes read before the error are still decompressed.
            let input = Box::new(compressed.as_slice().chain(Failing(Some(error))));
            read_gzip_stream(input, options, sink, summary)
        }
    };
    if compressed.capacity() <= MAX_SPARE_COMPRESSED {
        SPARE_COMPRESSED.set(compressed);
    }
    summary
}

/// Reads a log file that is already in memory, as [`read_log`] does, but
/// without copying a small gzip file before decompressing it.
pub fn read_log_bytes(
    content: &[u8],
    options: &ReadOptions,
    sink: &mut dyn FnMut(&Event),
) -> FileSummary {
    if content.starts_with(&[0x1f, 0x8b]) && content.len() <= gzip::MAX_WHOLE_COMPRESSED {
        let summary = FileSummary {
            gzip: true,
            ..FileSummary::default()
        };
        return read_small_gzip(content, options, sink, summary);
    }
    read_log(content, options, sink)
}

/// Reads a gzip file of at most [`gzip::MAX_WHOLE_COMPRESSED`] bytes:
/// decompressed in one call when it is one intact member, else streamed.
fn read_small_gzip(
    compressed: &[u8],
    options: &ReadOptions,
    sink: &mut dyn FnMut(&Event),
    summary: FileSummary,
) -> FileSummary {
    let mut data = SPARE_BUFFER.take();
    match gzip::decompress_whole(compressed, &mut data) {
        Some(decompressed) => {
            let buffer = Buffer::whole(data, decompressed.len);
            FileReader::with_buffer(buffer, options, sink, summary).run()
        }
        None => {
            SPARE_BUFFER.set(data);
            read_gzip_stream(Box::new(compressed), options, sink, summary)
        }
    }
}

/// Reads a gzip stream of any number of members.
fn read_gzip_stream(
    input: Box<dyn Read + '_>,
    options: &ReadOptions,
    sink: &mut dyn FnMut(&Event),
    summary: FileSummary,
) -> FileSummary {
    let decoder = SmallReads(flate2::read::MultiGzDecoder::new(input));
    FileReader::new(decoder, options, sink, summary).run()
}

/// Bytes requested from a gzip decoder per read.
const GZIP_READ: usize = 64 << 10;

/// A reader that asks its input for at most [`GZIP_READ`] bytes at a time.
///
/// A gzip decoder that meets corrupt data fails the whole read and drops
/// what it decompressed in that call, so small reads keep all but the last
/// few records before the damage.
struct SmallReads<R>(R);

impl<R: Read> Read for SmallReads<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(GZIP_READ);
        self.0.read(&mut buf[..len])
    }
}

/// A reader that fails with the error it holds, then reports end of input.
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

impl Position {
    fn default_start() -> Self {
        Self {
            byte: 0,
            line: Some(1),
            column: None,
            record: None,
        }
    }
}

/// A complete value in the buffer.
struct Span {
    /// Index of the value's first byte.
    start: usize,
    /// Index after the value's last byte.
    end: usize,
    /// Line feeds in the value.
    newlines: u64,
    /// Position of the value's top-level `eventSource` key.
    source_key: SourceKey,
}

/// Outcome of scanning one value.
enum Scanned {
    /// The value is complete in the buffer.
    Complete(Span),
    /// The value exceeded the size limit and was skipped; its length.
    Oversize(u64),
    /// The input ended inside the value. `from_start` is whether the buffer
    /// still contains the value from its first byte.
    Truncated { from_start: bool },
    /// Reading the input failed.
    Failed(io::Error),
}

/// The sliding buffer over the decompressed input.
struct Buffer<R> {
    input: R,
    data: Vec<u8>,
    /// Start of unread data.
    pos: usize,
    /// End of valid data.
    len: usize,
    /// Input offset of `data[0]`.
    base: u64,
    eof: bool,
    /// A read error met while looking ahead, returned once the data read
    /// before it has been used.
    deferred_error: Option<io::Error>,
    /// Line of `data[pos]`, when lines are counted.
    line: Option<u64>,
}

impl Buffer<io::Empty> {
    /// Creates a buffer over the whole input, `data[..len]`.
    fn whole(data: Vec<u8>, len: usize) -> Self {
        Self {
            input: io::empty(),
            data,
            pos: 0,
            len,
            base: 0,
            eof: true,
            deferred_error: None,
            line: Some(1),
        }
    }
}

impl<R: Read> Buffer<R> {
    fn new(input: R) -> Self {
        let mut data = SPARE_BUFFER.take();
        if data.len() < READ_CHUNK * 2 {
            data.resize(READ_CHUNK * 2, 0);
        }
        Self {
            input,
            data,
            pos: 0,
            len: 0,
            base: 0,
            eof: false,
            deferred_error: None,
            line: Some(1),
        }
    }

    /// Reads more input, keeping `data[keep_from..len]`. Returns how far the
    /// kept bytes moved towards the start, or `Ok(None)` at end of input.
    fn fill(&mut self, keep_from: usize) -> io::Result<Option<usize>> {
        if let Some(error) = self.deferred_error.take() {
            return Err(error);
        }
        if self.eof {
            return Ok(None);
        }
        let shift = keep_from;
        if shift > 0 {
            self.data.copy_within(shift..self.len, 0);
            self.len -= shift;
            self.pos -= shift.min(self.pos);
            self.base += shift as u64;
        }
        if self.data.len() - self.len < READ_CHUNK {
            self.data.resize(self.len + READ_CHUNK * 2, 0);
        }
        loop {
            match self.input.read(&mut self.data[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(None);
                }
                Ok(read) => {
                    self.len += read;
                    return Ok(Some(shift));
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    fn offset(&self, index: usize) -> u64 {
        self.base + index as u64
    }

    /// Moves `pos` to `to`, counting the lines passed when lines are counted.
    fn advance(&mut self, to: usize) {
        let passed = memchr::memchr_iter(b'\n', &self.data[self.pos..to]).count();
        self.advance_counted(to, passed as u64);
    }

    /// Moves `pos` to `to` past `newlines` line feeds that the caller
    /// counted.
    fn advance_counted(&mut self, to: usize, newlines: u64) {
        if let Some(line) = self.line.as_mut() {
            *line += newlines;
        }
        self.pos = to;
    }

    /// Skips whitespace and a byte order mark; returns the next byte, or
    /// `None` at end of input.
    fn peek_non_space(&mut self) -> io::Result<Option<u8>> {
        loop {
            while self.pos < self.len {
                match self.data[self.pos] {
                    b'\n' => {
                        if let Some(line) = self.line.as_mut() {
                            *line += 1;
                        }
                        self.pos += 1;
                    }
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    0xEF if self.data[self.pos..self.len].starts_with(&[0xEF, 0xBB, 0xBF]) => {
                        self.pos += 3;
                    }
                    byte => return Ok(Some(byte)),
                }
            }
            let keep = self.pos;
            if self.fill(keep)?.is_none() && self.pos >= self.len {
                return Ok(None);
            }
        }
    }

    /// Makes at least `count` bytes available after `pos`, unless the input
    /// ends or fails first. A read error is kept for the next [`Self::fill`],
    /// so that the values already read are still used.
    fn ensure(&mut self, count: usize) {
        while self.len - self.pos < count {
            let keep = self.pos;
            match self.fill(keep) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => {
                    self.deferred_error = Some(error);
                    break;
                }
            }
        }
    }

    /// Moves past the value that starts at `pos`, which is not an object: a
    /// string, an array, a number or a literal. Returns `false`, leaving
    /// `pos` where it was, when the value is cut off by the end of input,
    /// is longer than `max_bytes`, or starts with a byte that starts no
    /// value.
    fn skip_other_value(&mut self, max_bytes: usize) -> io::Result<bool> {
        let scalar = match self.data.get(self.pos) {
            Some(b'"' | b'[') => false,
            Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => true,
            _ => return Ok(false),
        };
        let mut at = self.pos;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            if at == self.len {
                let start = self.pos;
                match self.fill(start)? {
                    Some(shift) => at -= shift,
                    None if scalar => break,
                    None => return Ok(false),
                }
                continue;
            }
            if at - self.pos > max_bytes {
                return Ok(false);
            }
            let byte = self.data[at];
            if scalar {
                if matches!(byte, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n') {
                    break;
                }
            } else if in_string {
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                    if depth == 0 {
                        at += 1;
                        break;
                    }
                }
            } else {
                match byte {
                    b'"' => in_string = true,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => {
                        let Some(outer) = depth.checked_sub(1) else {
                            return Ok(false);
                        };
                        depth = outer;
                        if depth == 0 {
                            at += 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            at += 1;
        }
        self.advance(at);
        Ok(true)
    }

    /// Scans the object that starts at `pos` to its closing brace.
    ///
    /// Brace depth alone finds the end: arrays and strings inside a valid
    /// object are balanced, and strings are skipped whole.
    fn scan_object(&mut self, max_bytes: usize) -> Scanned {
        let mut start = self.pos;
        let mut index = self.pos;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut source_key = SourceKey::NotFound;
        let mut retained = true;
        let mut skipped = 0u64;
        let mut newlines = 0u64;
        loop {
            if index >= self.len {
                if retained && index - start > max_bytes {
                    retained = false;
                }
                // Past the limit only the last 64 bytes are kept, for the
                // backslash look-back of `scan_bytes`.
                // NOTE: a run of more than 64 backslashes across this cut is
                // counted with the wrong parity, so such an oversize record
                // may end at the wrong brace.
                let keep_from = if retained {
                    start
                } else {
                    index.min(self.len).saturating_sub(64).max(start)
                };
                if !retained {
                    skipped += (keep_from - start) as u64;
                    start = keep_from;
                }
                match self.fill(keep_from) {
                    Ok(Some(shift)) => {
                        start -= shift;
                        index -= shift;
                        if let SourceKey::At(quote) = &mut source_key {
                            *quote -= shift;
                        }
                        self.pos = start;
                    }
                    Ok(None) => {
                        return Scanned::Truncated {
                            from_start: retained,
                        };
                    }
                    Err(error) => return Scanned::Failed(error),
                }
                continue;
            }
            let data = &self.data[..self.len];
            let (next, state) = scan_bytes(data, index, in_string, depth, source_key);
            index = next;
            in_string = state.in_string;
            depth = state.depth;
            source_key = state.source_key;
            newlines += state.newlines;
            if state.closed {
                if retained && index - start <= max_bytes {
                    return Scanned::Complete(Span {
                        start,
                        end: index,
                        newlines,
                        source_key,
                    });
                }
                self.advance_counted(index, newlines);
                return Scanned::Oversize(skipped + (index - start) as u64);
            }
        }
    }
}

impl<R> Drop for Buffer<R> {
    fn drop(&mut self) {
        if self.data.len() <= MAX_SPARE_BUFFER {
            SPARE_BUFFER.set(std::mem::take(&mut self.data));
        }
    }
}

/// Scanner state after [`scan_bytes`].
#[derive(Clone, Copy)]
struct ScanState {
    in_string: bool,
    depth: usize,
    source_key: SourceKey,
    /// Whether the object's closing brace was reached.
    closed: bool,
    /// Line feeds in the bytes examined.
    newlines: u64,
}

/// Position of the `eventSource` key at the top level of a scanned object:
/// at depth one, the depth of an object's own keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SourceKey {
    /// Absent from every byte scanned so far.
    NotFound,
    /// At this index, that of the key's opening quote.
    At(usize),
    /// Unknown, because some bytes were scanned without looking for it.
    Unchecked,
}

/// The `eventSource` key with its quotes.
const SOURCE_KEY: &[u8; 13] = b"\"eventSource\"";

/// Offset in [`SOURCE_KEY`] of its capital `S`, the byte that the block
/// scanner looks for.
const SOURCE_KEY_CAPITAL: usize = 6;

/// Scans `data` from `index` until the brace depth returns to zero or the
/// data ends. Returns the index after the last byte examined.
///
/// Whole 64-byte blocks are classified at once: bit masks of quotes and
/// braces give the string regions by a prefix XOR over the quotes, and the
/// brace counts decide whether the depth can reach zero inside the block.
/// A block with a backslash, or right after one, goes through
/// [`scan_escaped`], which checks each quote for escapes. Blocks are
/// classified with AVX-512 or AVX2 where the CPU has it, else with SSE2.
fn scan_bytes(
    data: &[u8],
    index: usize,
    in_string: bool,
    depth: usize,
    source_key: SourceKey,
) -> (usize, ScanState) {
    let start = ScanState {
        in_string,
        depth,
        source_key,
        closed: false,
        newlines: 0,
    };
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = V4::try_new() {
        return simd.vectorize(VectorScan {
            simd,
            data,
            index,
            start,
        });
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = V3::try_new() {
        return simd.vectorize(VectorScan {
            simd,
            data,
            index,
            start,
        });
    }
    scan_blocks(data, index, start, BlockMasks::of)
}

/// A call of [`scan_blocks`] with the comparisons of `simd`, run by its
/// `vectorize` with its instructions enabled.
#[cfg(target_arch = "x86_64")]
struct VectorScan<'a, S> {
    simd: S,
    data: &'a [u8],
    index: usize,
    start: ScanState,
}

#[cfg(target_arch = "x86_64")]
impl<S: BlockClassifier> pulp::NullaryFnOnce for VectorScan<'_, S> {
    type Output = (usize, ScanState);

    #[inline(always)]
    fn call(self) -> Self::Output {
        let simd = self.simd;
        scan_blocks(self.data, self.index, self.start, |block| {
            simd.classify(block)
        })
    }
}

/// An instruction set that classifies a block's bytes.
#[cfg(target_arch = "x86_64")]
trait BlockClassifier: Copy {
    /// Returns the masks of the block's bytes.
    fn classify(self, block: &[u8; BLOCK]) -> BlockMasks;
}

#[cfg(target_arch = "x86_64")]
impl BlockClassifier for V3 {
    #[inline(always)]
    fn classify(self, block: &[u8; BLOCK]) -> BlockMasks {
        masks_avx2(self, block)
    }
}

#[cfg(target_arch = "x86_64")]
impl BlockClassifier for V4 {
    #[inline(always)]
    fn classify(self, block: &[u8; BLOCK]) -> BlockMasks {
        masks_avx512(self, block)
    }
}

/// Does the work of [`scan_bytes`], with `classify` to find the bytes of
/// each block. Inlined, so that the caller's CPU features apply to it.
#[inline(always)]
fn scan_blocks(
    data: &[u8],
    index: usize,
    mut state: ScanState,
    classify: impl Fn(&[u8; BLOCK]) -> BlockMasks,
) -> (usize, ScanState) {
    let mut at = index;
    while let Some(block) = data
        .get(at..at + BLOCK)
        .and_then(|b| <&[u8; BLOCK]>::try_from(b).ok())
    {
        let masks = classify(block);
        let after_backslash = at > 0 && data[at - 1] == b'\\';
        let end = if masks.backslashes != 0 || after_backslash {
            scan_escaped(data, at, at + BLOCK, &mut state)
        } else {
            scan_block(&masks, &mut state, data, at)
        };
        if masks.newlines != 0 {
            let examined = end.map_or(u64::MAX, |offset| {
                (1u64 << (offset - 1) << 1).wrapping_sub(1)
            });
            state.newlines += u64::from((masks.newlines & examined).count_ones());
        }
        if let Some(offset) = end {
            return (at + offset, state);
        }
        at += BLOCK;
    }
    let end = scan_escaped(data, at, data.len(), &mut state);
    let end = end.map_or(data.len(), |offset| at + offset);
    state.newlines += memchr::memchr_iter(b'\n', &data[at..end]).count() as u64;
    (end, state)
}

/// Bytes classified together by [`scan_bytes`].
const BLOCK: usize = 64;

/// One bit per byte of a block, lowest bit first.
struct BlockMasks {
    quotes: u64,
    backslashes: u64,
    opens: u64,
    closes: u64,
    newlines: u64,
    /// Capital `S` bytes, candidates for the `eventSource` key.
    capitals: u64,
}

impl BlockMasks {
    fn of(block: &[u8; BLOCK]) -> Self {
        // Quotes are in nearly every block and get their own comparison.
        // Braces, backslashes and line feeds are rare: one combined mask
        // finds them, and each byte it marks is then classified alone.
        let mut quotes = 0u64;
        let mut capitals = 0u64;
        let mut rare = 0u64;
        for (lane, bytes) in block.chunks_exact(LANES).enumerate() {
            let Ok(bytes) = <[u8; LANES]>::try_from(bytes) else {
                continue;
            };
            let vector = u8x16::new(bytes);
            let shift = lane * LANES;
            quotes |= (vector.cmp_eq(u8x16::splat(b'"')).move_mask() as u64) << shift;
            let capital = vector.cmp_eq(u8x16::splat(SOURCE_KEY[SOURCE_KEY_CAPITAL]));
            capitals |= (capital.move_mask() as u64) << shift;
            let braces = vector.cmp_eq(u8x16::splat(b'{')) | vector.cmp_eq(u8x16::splat(b'}'));
            let others = vector.cmp_eq(u8x16::splat(b'\\')) | vector.cmp_eq(u8x16::splat(b'\n'));
            rare |= ((braces | others).move_mask() as u64) << shift;
        }
        let mut masks = BlockMasks {
            quotes,
            backslashes: 0,
            opens: 0,
            closes: 0,
            newlines: 0,
            capitals,
        };
        while rare != 0 {
            let bit = rare.trailing_zeros() as usize;
            rare &= rare - 1;
            let mask = match block[bit] {
                b'{' => &mut masks.opens,
                b'}' => &mut masks.closes,
                b'\\' => &mut masks.backslashes,
                _ => &mut masks.newlines,
            };
            *mask |= 1 << bit;
        }
        masks
    }
}

/// Classifies a block with 32-byte AVX2 comparisons, one mask for each
/// kind of byte, so no byte is looked at alone.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks_avx2(simd: V3, block: &[u8; BLOCK]) -> BlockMasks {
    let (avx, avx2) = (simd.avx, simd.avx2);
    let mut masks = BlockMasks {
        quotes: 0,
        backslashes: 0,
        opens: 0,
        closes: 0,
        newlines: 0,
        capitals: 0,
    };
    for (half, bytes) in block.chunks_exact(WIDE_LANES).enumerate() {
        let Ok(bytes) = <[u8; WIDE_LANES]>::try_from(bytes) else {
            continue;
        };
        let vector: __m256i = pulp::bytemuck::cast(bytes);
        let shift = half * WIDE_LANES;
        let mask = |byte: u8| {
            let equal = avx2._mm256_cmpeq_epi8(vector, avx._mm256_set1_epi8(byte as i8));
            u64::from(avx2._mm256_movemask_epi8(equal) as u32) << shift
        };
        masks.quotes |= mask(b'"');
        masks.backslashes |= mask(b'\\');
        masks.opens |= mask(b'{');
        masks.closes |= mask(b'}');
        masks.newlines |= mask(b'\n');
        masks.capitals |= mask(SOURCE_KEY[SOURCE_KEY_CAPITAL]);
    }
    masks
}

/// Classifies a block with one 64-byte AVX-512 comparison for each kind of
/// byte, each of which gives its mask directly.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks_avx512(simd: V4, block: &[u8; BLOCK]) -> BlockMasks {
    let (avx512f, avx512bw) = (simd.avx512f, simd.avx512bw);
    let vector: __m512i = pulp::bytemuck::cast(*block);
    let mask =
        |byte: u8| avx512bw._mm512_cmpeq_epi8_mask(vector, avx512f._mm512_set1_epi8(byte as i8));
    BlockMasks {
        quotes: mask(b'"'),
        backslashes: mask(b'\\'),
        opens: mask(b'{'),
        closes: mask(b'}'),
        newlines: mask(b'\n'),
        capitals: mask(SOURCE_KEY[SOURCE_KEY_CAPITAL]),
    }
}

/// Bytes compared at once by one AVX2 instruction.
#[cfg(target_arch = "x86_64")]
const WIDE_LANES: usize = 32;

/// Bytes compared at once by one vector instruction.
const LANES: usize = 16;

/// Scans a block without escapes, the block at `at` in `data`. Returns the
/// offset after the closing brace when the depth returns to zero in it.
/// Inlined, so that the caller's CPU features apply to it.
#[inline(always)]
fn scan_block(masks: &BlockMasks, state: &mut ScanState, data: &[u8], at: usize) -> Option<usize> {
    // Bit i of `inside` is set when byte i is inside a string; an opening
    // quote counts as inside and a closing quote as outside.
    let mut inside = prefix_xor(masks.quotes);
    if state.in_string {
        inside = !inside;
    }
    state.in_string = inside >> (BLOCK - 1) & 1 == 1;
    let opens = masks.opens & !inside;
    let closes = masks.closes & !inside;
    let depth = state.depth;
    let end = walk_braces(opens, closes, state);
    if state.source_key == SourceKey::NotFound && masks.capitals & inside != 0 {
        let examined = end.map_or(u64::MAX, |offset| {
            (1u64 << (offset - 1) << 1).wrapping_sub(1)
        });
        let braces = (opens, closes);
        state.source_key =
            find_source_key(masks.capitals & inside & examined, braces, depth, data, at);
    }
    end
}

/// Applies a block's braces outside strings to the depth. Returns the
/// offset after the brace that brings the depth to zero.
#[inline(always)]
fn walk_braces(opens: u64, closes: u64, state: &mut ScanState) -> Option<usize> {
    // Each closing brace lowers the depth by one at most, so with fewer
    // closing braces than the depth the object cannot end in this block.
    // Blocks inside an object's nested values thus skip the walk.
    let close_count = closes.count_ones() as usize;
    if close_count < state.depth {
        state.depth = state.depth + opens.count_ones() as usize - close_count;
        return None;
    }
    // Otherwise braces are walked bit by bit to find where the depth
    // reaches zero.
    let mut braces = opens | closes;
    while braces != 0 {
        let bit = braces.trailing_zeros() as usize;
        braces &= braces - 1;
        if opens >> bit & 1 == 1 {
            state.depth += 1;
        } else {
            state.depth -= 1;
            if state.depth == 0 {
                state.closed = true;
                return Some(bit + 1);
            }
        }
    }
    None
}

/// Looks for the `eventSource` key at depth one among `candidates`, the
/// capital `S` bytes inside strings of the block at `at`. `braces` are the
/// block's opening and closing braces outside strings, and `depth` the depth
/// at its start.
#[inline(always)]
fn find_source_key(
    mut candidates: u64,
    (opens, closes): (u64, u64),
    depth: usize,
    data: &[u8],
    at: usize,
) -> SourceKey {
    while candidates != 0 {
        let bit = candidates.trailing_zeros();
        candidates &= candidates - 1;
        let before = (1u64 << bit) - 1;
        let opened = depth + (opens & before).count_ones() as usize;
        if opened != (closes & before).count_ones() as usize + 1 {
            continue;
        }
        match source_key_at(data, at + bit as usize) {
            Some(true) => return SourceKey::At(at + bit as usize - SOURCE_KEY_CAPITAL),
            Some(false) => {}
            None => return SourceKey::Unchecked,
        }
    }
    SourceKey::NotFound
}

/// Reports whether the capital `S` at `capital`, inside a string, belongs
/// to an `eventSource` key: the string is exactly that name and a colon
/// follows it. Returns `None` when the bytes needed to tell are not in
/// `data`, or an escaped quote could start the string.
fn source_key_at(data: &[u8], capital: usize) -> Option<bool> {
    let quote = capital.checked_sub(SOURCE_KEY_CAPITAL)?;
    let key: &[u8; SOURCE_KEY.len()] =
        data.get(quote..quote + SOURCE_KEY.len())?.try_into().ok()?;
    if key != SOURCE_KEY {
        return Some(false);
    }
    if quote > 0 && data[quote - 1] == b'\\' {
        return None;
    }
    let after = &data[quote + SOURCE_KEY.len()..];
    let next = after.iter().find(|byte| !byte.is_ascii_whitespace())?;
    Some(*next == b':')
}

/// XOR of every bit at or below each position.
#[inline(always)]
fn prefix_xor(mut bits: u64) -> u64 {
    let mut shift = 1;
    while shift < BLOCK {
        bits ^= bits << shift;
        shift *= 2;
    }
    bits
}

/// Scans `data[from..to]` one quote or brace at a time. A quote inside a
/// string closes it unless an odd number of backslashes precedes it, which
/// is checked by looking back. Returns the offset from `from` after the
/// closing brace when the depth returns to zero. The `eventSource` key is
/// not looked for.
fn scan_escaped(data: &[u8], from: usize, to: usize, state: &mut ScanState) -> Option<usize> {
    if state.source_key == SourceKey::NotFound {
        state.source_key = SourceKey::Unchecked;
    }
    for found in memchr::memchr3_iter(b'"', b'{', b'}', &data[from..to]) {
        let at = from + found;
        match data[at] {
            b'"' if state.in_string => state.in_string = is_escaped(data, at),
            b'"' => state.in_string = true,
            _ if state.in_string => {}
            b'{' => state.depth += 1,
            _ => {
                state.depth -= 1;
                if state.depth == 0 {
                    state.closed = true;
                    return Some(found + 1);
                }
            }
        }
    }
    None
}

/// Reports whether the quote at `at` is escaped: preceded by an odd number
/// of backslashes.
fn is_escaped(data: &[u8], at: usize) -> bool {
    let backslashes = data[..at]
        .iter()
        .rev()
        .take_while(|byte| **byte == b'\\')
        .count();
    backslashes % 2 == 1
}

/// Kind of array being read, which decides what its elements may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ArrayKind {
    /// The `Records` array of a CloudTrail file: every element must be a
    /// record.
    Records,
    /// A top-level JSON array, which may hold records or anything else.
    TopLevel,
}

struct FileReader<'a, R> {
    buffer: Buffer<R>,
    options: &'a ReadOptions,
    sink: &'a mut dyn FnMut(&Event),
    /// The event that each kept record is read into, reused so that its
    /// strings are allocated once per file rather than once per record.
    event: Event,
    summary: FileSummary,
    source_finder: memmem::Finder<'static>,
    /// Set when the first record of the file is an Insights event; the rest
    /// of the file is then counted without parsing.
    insight_file: bool,
    records_seen: bool,
    /// Whether the last array element read was invalid JSON, which leaves
    /// its end, and so what follows it, in doubt.
    element_syntax_error: bool,
}

impl<'a, R: Read> FileReader<'a, R> {
    fn new(
        input: R,
        options: &'a ReadOptions,
        sink: &'a mut dyn FnMut(&Event),
        summary: FileSummary,
    ) -> Self {
        Self::with_buffer(Buffer::new(input), options, sink, summary)
    }

    fn with_buffer(
        buffer: Buffer<R>,
        options: &'a ReadOptions,
        sink: &'a mut dyn FnMut(&Event),
        summary: FileSummary,
    ) -> Self {
        Self {
            buffer,
            options,
            sink,
            event: Event::default(),
            summary,
            source_finder: memmem::Finder::new(SOURCE_KEY),
            insight_file: false,
            records_seen: false,
            element_syntax_error: false,
        }
    }

    fn run(mut self) -> FileSummary {
        if let Err(error) = self.read_documents() {
            let position = self.position_here();
            let read = self.buffer.offset(self.buffer.len);
            let message = read_failure(&error, self.summary.gzip, read);
            self.summary.push_error(position, message);
            self.summary.stopped_early = true;
        }
        self.summary.bytes = self.buffer.offset(self.buffer.len);
        self.summary
    }

    fn position_here(&self) -> Position {
        Position {
            byte: self.buffer.offset(self.buffer.pos),
            line: self.buffer.line,
            column: None,
            record: None,
        }
    }

    /// Reads top-level values until the end of input or a fatal problem.
    fn read_documents(&mut self) -> io::Result<()> {
        let mut values = 0u64;
        let mut bad_lines = 0u32;
        loop {
            let Some(byte) = self.buffer.peek_non_space()? else {
                if values == 0 {
                    self.summary.not_cloudtrail += 1;
                }
                return Ok(());
            };
            values += 1;
            if matches!(byte, b'[' | b'{') {
                bad_lines = 0;
            }
            let keep_going = match byte {
                b'[' => {
                    self.buffer.pos += 1;
                    self.read_array(ArrayKind::TopLevel)?
                }
                b'{' if self.starts_records_object() => self.read_records_object()?,
                b'{' => self.read_document()?,
                other => {
                    let position = self.position_here();
                    let message = format!(
                        "invalid JSON: expected '{{' or '[' but found {:?}; the rest of the line \
                         is skipped",
                        char::from(other)
                    );
                    self.summary.push_error(position, message);
                    bad_lines += 1;
                    // A few bad lines in a row mean this is not JSON Lines
                    // but one broken document, whose rest would only add
                    // noise.
                    bad_lines < MAX_BAD_LINES_IN_A_ROW && self.skip_line()?
                }
            };
            if !keep_going {
                self.summary.stopped_early = true;
                return Ok(());
            }
        }
    }

    /// Skips to the start of the next line, so that one bad line of a JSON
    /// Lines file costs only that line.
    fn skip_line(&mut self) -> io::Result<bool> {
        loop {
            let data = &self.buffer.data[self.buffer.pos..self.buffer.len];
            if let Some(found) = memchr::memchr(b'\n', data) {
                let end = self.buffer.pos + found + 1;
                self.buffer.advance(end);
                return Ok(true);
            }
            let keep = self.buffer.len;
            self.buffer.pos = keep;
            if self.buffer.fill(keep)?.is_none() {
                return Ok(true);
            }
        }
    }

    /// Checks whether the object at `pos` starts with the key `"Records"`
    /// holding an array, the layout of every file CloudTrail delivers.
    fn starts_records_object(&mut self) -> bool {
        self.buffer.ensure(256);
        let head = &self.buffer.data[self.buffer.pos + 1..self.buffer.len];
        let head = trim_start(head);
        let Some(rest) = head.strip_prefix(b"\"Records\"") else {
            return false;
        };
        let rest = trim_start(rest);
        let Some(rest) = rest.strip_prefix(b":") else {
            return false;
        };
        trim_start(rest).starts_with(b"[")
    }

    /// Reads `{"Records":[...]}` element by element, then the rest of the
    /// object.
    fn read_records_object(&mut self) -> io::Result<bool> {
        let data = &self.buffer.data[..self.buffer.len];
        let bracket =
            memchr::memchr(b'[', &data[self.buffer.pos..]).map(|found| self.buffer.pos + found);
        let Some(bracket) = bracket else {
            return Ok(false);
        };
        self.buffer.advance(bracket + 1);
        if !self.read_array(ArrayKind::Records)? {
            return Ok(false);
        }
        match self.buffer.peek_non_space()? {
            Some(b'}') => {
                self.buffer.pos += 1;
                Ok(true)
            }
            Some(b',') => {
                let position = self.position_here();
                self.summary.push_error(
                    position,
                    "unexpected key after the Records array; the rest of the file is ignored",
                );
                Ok(false)
            }
            _ => {
                let position = self.position_here();
                self.summary
                    .push_error(position, "invalid JSON: expected '}' after Records");
                Ok(false)
            }
        }
    }

    /// Reads array elements after the opening bracket through the closing
    /// one. Returns `false` when the structure is broken and reading must
    /// stop.
    fn read_array(&mut self, kind: ArrayKind) -> io::Result<bool> {
        let mut index = 0u64;
        if self.buffer.peek_non_space()? == Some(b']') {
            self.buffer.pos += 1;
            return Ok(true);
        }
        loop {
            let Some(byte) = self.buffer.peek_non_space()? else {
                self.push_truncated(index);
                return Ok(false);
            };
            if byte == b'{' {
                self.element_syntax_error = false;
                if !self.read_element(kind, index)? {
                    return Ok(false);
                }
            } else {
                let position = self.element_position(index);
                let first = char::from(byte);
                if !self.buffer.skip_other_value(self.options.max_value_bytes)? {
                    let message = format!(
                        "record is not a JSON object (starts with {first:?}), so the rest of the file is skipped"
                    );
                    self.summary.push_error(position, message);
                    return Ok(false);
                }
                let message =
                    format!("record is not a JSON object (starts with {first:?}) and was skipped");
                self.summary.push_error(position, message);
                self.summary.not_cloudtrail += 1;
            }
            index += 1;
            match self.buffer.peek_non_space()? {
                Some(b',') => self.buffer.pos += 1,
                Some(b']') => {
                    self.buffer.pos += 1;
                    return Ok(true);
                }
                Some(other) => {
                    let position = self.element_position(index);
                    let message = format!(
                        "invalid JSON: expected ',' or ']' after record {} but found {:?}",
                        index - 1,
                        char::from(other)
                    );
                    self.summary.push_error(position, message);
                    return Ok(false);
                }
                None => {
                    // A record with a missing brace can take the file's last
                    // brace as its own, and its syntax error already reports
                    // the damage.
                    if !self.element_syntax_error {
                        self.push_truncated(index);
                    }
                    return Ok(false);
                }
            }
        }
    }

    fn element_position(&self, index: u64) -> Position {
        Position {
            record: Some(index),
            ..self.position_here()
        }
    }

    fn push_truncated(&mut self, index: u64) {
        let position = self.element_position(index);
        self.summary
            .push_error(position, "unexpected end of file: the file is truncated");
    }

    /// Returns the first syntax error of a value that the input ends inside,
    /// with its position, when the error comes before the end. Braces
    /// alone cannot tell a missing comma from a cut-off file, and the JSON
    /// parser can. `position` is that of the value's first byte, which the
    /// buffer must still hold (`from_start`).
    fn syntax_error(&self, from_start: bool, position: Position) -> Option<(Position, String)> {
        if !from_start {
            return None;
        }
        let bytes = &self.buffer.data[self.buffer.pos..self.buffer.len];
        let mut parser = serde_json::Deserializer::from_slice(bytes);
        // Only the value is parsed: what follows it is not its error.
        let error = serde::Deserialize::deserialize(&mut parser)
            .map(|_: serde::de::IgnoredAny| ())
            .err()?;
        if error.is_eof() {
            return None;
        }
        Some(locate_error(&error.into(), position))
    }

    /// Reads one array element. Returns `false` when reading must stop.
    fn read_element(&mut self, kind: ArrayKind, index: u64) -> io::Result<bool> {
        let position = self.element_position(index);
        let span = match self.buffer.scan_object(self.options.max_value_bytes) {
            Scanned::Complete(span) => span,
            Scanned::Oversize(length) => {
                let message = format!(
                    "record of {length} bytes exceeds the {} byte limit and was skipped",
                    self.options.max_value_bytes
                );
                self.summary.push_error(position, message);
                return Ok(true);
            }
            Scanned::Truncated { from_start } => {
                let (position, message) = self.syntax_error(from_start, position).unwrap_or((
                    position,
                    "unexpected end of file inside a record".to_owned(),
                ));
                self.summary.push_error(position, message);
                return Ok(false);
            }
            Scanned::Failed(error) => return Err(error),
        };
        let bytes = &self.buffer.data[span.start..span.end];
        // The value of the top-level `eventSource` key that the scanner
        // found decides. A record with no such key, or with a value that is
        // not a string, is parsed, so that what it is gets reported: an
        // EventBridge envelope, or not a CloudTrail record. When the scanner
        // could not look for the key, any key of that name may decide.
        let needs_parse = || match span.source_key {
            SourceKey::At(quote) => {
                names_crypto_source(&self.buffer.data[quote + SOURCE_KEY.len()..span.end])
                    .unwrap_or(true)
            }
            SourceKey::NotFound => true,
            SourceKey::Unchecked => mentions_crypto_source(bytes, &self.source_finder),
        };
        // An Insights file is counted without parsing, except for records
        // that name a kept service, which are stored if they are events.
        let must_parse = if self.insight_file {
            needs_parse()
        } else {
            kind == ArrayKind::TopLevel || !self.records_seen || needs_parse()
        };
        if must_parse {
            let outcome = parse_record(bytes, &mut self.event);
            self.records_seen = true;
            let in_records = kind == ArrayKind::Records;
            match outcome {
                Ok(Parsed::One(classified)) => self.tally_element(classified, in_records, position),
                Ok(Parsed::Records(records)) => {
                    let records = records.get().to_owned();
                    self.read_nested_records(&records, position);
                }
                Err(error) => {
                    self.element_syntax_error = matches!(
                        &error,
                        RecordError::Json(json) if json.is_syntax() || json.is_eof()
                    );
                    let (position, message) = locate_error(&error, position);
                    self.summary.push_error(position, message);
                }
            }
        } else if self.insight_file {
            self.summary.records += 1;
            self.summary.insight_records += 1;
        } else {
            self.summary.records += 1;
            self.summary.other_events += 1;
        }
        self.buffer.advance_counted(span.end, span.newlines);
        Ok(true)
    }

    fn tally_element(&mut self, classified: Classified, in_records: bool, position: Position) {
        match classified {
            Classified::Insight if self.summary.records == 0 => {
                self.insight_file = true;
                self.summary.records += 1;
                self.summary.insight_records += 1;
            }
            Classified::NotCloudTrail | Classified::Digest if in_records => {
                self.summary.push_error(
                    position,
                    "record is not a CloudTrail record (no eventTime, eventSource or eventName)",
                );
            }
            other => self.tally(other),
        }
    }

    fn tally(&mut self, classified: Classified) {
        match classified {
            Classified::Crypto => {
                self.summary.records += 1;
                self.summary.crypto_events += 1;
                (self.sink)(&self.event);
            }
            Classified::Other => {
                self.summary.records += 1;
                self.summary.other_events += 1;
            }
            Classified::Insight => {
                self.summary.records += 1;
                self.summary.insight_records += 1;
            }
            Classified::Digest => self.summary.digests += 1,
            Classified::NotCloudTrail => self.summary.not_cloudtrail += 1,
        }
    }

    /// Reads a whole top-level object that is not in the Records layout: a
    /// bare record, an EventBridge envelope, a digest, a Records object
    /// whose first key is another, or unrelated JSON.
    fn read_document(&mut self) -> io::Result<bool> {
        let position = self.position_here();
        let span = match self.buffer.scan_object(self.options.max_value_bytes) {
            Scanned::Complete(span) => span,
            Scanned::Oversize(length) => {
                let message = format!(
                    "JSON value of {length} bytes exceeds the {} byte limit and was skipped",
                    self.options.max_value_bytes
                );
                self.summary.push_error(position, message);
                return Ok(true);
            }
            Scanned::Truncated { from_start } => {
                if let Some(next_line) = self.next_line_starting_a_value(self.buffer.len) {
                    self.summary.push_error(position, INCOMPLETE_LINE);
                    self.buffer.advance(next_line);
                    return Ok(true);
                }
                let (position, message) = self.syntax_error(from_start, position).unwrap_or((
                    position,
                    "unexpected end of file inside a JSON value".to_owned(),
                ));
                self.summary.push_error(position, message);
                return Ok(false);
            }
            Scanned::Failed(error) => return Err(error),
        };
        let bytes = &self.buffer.data[span.start..span.end];
        let mut resume_at = None;
        match parse_record(bytes, &mut self.event) {
            Ok(Parsed::One(classified)) => self.tally(classified),
            Ok(Parsed::Records(records)) => {
                let records = records.get().to_owned();
                self.read_nested_records(&records, position);
            }
            Err(error) => {
                resume_at = self.next_line_starting_a_value(span.end);
                if resume_at.is_some() {
                    self.summary.push_error(position, INCOMPLETE_LINE);
                } else {
                    let (position, message) = locate_error(&error, position);
                    self.summary.push_error(position, message);
                }
            }
        }
        match resume_at {
            Some(next_line) => self.buffer.advance(next_line),
            None => self.buffer.advance_counted(span.end, span.newlines),
        }
        Ok(true)
    }

    /// Returns the start of the line after the one where the value at `pos`
    /// starts, when that line starts another object before `limit`. A value
    /// that failed to read and runs past such a line is a cut-off JSON line.
    fn next_line_starting_a_value(&self, limit: usize) -> Option<usize> {
        let value = &self.buffer.data[self.buffer.pos..limit];
        let next_line = self.buffer.pos + memchr::memchr(b'\n', value)? + 1;
        let rest = &self.buffer.data[next_line..limit];
        let indent = rest
            .iter()
            .take_while(|byte| matches!(byte, b' ' | b'\t' | b'\r'))
            .count();
        (rest.get(indent) == Some(&b'{')).then_some(next_line)
    }

    /// Reads the elements of a `Records` array that was parsed as part of a
    /// larger value.
    fn read_nested_records(&mut self, records: &str, position: Position) {
        let elements: Vec<&RawValue> = match serde_json::from_str(records) {
            Ok(elements) => elements,
            Err(error) => {
                self.summary
                    .push_error(position, format!("Records is not an array: {error}"));
                return;
            }
        };
        for (index, element) in elements.into_iter().enumerate() {
            let position = Position {
                record: Some(index as u64),
                ..position
            };
            match parse_record(element.get().as_bytes(), &mut self.event) {
                Ok(Parsed::One(classified)) => self.tally_element(classified, true, position),
                Ok(Parsed::Records(_)) => self
                    .summary
                    .push_error(position, "Records nested inside a record"),
                Err(error) => self.summary.push_error(position, error.to_string()),
            }
        }
    }
}

/// Places a parse error of a value that starts at `start` in the file, and
/// describes it.
fn locate_error(error: &RecordError, start: Position) -> (Position, String) {
    let RecordError::Json(json) = error else {
        return (start, error.to_string());
    };
    let kind = match json.classify() {
        serde_json::error::Category::Data => "record of the wrong shape",
        _ => "invalid JSON",
    };
    let text = json.to_string();
    let detail = text.split(" at line ").next().unwrap_or_default();
    let message = format!("{kind}: {detail}");
    let position = match start.line {
        // On the value's first line the column would need the value's own
        // column, so the byte offset of the value is given instead.
        Some(first_line) if json.line() > 1 => Position {
            line: Some(first_line + json.line() as u64 - 1),
            column: Some(json.column() as u64),
            ..start
        },
        _ => Position {
            line: None,
            ..start
        },
    };
    (position, message)
}

/// Describes a failed read after `read` bytes of content. The byte count
/// places the failure where the line number cannot, as in a file that is
/// one long line.
fn read_failure(error: &io::Error, gzip: bool, read: u64) -> String {
    if gzip {
        format!("truncated or corrupt gzip data after {read} uncompressed bytes: {error}")
    } else {
        format!("read failed after {read} bytes: {error}")
    }
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let count = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[count..]
}

/// Reports whether a record's `eventSource` may be a kept service. A `true`
/// can be wrong (a nested key of that name); parsing then decides.
fn mentions_crypto_source(record: &[u8], finder: &memmem::Finder<'_>) -> bool {
    finder
        .find_iter(record)
        .any(|found| names_crypto_source(&record[found + SOURCE_KEY.len()..]) == Some(true))
}

/// Reports whether the value after an `eventSource` key, at the start of
/// `after_key`, is a kept service, or returns `None` when the value is not
/// a string.
fn names_crypto_source(after_key: &[u8]) -> Option<bool> {
    let rest = trim_start(after_key).strip_prefix(b":")?;
    let rest = trim_start(rest).strip_prefix(b"\"")?;
    let value = memchr::memchr(b'"', rest).map_or(rest, |end| &rest[..end]);
    Some(
        CRYPTO_EVENT_SOURCES
            .iter()
            .any(|source| source.as_bytes() == value),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn record(source: &str, name: &str, id: &str) -> String {
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","eventID":"{id}","requestParameters":{{"keyId":"k-{id}","text":"brace {{ and quote \" inside"}},"recipientAccountId":"111122223333"}}"#
        )
    }

    fn read_all(bytes: &[u8]) -> (FileSummary, Vec<Event>) {
        read_with(bytes, &ReadOptions::default())
    }

    fn read_with(bytes: &[u8], options: &ReadOptions) -> (FileSummary, Vec<Event>) {
        let mut events = Vec::new();
        let summary = read_log(bytes, options, &mut |event| events.push(event.clone()));
        (summary, events)
    }

    /// A reader that returns one byte per call, to cross every buffer
    /// boundary.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            out[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn records_without_a_string_source_reported() {
        let records = [
            record("kms.amazonaws.com", "Decrypt", "a"),
            "{}".to_owned(),
            r#"{"foo":1}"#.to_owned(),
            r#"{"eventTime":"2024-05-01T10:00:00Z","eventSource":5,"eventName":"X"}"#.to_owned(),
            record("s3.amazonaws.com", "GetObject", "b"),
        ];
        let file = format!("{{\"Records\":[{}]}}", records.join(","));
        let (summary, events) = read_all(file.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(summary.records, 2);
        assert_eq!(summary.other_events, 1);
        assert_eq!(summary.error_count, 3, "{:?}", summary.errors);
    }

    #[test]
    fn long_error_message_shortened() {
        let value = "x".repeat(100_000);
        let record = format!(
            r#"{{"eventTime":"2024-05-01T10:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","userIdentity":"{value}"}}"#
        );
        let (summary, _) = read_all(record.as_bytes());
        let message = &summary.errors[0].message;
        assert!(message.len() < 1000, "{} bytes", message.len());
        assert!(message.ends_with("bytes shortened)"), "{message}");
    }

    #[test]
    fn other_values_in_records_skipped() {
        let records = [
            record("kms.amazonaws.com", "Decrypt", "a"),
            r#""a string with ] and \" inside""#.to_owned(),
            "-12.5e3".to_owned(),
            r#"[1, {"eventSource": "kms.amazonaws.com"}, "]"]"#.to_owned(),
            "null".to_owned(),
            record("kms.amazonaws.com", "Encrypt", "b"),
        ];
        let file = format!("{{\"Records\":[{}]}}", records.join(" , "));
        let mut trickled = Vec::new();
        let summary = read_log(
            Trickle(file.as_bytes()),
            &ReadOptions::default(),
            &mut |event| trickled.push(event.clone()),
        );
        for (summary, events) in [read_all(file.as_bytes()), (summary, trickled)] {
            let ids: Vec<_> = events.iter().map(|e| e.event_id.clone().unwrap()).collect();
            assert_eq!(ids, ["a", "b"]);
            assert_eq!(summary.not_cloudtrail, 4);
            assert_eq!(summary.error_count, 4);
            assert!(
                summary.errors[0].message.contains("was skipped"),
                "{:?}",
                summary.errors
            );
        }
    }

    #[test]
    fn cut_off_value_in_records_ends_file() {
        let file = format!(
            "{{\"Records\":[{},\"never closed",
            record("kms.amazonaws.com", "Decrypt", "a")
        );
        let (summary, events) = read_all(file.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(summary.error_count, 1);
        assert!(
            summary.errors[0]
                .message
                .contains("rest of the file is skipped")
        );
    }

    fn records_file() -> String {
        let records = [
            record("kms.amazonaws.com", "Decrypt", "a"),
            record("s3.amazonaws.com", "GetObject", "b"),
            record("secretsmanager.amazonaws.com", "GetSecretValue", "c"),
            record("ec2.amazonaws.com", "DescribeInstances", "d"),
        ];
        format!("{{\"Records\":[{}]}}", records.join(","))
    }

    #[test]
    fn records_layout_keeps_crypto_events() {
        let (summary, events) = read_all(records_file().as_bytes());
        assert_eq!(summary.records, 4);
        assert_eq!(summary.crypto_events, 2);
        assert_eq!(summary.other_events, 2);
        assert_eq!(summary.error_count, 0, "{:?}", summary.errors);
        let names: Vec<_> = events.iter().map(|e| e.operation.as_str()).collect();
        assert_eq!(names, ["Decrypt", "GetSecretValue"]);
    }

    #[test]
    fn one_byte_reads_give_same_result() {
        let file = records_file();
        let mut events = Vec::new();
        let summary = read_log(
            Trickle(file.as_bytes()),
            &ReadOptions::default(),
            &mut |e| events.push(e.clone()),
        );
        assert_eq!(summary, read_all(file.as_bytes()).0);
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn escaped_quotes_and_backslashes() {
        // A string ending in an escaped backslash, one holding an escaped
        // quote and a brace, and one holding three backslashes and a quote.
        let tricky = r#"{"eventTime":"2024-05-01T10:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","eventID":"t","requestParameters":{"a":"C:\\","b":"x\"}{","c":"\\\"}"}}"#;
        let file = format!(
            "{{\"Records\":[{tricky},{}]}}",
            record("kms.amazonaws.com", "Sign", "s")
        );
        for reader_events in [read_all(file.as_bytes()).1, {
            let mut events = Vec::new();
            read_log(
                Trickle(file.as_bytes()),
                &ReadOptions::default(),
                &mut |e| events.push(e.clone()),
            );
            events
        }] {
            assert_eq!(reader_events.len(), 2);
            let parameters = reader_events[0]
                .request_parameters
                .as_deref()
                .unwrap_or_default();
            assert!(parameters.contains(r#""b":"x\"}{""#), "{parameters}");
        }
    }

    /// End of the object at the start of `data`, one byte at a time.
    fn object_end_bytewise(data: &[u8]) -> Option<usize> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for (at, byte) in data.iter().enumerate() {
            match (in_string, escaped, *byte) {
                (true, true, _) => escaped = false,
                (true, false, b'\\') => escaped = true,
                (true, false, b'"') => in_string = false,
                (true, false, _) => {}
                (false, _, b'"') => in_string = true,
                (false, _, b'{') => depth += 1,
                (false, _, b'}') => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(at + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Index of the top-level `eventSource` key of the object at the start
    /// of `data`, one byte at a time.
    fn source_key_bytewise(data: &[u8]) -> Option<usize> {
        let end = object_end_bytewise(data)?;
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for (at, byte) in data[..end].iter().enumerate() {
            match (in_string, escaped, *byte) {
                (true, true, _) => escaped = false,
                (true, false, b'\\') => escaped = true,
                (true, false, b'"') => in_string = false,
                (true, false, _) => {}
                (false, _, b'"') => {
                    in_string = true;
                    let rest = &data[at..];
                    if depth == 1 && rest.starts_with(SOURCE_KEY) {
                        let after = trim_start(&rest[SOURCE_KEY.len()..]);
                        if after.starts_with(b":") {
                            return Some(at);
                        }
                    }
                }
                (false, _, b'{') => depth += 1,
                (false, _, b'}') => depth -= 1,
                _ => {}
            }
        }
        None
    }

    /// Scans the object at the start of `data` with each block classifier
    /// that this machine runs, named.
    fn scans(data: &[u8]) -> Vec<(&'static str, (usize, ScanState))> {
        let start = ScanState {
            in_string: false,
            depth: 0,
            source_key: SourceKey::NotFound,
            closed: false,
            newlines: 0,
        };
        let mut scans = vec![("SSE2", scan_blocks(data, 0, start, BlockMasks::of))];
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = V3::try_new() {
            let wide = simd.vectorize(VectorScan {
                simd,
                data,
                index: 0,
                start,
            });
            scans.push(("AVX2", wide));
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = V4::try_new() {
            let widest = simd.vectorize(VectorScan {
                simd,
                data,
                index: 0,
                start,
            });
            scans.push(("AVX-512", widest));
        }
        scans
    }

    /// Checks a scan's `eventSource` key against the expected index. An
    /// unchecked key is allowed only where `may_be_unchecked`.
    fn check_source_key(
        found: SourceKey,
        expected: Option<usize>,
        may_be_unchecked: bool,
        case: &str,
    ) {
        match found {
            SourceKey::At(quote) => assert_eq!(Some(quote), expected, "{case}"),
            SourceKey::NotFound => assert_eq!(expected, None, "{case}"),
            SourceKey::Unchecked => assert!(may_be_unchecked, "{case}"),
        }
    }

    #[test]
    fn block_scanner_agrees_with_bytewise_scan_at_every_offset() {
        let pieces = [
            r#""a":"C:\\","#,
            r#""b":"x\"}{","#,
            r#""c":"\\\"}","#,
            r#""d":{"e":[{"f":"}}}"}]},"#,
            r#""g":"\\\\\\\\","#,
            r#""h":"{\"i\":\"\\\"}\"}","#,
            "\n\"j\":\n[1],",
            // The key at the top level, nested, as a value and in a string.
            r#""eventSource":"kms.amazonaws.com","#,
            r#""x":{"eventSource":"s3.amazonaws.com"},"y":"eventSource","#,
            r#""z":"\"eventSource\":1","eventSource" : "acm.amazonaws.com","#,
            // Deep nesting and braces in strings, with no backslash, so that
            // whole blocks skip the brace walk.
            r#""k":{"l":{"m":[{"n":{}},{"o":"}"}],"p":{"q":{"r":"{{{{{{{{{{{{{{{{{{{{{{{{{{"}}}},"#,
            r#""s":{"t":{"u":{"v":{"w":"}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}"}}}},"#,
        ];
        for padding in 0..(2 * BLOCK + 3) {
            for rotation in 0..pieces.len() {
                let mut object = format!("{{\"pad\":\"{}\",", "p".repeat(padding));
                for piece in pieces.iter().cycle().skip(rotation).take(pieces.len() * 3) {
                    object.push_str(piece);
                }
                object.push_str("\"end\":1}");
                let data = format!("{object},{{\"next\":\"}}\"}}");
                let expected = object_end_bytewise(data.as_bytes());
                assert_eq!(expected, Some(object.len()));
                let newlines = object.bytes().filter(|byte| *byte == b'\n').count() as u64;

                let source_key = source_key_bytewise(data.as_bytes());
                assert!(source_key.is_some());

                for (classifier, (end, state)) in scans(data.as_bytes()) {
                    let case = format!("{classifier}, padding {padding}, rotation {rotation}");
                    assert!(state.closed, "{case}");
                    assert_eq!(Some(end), expected, "{case}");
                    assert_eq!(state.newlines, newlines, "{case}");
                    check_source_key(state.source_key, source_key, true, &case);
                }
            }
        }
    }

    #[test]
    fn top_level_source_key_found_at_every_offset() {
        let fields = [
            r#""userIdentity":{"type":"AWSService","invokedBy":"eventSource"},"#,
            r#""eventSourceArn":"a","requestParameters":{"eventSource":"s3.amazonaws.com"},"#,
            r#""sourceIPAddress":"eventSource","eventSource":"#,
            r#""kms.amazonaws.com","eventName":"Decrypt","#,
        ];
        for padding in 0..(2 * BLOCK + 3) {
            let mut object = format!("{{\"pad\":\"{}\",", "p".repeat(padding));
            object.extend(fields);
            object.push_str(r#""end":{"eventSource":"S"}}"#);
            // Bytes after the object, so that it ends in a whole block.
            let data = format!("{object},{}", " ".repeat(2 * BLOCK));
            let expected = source_key_bytewise(data.as_bytes());
            assert!(expected.is_some());

            for (classifier, (end, state)) in scans(data.as_bytes()) {
                let case = format!("{classifier}, padding {padding}");
                assert_eq!(end, object.len(), "{case}");
                check_source_key(state.source_key, expected, false, &case);
            }
        }
    }

    #[test]
    fn records_without_top_level_source_key_searched_whole() {
        // An EventBridge envelope names the service only in `detail`.
        let detail = record("kms.amazonaws.com", "Decrypt", "e-1");
        let envelope = format!(
            r#"{{"detail-type":"AWS API Call via CloudTrail","source":"aws.kms","detail":{detail}}}"#
        );
        let other = record("s3.amazonaws.com", "GetObject", "e-2");
        let file = format!(r#"{{"Records":[{other},{envelope}]}}"#);
        let (summary, events) = read_all(file.as_bytes());
        assert_eq!(summary.records, 2);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_id.as_deref(), Some("e-1"));
    }

    #[test]
    fn gzip_detected_by_content() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(records_file().as_bytes()).unwrap();
        let compressed = encoder.finish().unwrap();
        let (summary, events) = read_all(&compressed);
        assert!(summary.gzip);
        assert_eq!(events.len(), 2);
        assert_eq!(summary.bytes, records_file().len() as u64);
    }

    fn gzipped(text: &str) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn bytes_in_memory_read_like_a_stream() {
        let whole = gzipped(&records_file());
        let truncated = whole[..whole.len() - 20].to_vec();
        let members = [gzipped(&records_file()), gzipped(&records_file())].concat();
        for content in [
            whole,
            truncated,
            members,
            records_file().into_bytes(),
            b"{\"Records\":[{\"eventSource\"".to_vec(),
        ] {
            let mut events = Vec::new();
            let summary = read_log_bytes(&content, &ReadOptions::default(), &mut |event| {
                events.push(event.clone());
            });
            assert_eq!((summary, events), read_all(&content));
        }
    }

    #[test]
    fn every_gzip_member_is_read() {
        let line = |id: &str| record("kms.amazonaws.com", "Encrypt", id) + "\n";
        // Identical members end with the same trailer, so only the search
        // for an earlier trailer shows that there are two.
        let same = [gzipped(&line("1")), gzipped(&line("1"))].concat();
        let different = [gzipped(&line("1")), gzipped(""), gzipped(&line("2"))].concat();
        for (file, expected) in [(same, 2), (different, 2)] {
            let (summary, events) = read_all(&file);
            assert_eq!(summary.error_count, 0, "{:?}", summary.errors);
            assert_eq!(summary.records, expected);
            assert_eq!(events.len(), expected as usize);
        }
    }

    #[test]
    fn gzip_past_whole_file_limits_is_streamed() {
        // Over 16 MiB of JSON is read as a stream, not whole.
        let padding = "a".repeat(1400);
        let records: Vec<String> = (0..12_000)
            .map(|i| record("kms.amazonaws.com", "Encrypt", &format!("{i}-{padding}")))
            .collect();
        let file = format!("{{\"Records\":[{}]}}", records.join(","));
        assert!(file.len() > gzip::MAX_WHOLE_SIZE);
        let compressed = gzipped(&file);
        let (summary, events) = read_all(&compressed);
        assert_eq!(summary.error_count, 0, "{:?}", summary.errors);
        assert_eq!(events.len(), 12_000);
        assert_eq!(summary.bytes, file.len() as u64);
    }

    #[test]
    fn data_after_first_member_is_reported() {
        let member = |first: u32| {
            let lines: String = (first..first + 3)
                .map(|i| record("kms.amazonaws.com", "Encrypt", &i.to_string()) + "\n")
                .collect();
            gzipped(&lines)
        };
        let (first, second) = (member(100), member(200));
        // The stray line feed ends the gzip stream with an error, and the
        // file's size field matches the first member's.
        let file = [&first[..], b"\n", &second[..]].concat();
        let (summary, events) = read_all(&file);
        assert_eq!(events.len(), 3);
        assert_eq!(summary.error_count, 1, "{:?}", summary.errors);
    }

    #[test]
    fn corrupt_deflate_block_keeps_earlier_records() {
        let records: Vec<String> = (0..2000)
            .map(|i| {
                record(
                    "kms.amazonaws.com",
                    "Encrypt",
                    &format!("{i}-{}", "a".repeat(900)),
                )
            })
            .collect();
        let lines = records.join("\n") + "\n";
        let half = &lines.as_bytes()[..lines.len() / 2];
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflate.write_all(half).unwrap();
        deflate.flush().unwrap();
        // A gzip header, the first half of the data, a final block of the
        // reserved type 3, and a trailer.
        let mut file = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        file.extend_from_slice(deflate.get_ref());
        file.push(0x07);
        file.extend_from_slice(&[0; 8]);

        let (summary, events) = read_all(&file);
        let whole_lines = half.iter().filter(|byte| **byte == b'\n').count();
        assert_eq!(summary.error_count, 1, "{:?}", summary.errors);
        let expected = format!(
            "truncated or corrupt gzip data after {} uncompressed bytes",
            summary.bytes
        );
        assert!(
            summary.errors[0].message.starts_with(&expected),
            "{}",
            summary.errors[0].message
        );
        assert!(events.len() <= whole_lines);
        assert!(
            events.len() + 100 >= whole_lines,
            "kept {} of {whole_lines} records before the damage",
            events.len()
        );
    }

    #[test]
    fn unbalanced_value_reports_its_syntax_error() {
        // A missing opening quote swaps strings and the rest of the file, so
        // braces never balance. The parser finds the fault on line 3.
        let record = "{\n  \"eventVersion\": \"1.08\",\n  \"arn\": arn:aws:sts::1:x\",\n  \
                      \"eventSource\": \"kms.amazonaws.com\"\n}\n";
        let in_records = format!("{{\"Records\": [\n{record}]}}\n");
        for (text, first_line) in [(record.to_owned(), 1), (in_records, 2)] {
            let (summary, events) = read_all(text.as_bytes());
            assert!(events.is_empty());
            assert_eq!(summary.error_count, 1, "{:?}", summary.errors);
            let error = &summary.errors[0];
            assert_eq!(error.position.line, Some(first_line + 2), "{error}");
            assert!(error.message.starts_with("invalid JSON: "), "{error}");
        }
    }

    #[test]
    fn record_missing_brace_reports_one_error() {
        // The record lacks the brace that closes `responseElements`, so it
        // takes the brace that closes the file as its own.
        let text = "{\"Records\": [\n{\"eventVersion\": \"1.02\",\n\"responseElements\": {\n\
                    \"keyId\": \"k\"\n,\n\"eventID\": \"e\"\n}\n]\n}\n";
        let (summary, _) = read_all(text.as_bytes());
        assert_eq!(summary.error_count, 1, "{:?}", summary.errors);
        assert!(summary.errors[0].message.starts_with("invalid JSON: "));
    }

    #[test]
    fn cut_off_value_reports_end_of_file() {
        let record = record("kms.amazonaws.com", "Encrypt", "1");
        let cut = format!("{{\"Records\":[{}", &record[..record.len() / 2]);
        let (summary, _) = read_all(cut.as_bytes());
        assert_eq!(summary.error_count, 1, "{:?}", summary.errors);
        let error = &summary.errors[0];
        assert_eq!(error.message, "unexpected end of file inside a record");
    }

    #[test]
    fn truncated_gzip_keeps_earlier_records() {
        let big: Vec<String> = (0..2000)
            .map(|i| record("kms.amazonaws.com", "Encrypt", &i.to_string()))
            .collect();
        let file = format!("{{\"Records\":[{}]}}", big.join(","));
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(file.as_bytes()).unwrap();
        let compressed = encoder.finish().unwrap();
        let (summary, events) = read_all(&compressed[..compressed.len() / 2]);
        assert!(summary.stopped_early);
        assert_eq!(summary.error_count, 1);
        assert!(!events.is_empty());
        assert!(events.len() < 2000);
    }

    #[test]
    fn damaged_gzip_end_keeps_every_decompressed_record() {
        let lines: String = (0..2)
            .map(|i| record("kms.amazonaws.com", "Encrypt", &i.to_string()) + "\n")
            .collect();
        let compressed = gzipped(&lines);

        // A byte after the member is read as the start of another member.
        let mut trailing_byte = compressed.clone();
        trailing_byte.push(b'\n');
        // Without its 8-byte trailer, the member ends early.
        let no_trailer = &compressed[..compressed.len() - 8];

        for damaged in [&trailing_byte[..], no_trailer] {
            let (summary, events) = read_all(damaged);
            assert_eq!(events.len(), 2);
            assert_eq!(summary.error_count, 1, "{:?}", summary.errors);
            assert!(
                summary.errors[0]
                    .message
                    .starts_with("truncated or corrupt gzip data"),
                "{}",
                summary.errors[0].message
            );
        }
    }

    #[test]
    fn cut_off_json_line_costs_only_that_line() {
        let whole = |id: &str| record("kms.amazonaws.com", "Decrypt", id);
        let cut_offs = [
            r#"{"eventTime":"2024-05"#,
            r#"{"eventTime":"2024-05-01T10:00:00Z","eventSource":"#,
            r#"{"requestParameters":{"keyId":"k"#,
        ];
        for cut_off in cut_offs {
            for last in ["", "\n"] {
                let text = format!(
                    "{}\n{cut_off}\n{}\n{}{last}",
                    whole("a"),
                    whole("b"),
                    whole("c")
                );
                let (summary, events) = read_all(text.as_bytes());
                let ids: Vec<_> = events.iter().map(|e| e.event_id.clone().unwrap()).collect();
                assert_eq!(ids, ["a", "b", "c"], "{cut_off:?}");
                assert_eq!(summary.error_count, 1, "{:?}", summary.errors);
                assert_eq!(summary.errors[0].position.line, Some(2), "{cut_off:?}");
            }
        }
    }

    #[test]
    fn bare_record_array_and_lines() {
        let bare = record("kms.amazonaws.com", "Sign", "x");
        assert_eq!(read_all(bare.as_bytes()).1.len(), 1);

        let array = format!(
            "[{bare},{}]",
            record("acm.amazonaws.com", "GetCertificate", "y")
        );
        assert_eq!(read_all(array.as_bytes()).1.len(), 2);

        let lines = format!(
            "{bare}\n{}\n\n",
            record("iam.amazonaws.com", "ListRoles", "z")
        );
        let (summary, events) = read_all(lines.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(summary.records, 2);
    }

    #[test]
    fn eventbridge_envelope_unwrapped() {
        let envelope = format!(
            r#"{{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.kms","detail":{}}}"#,
            record("kms.amazonaws.com", "Decrypt", "e")
        );
        let (summary, events) = read_all(envelope.as_bytes());
        assert_eq!(summary.crypto_events, 1);
        assert_eq!(events[0].event_id.as_deref(), Some("e"));
    }

    #[test]
    fn digest_and_unrelated_json_skipped() {
        let digest =
            r#"{"awsAccountId":"111122223333","digestPublicKeyFingerprint":"ab","logFiles":[]}"#;
        assert_eq!(read_all(digest.as_bytes()).0.digests, 1);
        let other = r#"{"name":"not a log"}"#;
        let (summary, _) = read_all(other.as_bytes());
        assert_eq!(summary.not_cloudtrail, 1);
        assert_eq!(summary.error_count, 0);
    }

    #[test]
    fn insight_file_counted_not_kept() {
        let insight = r#"{"eventVersion":"1.07","eventTime":"2024-05-01T10:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","eventType":"AwsCloudTrailInsight","insightDetails":{}}"#;
        let file = format!("{{\"Records\":[{insight},{insight}]}}");
        let (summary, events) = read_all(file.as_bytes());
        assert!(events.is_empty());
        assert_eq!(summary.insight_records, 2);
    }

    #[test]
    fn lines_counted_through_multi_line_records() {
        // Records spread over lines, with and without escapes, shifted so
        // that their line feeds fall at every offset of a scanned block.
        for padding in 0..BLOCK {
            let mut text = String::from("{\"Records\": [\n");
            for (index, source) in ["kms.amazonaws.com", "s3.amazonaws.com"].iter().enumerate() {
                let pretty = record(source, "Decrypt", &index.to_string()).replacen(
                    ',',
                    &format!(",\n{}", " ".repeat(padding)),
                    3,
                );
                text.push_str(&pretty);
                text.push_str(",\n");
            }
            let broken_line = text.matches('\n').count() as u64 + 1;
            let broken = record("kms.amazonaws.com", "Decrypt", "9")
                .replace("2024-05-01T10:00:00Z", "yesterday")
                .replacen(',', ",\n", 2);
            text.push_str(&broken);
            text.push_str("\n]}");
            let (summary, events) = read_all(text.as_bytes());
            assert_eq!(events.len(), 1, "padding {padding}");
            assert_eq!(summary.error_count, 1, "padding {padding}");
            assert_eq!(
                summary.errors[0].position.line,
                Some(broken_line),
                "padding {padding}"
            );
        }
    }

    #[test]
    fn invalid_utf8_fails_only_kept_fields() {
        let in_kept_field =
            record("kms.amazonaws.com", "Decrypt", "1").replace("us-east-1", "us-\u{e9}ast-1");
        let in_other_field = record("kms.amazonaws.com", "Encrypt", "2")
            .replace("\"awsRegion\"", "\"note\":\"caf\u{e9}\",\"awsRegion\"");
        let mut bytes = format!("{{\"Records\":[{in_kept_field},{in_other_field}]}}").into_bytes();
        // Cut each two-byte character to its first byte, which is invalid.
        while let Some(at) = bytes.windows(2).position(|pair| pair == [0xC3, 0xA9]) {
            bytes.remove(at + 1);
        }
        let (summary, events) = read_all(&bytes);
        assert_eq!(summary.error_count, 1, "{:?}", summary.errors);
        assert!(
            summary.errors[0].message.contains("invalid unicode"),
            "{}",
            summary.errors[0].message
        );
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].operation, "Encrypt");
    }

    #[test]
    fn events_after_an_insight_record_kept() {
        let insight = r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","eventType":"AwsCloudTrailInsight","insightDetails":{"state":"Start"}}"#;
        let text = format!(
            "{{\"Records\":[{insight},{},{insight},{}]}}",
            record("kms.amazonaws.com", "Decrypt", "1"),
            record("s3.amazonaws.com", "GetObject", "2")
        );
        let (summary, events) = read_all(text.as_bytes());
        assert_eq!(events.len(), 1);
        // The S3 record is counted with the Insights file, without parsing.
        assert_eq!(summary.insight_records, 3);
        assert_eq!(summary.records, 4);
        assert_eq!(summary.error_count, 0);
    }

    #[test]
    fn invalid_json_reports_line() {
        let text = "{\n  \"eventTime\": \"2024-05-01T10:00:00Z\",\n  \"eventSource\": \"kms.amazonaws.com\"\n  \"eventName\": \"Decrypt\"\n}";
        let (summary, events) = read_all(text.as_bytes());
        assert!(events.is_empty());
        assert_eq!(summary.error_count, 1);
        let message = summary.errors[0].message.clone();
        assert!(message.starts_with("invalid JSON"), "{message}");
        assert_eq!(summary.errors[0].position.line, Some(4));
    }

    #[test]
    fn wrong_shape_record_reported_and_rest_kept() {
        let bad = r#"{"eventTime":12,"eventSource":"kms.amazonaws.com","eventName":"Decrypt"}"#;
        let file = format!(
            "{{\"Records\":[{bad},{}]}}",
            record("kms.amazonaws.com", "Sign", "ok")
        );
        let (summary, events) = read_all(file.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(summary.error_count, 1);
        assert_eq!(summary.errors[0].position.record, Some(0));
    }

    #[test]
    fn oversize_record_skipped() {
        let options = ReadOptions {
            max_value_bytes: 400,
        };
        let long = record("kms.amazonaws.com", "Decrypt", &"x".repeat(300));
        let file = format!(
            "{{\"Records\":[{long},{}]}}",
            record("kms.amazonaws.com", "Sign", "s")
        );
        let (summary, events) = read_with(file.as_bytes(), &options);
        assert_eq!(events.len(), 1, "{:?}", summary);
        assert_eq!(summary.error_count, 1);
        assert!(summary.errors[0].message.contains("exceeds"));
    }

    #[test]
    fn missing_comma_stops_file() {
        let a = record("kms.amazonaws.com", "Decrypt", "1");
        let b = record("kms.amazonaws.com", "Encrypt", "2");
        let file = format!("{{\"Records\":[{a} {b}]}}");
        let (summary, events) = read_all(file.as_bytes());
        assert_eq!(events.len(), 1);
        assert!(summary.stopped_early);
    }

    #[test]
    fn unterminated_file_reported() {
        let file = format!(
            "{{\"Records\":[{}",
            record("kms.amazonaws.com", "Decrypt", "1")
        );
        let (summary, events) = read_all(file.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(summary.error_count, 1);
    }

    #[test]
    fn bad_json_line_skipped() {
        let good = record("kms.amazonaws.com", "Decrypt", "1");
        let other = record("kms.amazonaws.com", "Encrypt", "2");
        let lines = format!("{good}\nthis is not json\n{other}\n");
        let (summary, events) = read_all(lines.as_bytes());
        assert_eq!(events.len(), 2);
        assert_eq!(summary.error_count, 1);
        assert_eq!(summary.errors[0].position.line, Some(2));
    }

    #[test]
    fn empty_file_is_not_cloudtrail() {
        let (summary, _) = read_all(b"  \n");
        assert_eq!(summary.not_cloudtrail, 1);
        assert_eq!(summary.error_count, 0);
    }
}
