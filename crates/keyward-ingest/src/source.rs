//! Sources of CloudTrail log files: local files, local folder trees and S3
//! prefixes, each in CloudTrail's delivery layout
//! `AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz` or in
//! Amazon Security Lake's layout
//! `aws/CLOUD_TRAIL_MGMT/2.0/region=REGION/accountId=ACCOUNT/eventDay=YYYYMMDD/*.parquet`.
//! The files of Security Lake's other sources (`aws/VPC_FLOW/...` and the
//! like) are skipped by their path, and the Parquet files of custom sources
//! under `ext/` are read and kept when they hold CloudTrail events.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::error::IngestError;

/// A source named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file or a folder tree on disk.
    Local(PathBuf),
    /// Every object under a prefix of an S3 bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, possibly empty.
        prefix: String,
    },
}

impl Source {
    /// Parses a command-line argument: an `s3://bucket/prefix` URL or a path.
    pub fn parse(text: &str) -> Result<Self, IngestError> {
        let scheme = text.split_once("://").map(|(scheme, _)| scheme);
        let rest = match scheme {
            None => return Ok(Self::Local(PathBuf::from(text))),
            Some(scheme) if scheme.eq_ignore_ascii_case("s3") => &text[5..],
            Some(scheme) => {
                return Err(IngestError::InvalidSource(format!(
                    "{text}: {scheme}:// URLs are not read; give a local path or an s3:// URL"
                )));
            }
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(IngestError::InvalidSource(format!(
                "{text}: an S3 source needs a bucket, as in s3://bucket/AWSLogs/"
            )));
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(path) => write!(f, "{}", path.display()),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Location of one file's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A file on disk.
    Local(PathBuf),
    /// An S3 object.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
}

/// One file to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The file's identity in the manifest: an absolute path or an S3 URL.
    pub id: String,
    /// Version marker that changes when the file changes: size and
    /// modification time on disk, ETag and size in S3.
    pub fingerprint: String,
    /// Size in bytes as stored (compressed, for gzip).
    pub size: u64,
    /// Location to read it from.
    pub location: Location,
}

/// Kind of file, as its path shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathKind {
    /// A log file to read.
    Log,
    /// A CloudTrail digest file (`CloudTrail-Digest/` in the layout).
    Digest,
    /// A CloudTrail Insights file (`CloudTrail-Insight/` in the layout).
    Insight,
    /// Not a log file by its name, such as a README in the tree.
    NotLog,
}

/// Classifies a path inside a tree by CloudTrail's layout and the file name.
pub fn classify_path(path: &str) -> PathKind {
    let components: Vec<&str> = path.split(['/', '\\']).collect();
    if components.contains(&"CloudTrail-Digest") {
        return PathKind::Digest;
    }
    if components.contains(&"CloudTrail-Insight") {
        return PathKind::Insight;
    }
    if lake_source(&components).is_some_and(|source| source != CLOUDTRAIL_LAKE_SOURCE) {
        return PathKind::NotLog;
    }
    let name = components
        .last()
        .copied()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if name.starts_with('.') {
        return PathKind::NotLog;
    }
    let log_suffixes = [
        ".json",
        ".json.gz",
        ".jsonl",
        ".jsonl.gz",
        ".ndjson",
        ".ndjson.gz",
        ".gz",
        ".parquet",
    ];
    if log_suffixes.iter().any(|suffix| name.ends_with(suffix)) {
        PathKind::Log
    } else {
        PathKind::NotLog
    }
}

/// The folder of Security Lake's CloudTrail management events under `aws/`.
const CLOUDTRAIL_LAKE_SOURCE: &str = "CLOUD_TRAIL_MGMT";

/// Returns the source of a path in Security Lake's layout
/// `aws/SOURCE/VERSION/...`, such as `CLOUD_TRAIL_MGMT` or `VPC_FLOW`.
fn lake_source<'a>(components: &[&'a str]) -> Option<&'a str> {
    components.windows(3).find_map(|window| {
        let [root, source, version] = window else {
            return None;
        };
        let is_source = !source.is_empty()
            && source
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        let is_version =
            !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        (*root == "aws" && is_source && is_version).then_some(*source)
    })
}

/// Files found in the sources, and those skipped by their path.
#[derive(Debug, Default)]
pub struct Listing {
    /// Files to read, in a stable order.
    pub files: Vec<SourceFile>,
    /// Digest files skipped.
    pub digest_files: u64,
    /// Insights files skipped.
    pub insight_files: u64,
    /// Files skipped because their name is not a log file's, and entries
    /// that are neither files nor folders, such as pipes and devices.
    pub other_files: u64,
    /// Entries of a tree that could not be listed or read, with the error;
    /// the rest of the tree is listed.
    pub unreadable: Vec<(String, String)>,
}

impl Listing {
    pub(crate) fn add(&mut self, kind: PathKind, file: SourceFile) {
        match kind {
            PathKind::Log => self.files.push(file),
            PathKind::Digest => self.digest_files += 1,
            PathKind::Insight => self.insight_files += 1,
            PathKind::NotLog => self.other_files += 1,
        }
    }
}

/// Lists a local file or tree. A file named directly is always read,
/// whatever its name; files in a tree are read by the rules of
/// [`classify_path`]. A path named directly that is neither a file nor a
/// folder fails; in a tree, such an entry is skipped and counted.
pub fn list_local(path: &Path, listing: &mut Listing) -> Result<(), IngestError> {
    let metadata = std::fs::metadata(path).map_err(|source| IngestError::Io {
        action: "read",
        path: path.display().to_string(),
        source,
    })?;
    if metadata.is_file() {
        let file = local_file(path, &metadata)?;
        listing.add(PathKind::Log, file);
        return Ok(());
    }
    if !metadata.is_dir() {
        return Err(IngestError::InvalidSource(format!(
            "{}: not a file or a folder (a device, a pipe or a socket)",
            path.display()
        )));
    }
    let walker = walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                let place = error.path().unwrap_or(path).display().to_string();
                listing
                    .unreadable
                    .push((place, format!("failed to list: {error}")));
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        if !entry.file_type().is_file() {
            listing.other_files += 1;
            continue;
        }
        let relative = entry.path().strip_prefix(path).unwrap_or(entry.path());
        let kind = classify_path(&relative.to_string_lossy());
        let file = entry
            .metadata()
            .map_err(|error| IngestError::Io {
                action: "read",
                path: entry.path().display().to_string(),
                source: error.into(),
            })
            .and_then(|metadata| local_file(entry.path(), &metadata));
        match file {
            Ok(file) => listing.add(kind, file),
            Err(error) => listing
                .unreadable
                .push((entry.path().display().to_string(), error.to_string())),
        }
    }
    Ok(())
}

fn local_file(path: &Path, metadata: &std::fs::Metadata) -> Result<SourceFile, IngestError> {
    let absolute = std::path::absolute(path).map_err(|source| IngestError::Io {
        action: "resolve",
        path: path.display().to_string(),
        source,
    })?;
    let modified = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |duration| duration.as_nanos());
    Ok(SourceFile {
        id: absolute.display().to_string(),
        fingerprint: format!("size={};mtime_ns={modified}", metadata.len()),
        size: metadata.len(),
        location: Location::Local(absolute),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_url_parsed() {
        let source = Source::parse("s3://trail-bucket/AWSLogs/o-abc/").unwrap();
        let expected = Source::S3 {
            bucket: "trail-bucket".to_owned(),
            prefix: "AWSLogs/o-abc/".to_owned(),
        };
        assert_eq!(source, expected);
        let bare = Source::parse("s3://trail-bucket").unwrap();
        assert_eq!(
            bare,
            Source::S3 {
                bucket: "trail-bucket".to_owned(),
                prefix: String::new()
            }
        );
    }

    #[test]
    fn device_named_directly_rejected() {
        let error = list_local(Path::new("/dev/null"), &mut Listing::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("/dev/null: not a file or a folder"),
            "{error}"
        );
    }

    #[test]
    fn socket_in_tree_skipped_and_counted() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("a.json"), "{}").unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(tree.path().join("b.json")).unwrap();
        let mut listing = Listing::default();

        list_local(tree.path(), &mut listing).unwrap();

        assert_eq!(listing.files.len(), 1);
        assert_eq!(listing.other_files, 1);
        assert!(listing.unreadable.is_empty());
    }

    #[test]
    fn url_schemes_checked() {
        assert!(matches!(
            Source::parse("S3://trail/AWSLogs/"),
            Ok(Source::S3 { .. })
        ));
        assert!(Source::parse("https://trail.example/AWSLogs/").is_err());
        assert!(matches!(Source::parse("./logs"), Ok(Source::Local(_))));
    }

    #[test]
    fn s3_url_without_bucket_rejected() {
        assert!(Source::parse("s3:///AWSLogs").is_err());
    }

    #[test]
    fn layout_paths_classified() {
        let log = "AWSLogs/o-abc/111122223333/CloudTrail/us-east-1/2024/05/01/x.json.gz";
        assert_eq!(classify_path(log), PathKind::Log);
        let digest = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/x.json.gz";
        assert_eq!(classify_path(digest), PathKind::Digest);
        let insight = "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/05/01/x.json.gz";
        assert_eq!(classify_path(insight), PathKind::Insight);
        assert_eq!(classify_path("notes/README.md"), PathKind::NotLog);
        assert_eq!(classify_path("exports/events.jsonl"), PathKind::Log);
        assert_eq!(classify_path("a/.hidden.json"), PathKind::NotLog);
    }

    #[test]
    fn security_lake_paths_classified() {
        let cloudtrail = "lake/aws/CLOUD_TRAIL_MGMT/2.0/region=us-east-1/accountId=111122223333/eventDay=20260501/a.gz.parquet";
        assert_eq!(classify_path(cloudtrail), PathKind::Log);
        let flow_logs = "lake/aws/VPC_FLOW/2.0/region=us-east-1/accountId=111122223333/eventDay=20260501/a.gz.parquet";
        assert_eq!(classify_path(flow_logs), PathKind::NotLog);
        let findings =
            "aws/SH_FINDINGS/2.0/region=us-east-1/accountId=1/eventDay=20260501/a.parquet";
        assert_eq!(classify_path(findings), PathKind::NotLog);
        let custom = "ext/cloudtrail-copy/region=us-east-1/accountId=1/eventDay=20260501/a.parquet";
        assert_eq!(classify_path(custom), PathKind::Log);
    }
}
