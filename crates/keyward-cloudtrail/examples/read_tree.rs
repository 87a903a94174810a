//! Reader-only measurement: reads every file under the given folders with
//! `read_log` on one thread, without a store, and prints one JSON line with
//! files, records, kept events, uncompressed bytes and seconds.
//!
//! Usage: `read_tree DIR...`

use std::path::{Path, PathBuf};
use std::time::Instant;

use keyward_cloudtrail::{ReadOptions, read_log};

fn files_under(directory: &Path, into: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.is_dir() {
            files_under(&path, into)?;
        } else {
            into.push(path);
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let mut files = Vec::new();
    for root in std::env::args().skip(1) {
        files_under(Path::new(&root), &mut files)?;
    }
    files.sort();
    let started = Instant::now();
    let (mut records, mut events, mut bytes) = (0u64, 0u64, 0u64);
    for path in &files {
        let file = std::fs::File::open(path)?;
        let summary = read_log(file, &ReadOptions::default(), &mut |_| events += 1);
        records += summary.records;
        bytes += summary.bytes;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"files\":{},\"records\":{records},\"events\":{events},\"bytes\":{bytes},\"seconds\":{seconds:.3}}}",
        files.len()
    );
    Ok(())
}
