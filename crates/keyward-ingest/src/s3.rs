//! Reading CloudTrail trees from S3.
//!
//! Credentials, Region and endpoint come from the standard AWS chain
//! (environment, profiles, SSO, instance metadata). `AWS_ENDPOINT_URL` or an
//! explicit endpoint points the client at an S3-compatible server, which is
//! then addressed path-style.

use std::io::Read;

use aws_config::BehaviorVersion;
use aws_sdk_s3::Client;
use tokio::runtime::Handle;
use tokio_util::io::SyncIoBridge;

use crate::error::IngestError;
use crate::source::{Listing, Location, SourceFile, classify_path};

/// Region used when the environment names none; S3 routes list and get
/// calls to the bucket's Region by itself.
const FALLBACK_REGION: &str = "us-east-1";

/// An S3 client usable from worker threads.
#[derive(Clone, Debug)]
pub struct S3Reader {
    client: Client,
    runtime: Handle,
}

impl S3Reader {
    /// Builds a client from the standard configuration chain.
    pub async fn new(endpoint_url: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if shared.region().is_none() {
            config = config.region(aws_sdk_s3::config::Region::new(FALLBACK_REGION));
        }
        if shared.endpoint_url().is_some() {
            config = config.force_path_style(true);
        }
        Self {
            client: Client::from_conf(config.build()),
            runtime: Handle::current(),
        }
    }

    /// Wraps a client that the caller configured, such as a Lambda
    /// function's.
    pub fn from_client(client: Client, runtime: Handle) -> Self {
        Self { client, runtime }
    }

    /// Lists every object under a prefix into `listing`.
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        listing: &mut Listing,
    ) -> Result<(), IngestError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| IngestError::S3 {
                operation: "ListObjectsV2",
                bucket: bucket.to_owned(),
                key: prefix.to_owned(),
                message: keyward_store::error_chain_text(&error),
            })?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let size = object.size().unwrap_or_default().max(0) as u64;
                let etag = object.e_tag().unwrap_or_default().trim_matches('"');
                let file = SourceFile {
                    id: format!("s3://{bucket}/{key}"),
                    fingerprint: format!("size={size};etag={etag}"),
                    size,
                    location: Location::S3 {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    },
                };
                listing.add(classify_path(key), file);
            }
        }
        Ok(())
    }

    /// Opens an object for streaming reads. Call from a thread outside the
    /// Tokio runtime: reads block on it.
    pub fn open(&self, bucket: &str, key: &str) -> Result<impl Read + use<>, IngestError> {
        let request = self.client.get_object().bucket(bucket).key(key).send();
        let output = self
            .runtime
            .block_on(request)
            .map_err(|error| IngestError::S3 {
                operation: "GetObject",
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                message: keyward_store::error_chain_text(&error),
            })?;
        let body = output.body.into_async_read();
        Ok(SyncIoBridge::new_with_handle(body, self.runtime.clone()))
    }
}
