//! `keyward-lambda`: the AWS Lambda function behind keyward's AWS Config
//! custom rules, for the `provided.al2023` runtime.

use aws_lambda_events::event::config::ConfigEvent;
use keyward_lambda::{Environment, Outcome};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Lambda adds its own timestamps to every line it collects.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(false)
        .without_time()
        .init();
    let environment = Environment::load().await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<ConfigEvent>| {
        let environment = &environment;
        async move { invoke(environment, event.payload).await }
    }))
    .await
}

/// Handles one invocation. An error reaches AWS Config as a failed
/// invocation, with the whole chain of causes in its message.
async fn invoke(environment: &Environment, event: ConfigEvent) -> Result<Outcome, Diagnostic> {
    // Boxed, because the scanner's nested futures are too deep a type for
    // the compiler's default recursion limit inside the runtime's future.
    Box::pin(keyward_lambda::handle(environment, event))
        .await
        .map_err(|error| {
            tracing::error!("evaluation failed: {error:#}");
            Diagnostic {
                error_type: "KeywardEvaluationFailed".to_owned(),
                error_message: format!("{error:#}"),
            }
        })
}
