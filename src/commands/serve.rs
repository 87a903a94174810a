//! `keyward serve`: the dashboards and the JSON API over the store.
//!
//! The server reads the store and never writes to it. It listens on
//! loopback by default. Any other address needs a token, which every
//! request must then carry.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use keyward_serve::{App, MIN_TOKEN_LENGTH, Token};
use keyward_store::Store;

/// Address that `keyward serve` and `keyward demo` listen on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Arguments of `keyward serve`.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct Args {
    #[command(flatten)]
    listen: ListenArgs,
}

/// The listening address, and the token that a non-loopback address
/// requires.
#[derive(Debug, clap::Args)]
#[deny(missing_docs)]
pub struct ListenArgs {
    /// Address and port to listen on. An address other than loopback
    /// (127.0.0.0/8, ::1) requires --token or --token-file.
    #[arg(long, value_name = "ADDRESS:PORT", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Token that every request must carry, as `Authorization: Bearer
    /// TOKEN` or through a link with `?token=TOKEN`; at least 16
    /// characters. Other users of the machine can read command lines, so
    /// prefer --token-file or the environment variable.
    #[arg(
        long,
        env = "KEYWARD_SERVE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,

    /// File whose first line is the token.
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
}

/// The checked listening configuration.
pub struct Listen {
    address: SocketAddr,
    token: Option<Token>,
}

impl ListenArgs {
    /// Reads the token and checks that a non-loopback address has one.
    pub fn check(&self) -> anyhow::Result<Listen> {
        let text = match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(path)) => Some(read_token_file(path)?),
            (None, None) => None,
        };
        let token = text
            .map(|text| Token::new(&text))
            .transpose()
            .map_err(|error| anyhow::anyhow!("invalid token: {error}"))?;
        if token.is_none() && !self.listen.ip().is_loopback() {
            anyhow::bail!(
                "listening on {} would expose the store to the network without a token; \
                 pass --token-file FILE (a token of at least {MIN_TOKEN_LENGTH} characters) \
                 or listen on 127.0.0.1",
                self.listen
            );
        }
        Ok(Listen {
            address: self.listen,
            token,
        })
    }
}

fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the token file {}", path.display()))?;
    let line = text.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        anyhow::bail!("the token file {} is empty", path.display());
    }
    Ok(line.to_owned())
}

/// Runs `keyward serve`.
pub fn run(store_path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let listen = match args.listen.check() {
        Ok(listen) => listen,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let store = Store::open(store_path)?;
    let runtime = super::runtime()?;
    serve_store(&store, &listen, &runtime, "/")?;
    Ok(ExitCode::SUCCESS)
}

/// Serves a store until the process is stopped, printing the address to
/// open, with `start_path` appended.
pub fn serve_store(
    store: &Store,
    listen: &Listen,
    runtime: &tokio::runtime::Runtime,
    start_path: &str,
) -> anyhow::Result<()> {
    runtime.block_on(async {
        let app = App::open(store)
            .await
            .with_context(|| format!("failed to open the store {}", store.root().display()))?;
        let listener = tokio::net::TcpListener::bind(listen.address)
            .await
            .with_context(|| {
                format!(
                    "failed to listen on {}; choose another address with --listen",
                    listen.address
                )
            })?;
        let address = listener
            .local_addr()
            .context("failed to read the address")?;
        // A closed standard output must not stop the server, so print
        // errors are ignored.
        let mut stdout = std::io::stdout();
        let _ = writeln!(
            stdout,
            "Serving the store {} on http://{address}{start_path} (Ctrl-C stops)",
            store.root().display()
        );
        if listen.token.is_some() {
            let separator = if start_path.contains('?') { '&' } else { '?' };
            let _ = writeln!(
                stdout,
                "Requests need the token: open http://{address}{start_path}{separator}token=TOKEN \
                 once, or send Authorization: Bearer TOKEN"
            );
        }
        let _ = stdout.flush();
        let router = keyward_serve::router(app, listen.token.clone());
        keyward_serve::serve(listener, router, std::future::pending()).await?;
        anyhow::Ok(())
    })
}
