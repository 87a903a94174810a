//! The function's second mode: ingest each CloudTrail log file as S3
//! delivers it, into a keyward store kept under an S3 prefix.
//!
//! An S3 event notification names the new objects. For each one, the
//! function builds a store in local storage from the parts of the S3 store
//! that the object can touch: the event partitions of its account and
//! Region on the day in its key and the days around it, since a file may
//! hold events from just before midnight. It ingests the object there, so
//! that a record that an earlier object already delivered is dropped, and
//! uploads every file that the ingest wrote: new event partition files,
//! a manifest segment and alias bindings. Store files have unique names, so
//! concurrent invocations never overwrite each other's files.
//!
//! NOTE: two invocations that run at the same time for objects holding
//! the same records can both store them, because neither sees the other's
//! files yet. CloudTrail delivers a duplicate long after the original, so
//! this needs two deliveries within seconds of each other.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use aws_lambda_events::event::s3::S3Event;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{Days, NaiveDate};
use keyward_ingest::{IngestOptions, IngestSummary, PathKind, Source, classify_path, ingest};
use keyward_store::Store;
use serde::Serialize;

/// Where the store is kept: a bucket and a key prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreLocation {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix, empty or ending with `/`.
    pub prefix: String,
}

impl StoreLocation {
    /// Reads an `s3://bucket/prefix` URL.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("s3://") else {
            bail!("invalid store URL {url:?}: use s3://BUCKET/PREFIX");
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("invalid store URL {url:?}: the bucket name is missing");
        }
        let prefix = match prefix.trim_end_matches('/') {
            "" => String::new(),
            trimmed => format!("{trimmed}/"),
        };
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    fn key(&self, relative: &str) -> String {
        format!("{}{relative}", self.prefix)
    }
}

/// Summary of an ingest invocation, returned to the Lambda runtime.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IngestOutcome {
    /// Objects ingested.
    pub objects: usize,
    /// Objects skipped: digest and Insights files, files that are not logs,
    /// and the store's own files.
    pub skipped: usize,
    /// Events newly stored.
    pub events_stored: u64,
    /// Events dropped because the store already had them.
    pub duplicates: u64,
    /// Records of other services.
    pub other_events: u64,
    /// Files uploaded to the store.
    pub files_uploaded: usize,
}

/// Ingests every object that an S3 event notification names into the store
/// at `store`, working in a fresh folder under `work`. The client reads the
/// objects and the store alike.
pub async fn handle_s3_event(
    s3: &Client,
    store: &StoreLocation,
    event: &S3Event,
    work: &Path,
) -> anyhow::Result<IngestOutcome> {
    let mut outcome = IngestOutcome::default();
    for record in &event.records {
        let created = record
            .event_name
            .as_deref()
            .is_some_and(|name| name.starts_with("ObjectCreated"));
        let (Some(bucket), Some(raw_key)) = (
            record.s3.bucket.name.as_deref(),
            record.s3.object.key.as_deref(),
        ) else {
            bail!("an S3 event record has no bucket name or object key");
        };
        let key = decode_key(raw_key);
        let inside_store = bucket == store.bucket && key.starts_with(&store.prefix);
        if !created || inside_store || classify_path(&key) != PathKind::Log {
            tracing::debug!(bucket, key, "skipped");
            outcome.skipped += 1;
            continue;
        }
        let summary = ingest_object(s3, store, bucket, &key, work)
            .await
            .with_context(|| format!("failed to ingest s3://{bucket}/{key}"))?;
        outcome.objects += 1;
        outcome.events_stored += summary.0.events_stored;
        outcome.duplicates += summary.0.duplicates;
        outcome.other_events += summary.0.other_events;
        outcome.files_uploaded += summary.1;
    }
    Ok(outcome)
}

/// Returns an object key as S3 event notifications encode it (URL
/// encoding, with `+` for a space) in plain text.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Ingests one object and uploads what it added to the store. Returns the
/// ingest summary and the number of files uploaded.
async fn ingest_object(
    s3: &Client,
    store: &StoreLocation,
    bucket: &str,
    key: &str,
    work: &Path,
) -> anyhow::Result<(IngestSummary, usize)> {
    let folder = tempfile::tempdir_in(work)
        .with_context(|| format!("failed to create a folder in {}", work.display()))?;
    let local = folder.path().join("store");
    std::fs::create_dir_all(&local)
        .with_context(|| format!("failed to create {}", local.display()))?;

    let mut downloaded = BTreeSet::new();
    for partition in partitions(key) {
        for relative in list(s3, store, &partition).await? {
            download(s3, store, &relative, &local).await?;
            downloaded.insert(relative);
        }
    }

    let summary = tokio::task::spawn_blocking({
        let local = local.clone();
        let source = Source::S3 {
            bucket: bucket.to_owned(),
            prefix: key.to_owned(),
        };
        let client = s3.clone();
        move || -> anyhow::Result<IngestSummary> {
            let store = Store::create_or_open(&local)?;
            let options = IngestOptions {
                threads: 1,
                s3_client: Some(client),
                ..IngestOptions::default()
            };
            let mut problems = Vec::new();
            let handle = tokio::runtime::Handle::current();
            let summary = ingest(&store, &[source], &options, &handle, &mut |problem| {
                problems.push(problem.to_string());
            })?;
            if let Some(first) = problems.first() {
                bail!(
                    "the object could not be read in full ({} problems); the first: {first}",
                    problems.len()
                );
            }
            Ok(summary)
        }
    })
    .await
    .context("the ingest task failed")??;

    let mut uploaded = 0;
    for relative in written_files(&local)? {
        if downloaded.contains(&relative) || relative.ends_with(".lock") {
            continue;
        }
        if relative == "keyward-store.json" && exists(s3, store, &relative).await? {
            continue;
        }
        upload(s3, store, &relative, &local.join(&relative)).await?;
        uploaded += 1;
    }
    tracing::info!(
        bucket,
        key,
        stored = summary.events_stored,
        duplicates = summary.duplicates,
        uploaded,
        "ingested"
    );
    Ok((summary, uploaded))
}

/// Returns the event partition folders, relative to the store, that a log
/// file in CloudTrail's layout can write to: its account and Region on the
/// day in its key and the days before and after. A key outside the layout
/// gives none, and its events are then checked for duplicates only among
/// themselves.
pub fn partitions(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let Some(position) = parts.iter().position(|part| *part == "CloudTrail") else {
        return Vec::new();
    };
    let (Some(account), Some(region), Some(year), Some(month), Some(day)) = (
        position.checked_sub(1).and_then(|i| parts.get(i)),
        parts.get(position + 1),
        parts.get(position + 2),
        parts.get(position + 3),
        parts.get(position + 4),
    ) else {
        return Vec::new();
    };
    let Ok(date) = NaiveDate::parse_from_str(&format!("{year}-{month}-{day}"), "%Y-%m-%d") else {
        return Vec::new();
    };
    [
        date.checked_sub_days(Days::new(1)),
        Some(date),
        date.checked_add_days(Days::new(1)),
    ]
    .into_iter()
    .flatten()
    .map(|day| {
        format!(
            "events/eventday={}/accountid={account}/region={region}/",
            day.format("%Y%m%d")
        )
    })
    .collect()
}

/// Lists the files under a folder of the store, relative to the store.
async fn list(s3: &Client, store: &StoreLocation, folder: &str) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(&store.bucket)
        .prefix(store.key(folder))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| {
            format!("failed to list s3://{}/{}", store.bucket, store.key(folder))
        })?;
        for object in page.contents() {
            if let Some(key) = object.key()
                && let Some(relative) = key.strip_prefix(&store.prefix)
            {
                files.push(relative.to_owned());
            }
        }
    }
    Ok(files)
}

async fn exists(s3: &Client, store: &StoreLocation, relative: &str) -> anyhow::Result<bool> {
    Ok(!list(s3, store, relative).await?.is_empty())
}

async fn download(
    s3: &Client,
    store: &StoreLocation,
    relative: &str,
    local: &Path,
) -> anyhow::Result<()> {
    let key = store.key(relative);
    let object = s3
        .get_object()
        .bucket(&store.bucket)
        .key(&key)
        .send()
        .await
        .with_context(|| format!("failed to read s3://{}/{key}", store.bucket))?;
    let bytes = object
        .body
        .collect()
        .await
        .with_context(|| format!("failed to read s3://{}/{key}", store.bucket))?
        .into_bytes();
    let path = local.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    std::fs::write(&path, bytes).with_context(|| format!("failed to write {}", path.display()))
}

async fn upload(
    s3: &Client,
    store: &StoreLocation,
    relative: &str,
    path: &Path,
) -> anyhow::Result<()> {
    let key = store.key(relative);
    let body = ByteStream::from_path(path)
        .await
        .with_context(|| format!("failed to read {}", path.display()))?;
    s3.put_object()
        .bucket(&store.bucket)
        .key(&key)
        .body(body)
        .send()
        .await
        .with_context(|| format!("failed to write s3://{}/{key}", store.bucket))?;
    Ok(())
}

/// Lists every file under the local store, relative to it, with `/`
/// between folders.
fn written_files(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = vec![root.to_owned()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("failed to list {}", folder.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("failed to list {}", folder.display()))?
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                let parts: Vec<String> = relative
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy().into_owned())
                    .collect();
                files.push(parts.join("/"));
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_url_parsed() {
        let location = StoreLocation::parse("s3://bucket/keyward/store").unwrap();
        assert_eq!(location.bucket, "bucket");
        assert_eq!(location.prefix, "keyward/store/");
        let bare = StoreLocation::parse("s3://bucket").unwrap();
        assert_eq!(bare.prefix, "");
        assert!(StoreLocation::parse("bucket/prefix").is_err());
        assert!(StoreLocation::parse("s3:///prefix").is_err());
    }

    #[test]
    fn partitions_around_the_key_day() {
        let key = "AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/2026/03/01/f.json.gz";
        assert_eq!(
            partitions(key),
            [
                "events/eventday=20260228/accountid=111122223333/region=eu-west-1/",
                "events/eventday=20260301/accountid=111122223333/region=eu-west-1/",
                "events/eventday=20260302/accountid=111122223333/region=eu-west-1/",
            ]
        );
        assert!(partitions("exports/events.json").is_empty());
        assert!(partitions("AWSLogs/1/CloudTrail/eu-west-1/2026/13/01/f.json.gz").is_empty());
    }

    #[test]
    fn event_keys_decoded() {
        assert_eq!(decode_key("a+b%2Fc.json"), "a b/c.json");
        assert_eq!(decode_key("plain/key.json.gz"), "plain/key.json.gz");
    }
}
