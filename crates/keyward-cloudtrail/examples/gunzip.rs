//! Decompress-only baseline for the ingest benchmark.
//!
//! Walks the given folders, decompresses every `.gz` file as keyward's
//! reader does, discards the output and prints one JSON line:
//! `{"files":N,"bytes":N,"seconds":F}`. A file that fits the reader's limits
//! is read whole and decompressed by libdeflate in one call. Any other file
//! is streamed through flate2 with the zlib-rs backend.
//! `bytes` counts uncompressed bytes. `seconds` is wall-clock time of the
//! decompression threads, without the folder walk.
//!
//! Usage: `gunzip [--threads N] DIR...`
//!
//! Each thread decompresses into one reused buffer. Threads take the next
//! file from a shared counter, so uneven file sizes do not leave a thread
//! idle.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use flate2::read::MultiGzDecoder;
use keyward_cloudtrail::gzip;

const USAGE: &str = "usage: gunzip [--threads N] DIR...

Decompresses every .gz file under each DIR, discards the output and prints
{\"files\":N,\"bytes\":N,\"seconds\":F} with the uncompressed byte count.

options:
  --threads N   number of decompression threads (default 1)
  -h, --help    print this help";

/// Parsed command line.
struct Options {
    threads: usize,
    roots: Vec<PathBuf>,
}

/// Totals of one decompression thread.
#[derive(Default)]
struct Totals {
    files: u64,
    bytes: u64,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gunzip: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let Some(options) = parse_args(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };

    let mut files = Vec::new();
    for root in &options.roots {
        collect_gz_files(root, &mut files)?;
    }
    files.sort();

    let started = Instant::now();
    let totals = decompress_all(&files, options.threads)?;
    let seconds = started.elapsed().as_secs_f64();

    println!(
        "{{\"files\":{},\"bytes\":{},\"seconds\":{:.3}}}",
        totals.files, totals.bytes, seconds
    );
    Ok(())
}

/// Parses the arguments, returning `None` when help was requested.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut threads = 1;
    let mut roots = Vec::new();

    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let threads_value = if arg == "--threads" {
            Some(
                args.next()
                    .ok_or_else(|| format!("missing value for --threads\n\n{USAGE}"))?,
            )
        } else {
            arg.strip_prefix("--threads=").map(str::to_owned)
        };
        if let Some(value) = threads_value {
            threads = value
                .parse::<usize>()
                .ok()
                .filter(|&count| count >= 1)
                .ok_or_else(|| {
                    format!("invalid --threads value {value:?}: expected an integer of at least 1")
                })?;
        } else if arg.starts_with('-') {
            return Err(format!("unknown option {arg:?}\n\n{USAGE}"));
        } else {
            roots.push(PathBuf::from(arg));
        }
    }

    if roots.is_empty() {
        return Err(format!("missing DIR argument\n\n{USAGE}"));
    }
    Ok(Some(Options { threads, roots }))
}

/// Appends every `.gz` file under `path` to `files`, recursing into folders.
///
/// A `path` that is itself a `.gz` file is taken as is. Symbolic links are
/// followed only when given as `path`, not when met inside a folder.
fn collect_gz_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let metadata =
        fs::metadata(path).map_err(|err| format!("failed to read {}: {err}", path.display()))?;
    if metadata.is_file() {
        if path.extension().is_some_and(|extension| extension == "gz") {
            files.push(path.to_path_buf());
        }
        return Ok(());
    }

    let entries = fs::read_dir(path)
        .map_err(|err| format!("failed to list folder {}: {err}", path.display()))?;
    for entry in entries {
        let entry =
            entry.map_err(|err| format!("failed to list folder {}: {err}", path.display()))?;
        let file_type = entry
            .file_type()
            .map_err(|err| format!("failed to read {}: {err}", entry.path().display()))?;
        let entry_path = entry.path();
        if file_type.is_dir() {
            collect_gz_files(&entry_path, files)?;
        } else if file_type.is_file()
            && entry_path
                .extension()
                .is_some_and(|extension| extension == "gz")
        {
            files.push(entry_path);
        }
    }
    Ok(())
}

/// Decompresses `files` on `threads` threads and sums their totals.
fn decompress_all(files: &[PathBuf], threads: usize) -> Result<Totals, String> {
    let next_file = AtomicUsize::new(0);
    let results: Vec<Result<Totals, String>> = thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| decompress_worker(files, &next_file)))
            .collect();
        workers
            .into_iter()
            .map(|worker| match worker.join() {
                Ok(result) => result,
                Err(payload) => std::panic::resume_unwind(payload),
            })
            .collect()
    });

    let mut totals = Totals::default();
    for result in results {
        let worker_totals = result?;
        totals.files += worker_totals.files;
        totals.bytes += worker_totals.bytes;
    }
    Ok(totals)
}

/// Decompresses files until `next_file` runs past the end of `files`.
fn decompress_worker(files: &[PathBuf], next_file: &AtomicUsize) -> Result<Totals, String> {
    let mut totals = Totals::default();
    let mut compressed = Vec::new();
    let mut buffer = Vec::new();
    let mut streamed = Vec::new();

    loop {
        let index = next_file.fetch_add(1, Ordering::Relaxed);
        let Some(path) = files.get(index) else {
            return Ok(totals);
        };
        let mut file =
            File::open(path).map_err(|err| format!("failed to open {}: {err}", path.display()))?;
        compressed.clear();
        (&mut file)
            .take(gzip::MAX_WHOLE_COMPRESSED as u64 + 1)
            .read_to_end(&mut compressed)
            .map_err(|err| format!("failed to read {}: {err}", path.display()))?;

        let len = match gzip::decompress_whole(&compressed, &mut buffer) {
            Some(decompressed) => decompressed.len,
            None => {
                // MultiGzDecoder reads every gzip member, like `gzip -d`, so
                // a file made of concatenated members is counted in full.
                streamed.clear();
                MultiGzDecoder::new(compressed.as_slice().chain(file))
                    .read_to_end(&mut streamed)
                    .map_err(|err| format!("failed to decompress {}: {err}", path.display()))?;
                streamed.len()
            }
        };

        totals.files += 1;
        totals.bytes += len as u64;
    }
}
