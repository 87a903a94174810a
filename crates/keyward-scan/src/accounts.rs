//! The accounts to scan, and credentials for each.
//!
//! Without `--org`, the one account of the current credentials. With it,
//! every active account that AWS Organizations lists, reached by assuming
//! the audit role in each member account. The credentials of an assumed
//! role are renewed before they expire, so that a long scan never runs on
//! expired credentials.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_organizations::types::{AccountState, AccountStatus};
use keyward_store::inventory::CoverageRecord;
use tracing::{debug, warn};

use crate::error::CallError;
use crate::{ScanError, ScanOptions};

/// Name of the role sessions that keyward opens in member accounts; it
/// appears in the member accounts' CloudTrail.
const SESSION_NAME: &str = "keyward-scan";

/// The identity of the current credentials.
#[derive(Clone, Debug)]
pub struct Caller {
    pub account_id: String,
    pub arn: String,
    /// Partition of the caller's ARN: `aws`, `aws-cn` or `aws-us-gov`.
    pub partition: String,
}

/// An account to scan.
#[derive(Clone, Debug)]
pub struct Account {
    /// Account id.
    pub id: String,
    /// Account name, from AWS Organizations.
    pub name: Option<String>,
    /// Configuration with credentials for the account; `None` when the
    /// audit role could not be assumed.
    pub config: Option<SdkConfig>,
}

/// Identifies the current credentials with `sts:GetCallerIdentity`.
pub async fn caller(config: &SdkConfig) -> Result<Caller, CallError> {
    let client = aws_sdk_sts::Client::new(config);
    // The first call shows whether the endpoint responds at all. Three
    // attempts ride out a brief outage without minutes of back-off.
    let few_retries = aws_sdk_sts::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3));
    let identity = client
        .get_caller_identity()
        .customize()
        .config_override(few_retries)
        .send()
        .await
        .map_err(|error| CallError::from_sdk("GetCallerIdentity", error))?;
    let arn = identity.arn().unwrap_or_default().to_owned();
    let partition = arn.split(':').nth(1).unwrap_or("aws").to_owned();
    Ok(Caller {
        account_id: identity.account().unwrap_or_default().to_owned(),
        arn,
        partition,
    })
}

/// An account that the organization lists, or the current credentials'
/// account in a scan without `--org`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedAccount {
    /// Account id.
    pub id: String,
    /// Account name, from AWS Organizations.
    pub name: Option<String>,
    /// Account state, or the older status, from AWS Organizations.
    pub status: Option<String>,
    /// Whether the account is active, and so can be scanned.
    pub active: bool,
}

/// Lists the accounts of the organization with `--org`, or else the
/// current credentials' account.
pub async fn list(
    config: &SdkConfig,
    options: &ScanOptions,
    caller: &Caller,
) -> Result<Vec<ListedAccount>, ScanError> {
    if options.organization {
        list_organization(config)
            .await
            .map_err(ScanError::Organization)
    } else {
        Ok(vec![ListedAccount {
            id: caller.account_id.clone(),
            name: None,
            status: None,
            active: true,
        }])
    }
}

/// Selects the active accounts of `listed` that `options` keep, with
/// credentials for each. An account whose role cannot be assumed is kept
/// without credentials and gets a coverage row for service `sts`.
pub async fn select(
    config: &SdkConfig,
    options: &ScanOptions,
    caller: &Caller,
    listed: &[ListedAccount],
    scan_id: &str,
    coverage: &mut Vec<CoverageRecord>,
) -> Vec<Account> {
    let mut accounts: Vec<(String, Option<String>)> = listed
        .iter()
        .filter(|account| account.active)
        .map(|account| (account.id.clone(), account.name.clone()))
        .collect();
    for excluded in &options.exclude_accounts {
        if !accounts.iter().any(|(id, _)| id == excluded) {
            warn!(account = %excluded, "account given with --exclude-accounts is not among the accounts to scan");
        }
    }
    accounts.retain(|(id, _)| {
        (options.accounts.is_empty() || options.accounts.contains(id))
            && !options.exclude_accounts.contains(id)
    });
    for wanted in &options.accounts {
        if !accounts.iter().any(|(id, _)| id == wanted) {
            warn!(account = %wanted, "account given with --accounts is not among the accounts to scan; it is skipped");
        }
    }

    let mut selected = Vec::with_capacity(accounts.len());
    for (id, name) in accounts {
        let account_config = if id == caller.account_id {
            Ok(config.clone())
        } else {
            assume_role(config, options, caller, &id).await
        };
        let account_config = match account_config {
            Ok(account_config) => Some(account_config),
            Err(error) => {
                warn!(account = %id, "cannot assume the audit role: {error}");
                coverage.push(CoverageRecord {
                    scan_id: scan_id.to_owned(),
                    account_id: id.clone(),
                    service: "sts".to_owned(),
                    status: error.status(),
                    operation: Some(error.operation.to_owned()),
                    error_code: error.code.clone(),
                    error_message: Some(error.message.clone()),
                    calls: 1,
                    ..CoverageRecord::default()
                });
                None
            }
        };
        selected.push(Account {
            id,
            name,
            config: account_config,
        });
    }
    selected
}

/// Lists every account of the organization, active or not, with its name
/// and state.
async fn list_organization(config: &SdkConfig) -> Result<Vec<ListedAccount>, CallError> {
    let client = aws_sdk_organizations::Client::new(config);
    let mut accounts = Vec::new();
    let mut next_token = None;
    loop {
        let page = client
            .list_accounts()
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|error| CallError::from_sdk("ListAccounts", error))?;
        for account in page.accounts() {
            let Some(id) = account.id() else {
                continue;
            };
            // `State` replaces `Status`; either may be missing.
            let (active, status) = match (account.state(), account.status()) {
                (Some(state), _) => (*state == AccountState::Active, Some(state.as_str())),
                (None, Some(status)) => (*status == AccountStatus::Active, Some(status.as_str())),
                (None, None) => (true, None),
            };
            if !active {
                debug!(
                    account = id,
                    "an account that is not active is listed but not scanned"
                );
            }
            accounts.push(ListedAccount {
                id: id.to_owned(),
                name: account.name().map(str::to_owned),
                status: status.map(str::to_owned),
                active,
            });
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => next_token = Some(next.to_owned()),
            _ => break,
        }
    }
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(accounts)
}

/// Assumes the audit role in `account_id` and returns a configuration with
/// credentials that renew themselves.
async fn assume_role(
    config: &SdkConfig,
    options: &ScanOptions,
    caller: &Caller,
    account_id: &str,
) -> Result<SdkConfig, CallError> {
    let provider = AssumedRole {
        sts: aws_sdk_sts::Client::new(config),
        role_arn: format!(
            "arn:{}:iam::{account_id}:role/{}",
            caller.partition, options.role_name
        ),
        external_id: options.external_id.clone(),
        first: Mutex::new(None),
    };
    // Assuming once now reports a role that cannot be assumed as a
    // coverage gap, with AWS's error code, before any unit starts.
    let first = provider.assume().await?;
    if let Ok(mut slot) = provider.first.lock() {
        *slot = Some(first);
    }
    Ok(config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

/// Credentials of the audit role in one member account.
#[derive(Debug)]
struct AssumedRole {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    external_id: Option<String>,
    /// Credentials of the first assumption, handed out once.
    first: Mutex<Option<Credentials>>,
}

impl AssumedRole {
    async fn assume(&self) -> Result<Credentials, CallError> {
        let output = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(SESSION_NAME)
            .set_external_id(self.external_id.clone())
            .send()
            .await
            .map_err(|error| CallError::from_sdk("AssumeRole", error))?;
        let Some(credentials) = output.credentials() else {
            return Err(CallError {
                operation: "AssumeRole",
                code: None,
                message: "the response contained no credentials".to_owned(),
                http_status: None,
            });
        };
        let expiration = credentials.expiration();
        let expires = SystemTime::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(expiration.secs()).unwrap_or_default());
        Ok(Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_owned()),
            Some(expires),
            "keyward-assume-role",
        ))
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let first = self.first.lock().ok().and_then(|mut slot| slot.take());
            if let Some(first) = first {
                return Ok(first);
            }
            self.assume()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}
