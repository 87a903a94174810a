//! keyward: inventory and watch the cryptographic assets of an AWS
//! organization.
//!
//! Exit codes:
//! - 0: the command finished and read all of its input;
//! - 1: the command failed;
//! - 2: the command line is invalid;
//! - 3: the command finished, but some input (a file, object or source, or
//!   for `scan` an account, Region or service) could not be read. What was
//!   read is stored, and each problem is listed. For `export --to
//!   security-hub`, some findings were not imported, and each is listed.

mod commands;
mod time_args;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The allocator, mimalloc: ingest frees events on a different thread from
/// the one that built them, and glibc's malloc handles such frees slowly.
/// Cargo.toml selects version 2 of mimalloc and turns off its transparent
/// huge pages: on generated trees, ingest's peak RSS was about 40% lower
/// than with version 3, at the same speed. Huge pages are zeroed 2 MiB at a
/// time whenever freed memory is faulted in again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code of a run that finished with some input unread.
pub const EXIT_PARTIAL: u8 = 3;

/// Exit code of an invalid command line.
const EXIT_USAGE: u8 = 2;

/// An error in the command line that clap's parsing cannot find, such as an
/// unknown question or an empty time window. It ends the run with exit code
/// 2, as clap's own errors do.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Inventory and watch the cryptographic assets of an AWS organization:
/// KMS keys, certificates and secrets.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about, long_about = None)]
#[deny(missing_docs)]
struct Cli {
    /// Folder of the keyward store.
    #[arg(
        long,
        global = true,
        env = "KEYWARD_STORE",
        default_value = "keyward-data",
        value_parser = parse_store
    )]
    store: PathBuf,

    /// Log more detail to standard error; repeat for more.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Log only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[deny(missing_docs)]
enum Command {
    /// Read CloudTrail log files into the store.
    Ingest(commands::ingest::Args),
    /// Run a built-in question over the store.
    Query(commands::query::Args),
    /// Run an SQL query over the store's tables.
    Sql(commands::sql::Args),
    /// Read the live inventory of KMS keys, certificates and secrets from
    /// AWS into the store.
    Scan(commands::scan::Args),
    /// Print the inventory of the latest scan.
    Inventory(commands::inventory::Args),
    /// Judge the latest inventory and CloudTrail usage with the rules, and
    /// store the findings.
    Check(commands::check::Args),
    /// List the rules.
    Rules(commands::rules::Args),
    /// Write the findings of a check as JSON, CSV, SARIF, ASFF or OCSF, or
    /// import them into AWS Security Hub.
    Export(commands::export::Args),
    /// Serve the dashboards and the JSON API over the store, read-only.
    Serve(commands::serve::Args),
    /// Write the overview and the failing findings as a self-contained
    /// HTML file, or as PDF.
    Report(commands::report::Args),
    /// Generate an organization with CloudTrail, run the whole pipeline on
    /// it, compare every finding with its ground truth, and serve the
    /// dashboards.
    Demo(commands::demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Ingest(args) => commands::ingest::run(&cli.store, args),
        Command::Query(args) => commands::query::run(&cli.store, args),
        Command::Sql(args) => commands::sql::run(&cli.store, args),
        Command::Scan(args) => commands::scan::run(&cli.store, args),
        Command::Inventory(args) => commands::inventory::run(&cli.store, args),
        Command::Check(args) => commands::check::run(&cli.store, args),
        Command::Rules(args) => commands::rules::run(args),
        Command::Export(args) => commands::export::run(&cli.store, args),
        Command::Serve(args) => commands::serve::run(&cli.store, args),
        Command::Report(args) => commands::report::run(&cli.store, args),
        Command::Demo(args) => commands::demo::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            use std::io::Write;
            let message = keyward_store::error_chain_text(error.as_ref());
            let message = keyward_store::query::output::escape_for_terminal(&message);
            let _ = writeln!(std::io::stderr(), "error: {message}");
            if error.chain().any(|cause| cause.is::<UsageError>()) {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Parses `--store`, a local folder. A URL, or a path that starts like an
/// S3 URL, is rejected, because it would become a folder named after it.
fn parse_store(text: &str) -> Result<PathBuf, String> {
    let s3_like = text
        .get(..3)
        .is_some_and(|start| start.eq_ignore_ascii_case("s3:"));
    if text.contains("://") || s3_like {
        return Err(format!(
            "{text} is a URL, and the store is a local folder; to keep a store in S3, \
             deploy the ingest Lambda function (docs/lambda-ingest.md)"
        ));
    }
    Ok(PathBuf::from(text))
}

/// Reports whether output stopped because its reader went away, as when
/// piping into `head`; that ends the command without an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>();
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.to_string().contains("Broken pipe")
    })
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    // The AWS SDK's debug and trace logs include signed requests with the
    // access key id, so they stay at info unless KEYWARD_LOG sets another level.
    let sdk_crates = [
        "aws_config",
        "aws_credential_types",
        "aws_runtime",
        "aws_sdk_account",
        "aws_sdk_acm",
        "aws_sdk_acmpca",
        "aws_sdk_kms",
        "aws_sdk_organizations",
        "aws_sdk_s3",
        "aws_sdk_secretsmanager",
        "aws_sdk_securityhub",
        "aws_sdk_sso",
        "aws_sdk_ssooidc",
        "aws_sdk_sts",
        "aws_sigv4",
        "aws_smithy_http_client",
        "aws_smithy_runtime",
        "aws_smithy_runtime_api",
        "hyper_util",
    ];
    let mut directives = default.to_owned();
    for name in sdk_crates {
        directives.push_str(&format!(",{name}=info"));
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    let stderr_is_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(stderr_is_terminal)
        .with_writer(std::io::stderr)
        .init();
}
