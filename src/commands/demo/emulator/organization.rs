//! The organization of the emulator demo in moto: the organization, its
//! organizational units and member accounts, and credentials in each
//! member account.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_organizations::types::OrganizationFeatureSet;
use keyward_demo::OrganizationIds;

/// Role that the loader and the scan assume in each member account. moto
/// lets any role be assumed without creating it.
pub(super) const AUDIT_ROLE: &str = "KeywardAudit";

/// Creates the planned organization in moto: the caller's account is the
/// management account, and each member account and organizational unit
/// is created under the root. Returns the ids that moto assigned.
pub(super) async fn create_organization(
    config: &SdkConfig,
    world: &keyward_demo::world::World,
) -> anyhow::Result<OrganizationIds> {
    let client = aws_sdk_organizations::Client::new(config);
    let organization = client
        .create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .map_err(|error| {
            let already = error
                .as_service_error()
                .is_some_and(|e| e.is_already_in_organization_exception());
            if already {
                anyhow::anyhow!(
                    "moto already has an organization, from an earlier demo or test; restart moto and run the demo again"
                )
            } else {
                anyhow::anyhow!(
                    "failed to create the organization in moto ({}); check that moto runs at the --emulator URL",
                    aws_sdk_organizations::error::DisplayErrorContext(&error)
                )
            }
        })?
        .organization
        .context("moto returned no organization")?;
    let organization_id = organization
        .id
        .context("moto returned no organization id")?;
    let management = organization
        .master_account_id
        .context("moto returned no management account")?;

    let root = client
        .list_roots()
        .send()
        .await
        .map_err(|error| organizations_error("ListRoots", &error))?
        .roots
        .unwrap_or_default()
        .into_iter()
        .find_map(|root| root.id)
        .context("moto returned no root")?;
    let mut units = Vec::new();
    for unit in &world.organization.units {
        let created = client
            .create_organizational_unit()
            .parent_id(&root)
            .name(&unit.name)
            .send()
            .await
            .map_err(|error| organizations_error("CreateOrganizationalUnit", &error))?;
        let id = created.organizational_unit.and_then(|unit| unit.id);
        units.push(id.context("moto returned no organizational unit id")?);
    }

    let mut account_ids = vec![management];
    for account in &world.organization.accounts[1..] {
        let id = create_account(&client, account).await?;
        if let Some(unit) = account.unit {
            client
                .move_account()
                .account_id(&id)
                .source_parent_id(&root)
                .destination_parent_id(&units[unit])
                .send()
                .await
                .map_err(|error| organizations_error("MoveAccount", &error))?;
        }
        account_ids.push(id);
    }
    Ok(OrganizationIds {
        organization_id,
        account_ids,
    })
}

async fn create_account(
    client: &aws_sdk_organizations::Client,
    account: &keyward_demo::organization::Account,
) -> anyhow::Result<String> {
    let status = client
        .create_account()
        .account_name(&account.name)
        .email(format!("{}@example.com", account.name))
        .send()
        .await
        .map_err(|error| organizations_error("CreateAccount", &error))?
        .create_account_status
        .context("moto returned no account creation status")?;
    // moto creates the account at once, where AWS takes minutes.
    status.account_id.with_context(|| {
        format!(
            "moto did not create account {} (state {:?})",
            account.name,
            status.state.map(|state| state.as_str().to_owned())
        )
    })
}

fn organizations_error<E>(
    operation: &str,
    error: &aws_sdk_organizations::error::SdkError<E>,
) -> anyhow::Error
where
    E: std::error::Error + 'static,
{
    anyhow::anyhow!(
        "{operation} failed in moto: {}",
        aws_sdk_organizations::error::DisplayErrorContext(error)
    )
}

/// Assumes [`AUDIT_ROLE`] in each member account and returns a
/// configuration with its credentials, by account id.
pub(super) async fn member_configs(
    config: &SdkConfig,
    accounts: &[String],
) -> anyhow::Result<BTreeMap<String, SdkConfig>> {
    let sts = aws_sdk_sts::Client::new(config);
    let mut configs = BTreeMap::new();
    for account in accounts {
        let credentials = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/{AUDIT_ROLE}"))
            .role_session_name("keyward-demo")
            .send()
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "failed to assume {AUDIT_ROLE} in account {account} in moto ({})",
                    aws_sdk_sts::error::DisplayErrorContext(&error)
                )
            })?
            .credentials
            .context("moto returned no credentials")?;
        let credentials = aws_credential_types::Credentials::new(
            credentials.access_key_id,
            credentials.secret_access_key,
            Some(credentials.session_token),
            None,
            "keyward-demo",
        );
        let member = config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        configs.insert(account.clone(), member);
    }
    Ok(configs)
}
