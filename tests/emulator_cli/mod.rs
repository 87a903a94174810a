//! The keyward binary run against a moto server with moto's test
//! credentials, and an SDK configuration for moto's default account, for the
//! CLI tests that use the AWS emulator.

#![allow(dead_code, reason = "each test file uses a part")]

use std::path::Path;
use std::process::{Command, Output};

/// Region of the emulated account.
pub const REGION: &str = "us-east-1";

/// Runs keyward on `store` with AWS pointed at `endpoint`, and without the
/// caller's own store, profile or session settings.
pub fn keyward(store: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("KEYWARD_STORE")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .expect("run keyward")
}

/// Decodes command output for messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds an SDK configuration for moto's default account in [`REGION`].
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}
