//! `keyward-lambda`: the AWS Lambda function behind keyward's AWS Config
//! custom rules, for the `provided.al2023` runtime. Invoked by S3 event
//! notifications instead, it ingests the new CloudTrail log files into the
//! store that `KEYWARD_STORE_URL` (`s3://BUCKET/PREFIX`) names.

use std::path::Path;

use aws_lambda_events::event::config::ConfigEvent;
use aws_lambda_events::event::s3::S3Event;
use keyward_lambda::Environment;
use keyward_lambda::ingest::{StoreLocation, handle_s3_event};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Lambda adds its own timestamps to every line it collects.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(false)
        .without_time()
        .init();
    let environment = Environment::load().await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let environment = &environment;
        async move { invoke(environment, event.payload).await }
    }))
    .await
}

/// Returns whether an invocation comes from S3 event notifications.
fn is_s3_event(event: &Value) -> bool {
    event["Records"][0]["eventSource"] == "aws:s3"
}

/// Handles one invocation. An error reaches the caller as a failed
/// invocation, with the whole chain of causes in its message.
async fn invoke(environment: &Environment, event: Value) -> Result<Value, Diagnostic> {
    let (result, error_type) = if is_s3_event(&event) {
        (ingest(environment, event).await, "KeywardIngestFailed")
    } else {
        (
            evaluate(environment, event).await,
            "KeywardEvaluationFailed",
        )
    };
    result.map_err(|error| {
        tracing::error!("{error_type}: {error:#}");
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: format!("{error:#}"),
        }
    })
}

async fn evaluate(environment: &Environment, event: Value) -> anyhow::Result<Value> {
    let event: ConfigEvent = serde_json::from_value(event)
        .map_err(|error| anyhow::anyhow!("invalid AWS Config event: {error}"))?;
    // Boxed, because the scanner's nested futures are too deep a type for
    // the compiler's default recursion limit inside the runtime's future.
    let outcome = Box::pin(keyward_lambda::handle(environment, event)).await?;
    Ok(serde_json::to_value(outcome)?)
}

async fn ingest(environment: &Environment, event: Value) -> anyhow::Result<Value> {
    let event: S3Event = serde_json::from_value(event)
        .map_err(|error| anyhow::anyhow!("invalid S3 event notification: {error}"))?;
    let url = std::env::var("KEYWARD_STORE_URL").map_err(|_| {
        anyhow::anyhow!(
            "KEYWARD_STORE_URL is not set: set it to the s3://BUCKET/PREFIX of the store"
        )
    })?;
    let store = StoreLocation::parse(&url)?;
    let s3 = aws_sdk_s3::Client::new(&environment.sdk);
    let outcome = handle_s3_event(&s3, &store, &event, Path::new("/tmp")).await?;
    Ok(serde_json::to_value(outcome)?)
}
