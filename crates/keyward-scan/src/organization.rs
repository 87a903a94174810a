//! The place of each account in AWS Organizations: the root and the
//! organizational units (OUs) above it, for the `accounts` table and for
//! exceptions by OU.
//!
//! The tree is walked from `ListRoots` down: for the root and each OU,
//! `ListOrganizationalUnitsForParent` lists the child OUs with their names
//! and `ListAccountsForParent` the accounts directly inside. Each call
//! returns up to 20 items, so an organization of N accounts in M OUs costs
//! about 2(M + 1) + N/20 calls. Asking `ListParents` of each account
//! instead costs N calls, plus `ListParents` and
//! `DescribeOrganizationalUnit` for each OU up the tree, which for
//! thousands of accounts is several times more.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_organizations::Client;
use keyward_store::inventory::{AccountRecord, CoverageRecord};
use tracing::{debug, warn};

use crate::accounts::ListedAccount;
use crate::error::CallError;

/// Items per page: 20 is the maximum of these operations in the AWS API
/// model of Organizations.
const PAGE_SIZE: i32 = 20;

/// Name of the coverage rows of the walk.
pub const SERVICE: &str = "organizations";

/// The root and OUs above one account, root first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OuPath {
    /// Ids: `r-…`, then `ou-…` down to the account's parent.
    pub ids: Vec<String>,
    /// Names of the same root and OUs.
    pub names: Vec<String>,
}

impl OuPath {
    fn child(&self, id: &str, name: &str) -> Self {
        let mut path = self.clone();
        path.ids.push(id.to_owned());
        path.names.push(name.to_owned());
        path
    }
}

/// The organization as the walk read it.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// Organization id, from the root's ARN.
    pub organization_id: Option<String>,
    /// Path of each account that the walk reached.
    pub paths: HashMap<String, OuPath>,
}

/// Walks the organization with the scanning account's credentials. A failed
/// call ends the walk: the paths read before it are kept, and the coverage
/// row (service `organizations`) records the failure.
pub async fn read(
    config: &SdkConfig,
    caller_account: &str,
    scan_id: &str,
) -> (Tree, CoverageRecord) {
    let client = Client::new(config);
    let mut row = CoverageRecord {
        scan_id: scan_id.to_owned(),
        account_id: caller_account.to_owned(),
        service: SERVICE.to_owned(),
        ..CoverageRecord::default()
    };
    let mut tree = Tree::default();
    if let Err(error) = walk(&client, &mut tree, &mut row.calls).await {
        warn!(
            account = caller_account,
            "cannot read the organizational units, so OU exceptions match no account: {error}"
        );
        row.status = error.status();
        row.operation = Some(error.operation.to_owned());
        row.error_code = error.code.clone();
        row.error_message = Some(error.message.clone());
    }
    row.assets = tree.paths.len() as u32;
    debug!(
        accounts = tree.paths.len(),
        calls = row.calls,
        "organization walked"
    );
    (tree, row)
}

async fn walk(client: &Client, tree: &mut Tree, calls: &mut u32) -> Result<(), CallError> {
    let mut parents = Vec::new();
    for (id, name, arn) in list_roots(client, calls).await? {
        // A root ARN is arn:aws:organizations::MANAGEMENT:root/o-ID/r-ID.
        if tree.organization_id.is_none() {
            tree.organization_id = arn.split('/').nth(1).map(str::to_owned);
        }
        parents.push(OuPath::default().child(&id, &name));
    }
    while let Some(parent) = parents.pop() {
        let Some(parent_id) = parent.ids.last().cloned() else {
            continue;
        };
        for (id, name) in list_child_units(client, &parent_id, calls).await? {
            parents.push(parent.child(&id, &name));
        }
        for account_id in list_child_accounts(client, &parent_id, calls).await? {
            tree.paths.insert(account_id, parent.clone());
        }
    }
    Ok(())
}

/// Roots as id, name and ARN.
async fn list_roots(
    client: &Client,
    calls: &mut u32,
) -> Result<Vec<(String, String, String)>, CallError> {
    let mut roots = Vec::new();
    let mut next_token = None;
    loop {
        *calls += 1;
        let page = client
            .list_roots()
            .max_results(PAGE_SIZE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|error| CallError::from_sdk("ListRoots", error))?;
        for root in page.roots() {
            if let Some(id) = root.id() {
                let name = root.name().unwrap_or("Root");
                roots.push((
                    id.to_owned(),
                    name.to_owned(),
                    root.arn().unwrap_or_default().to_owned(),
                ));
            }
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => next_token = Some(next.to_owned()),
            _ => return Ok(roots),
        }
    }
}

/// Child OUs of a root or OU, as id and name.
async fn list_child_units(
    client: &Client,
    parent_id: &str,
    calls: &mut u32,
) -> Result<Vec<(String, String)>, CallError> {
    let mut units = Vec::new();
    let mut next_token = None;
    loop {
        *calls += 1;
        let page = client
            .list_organizational_units_for_parent()
            .parent_id(parent_id)
            .max_results(PAGE_SIZE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|error| CallError::from_sdk("ListOrganizationalUnitsForParent", error))?;
        for unit in page.organizational_units() {
            if let Some(id) = unit.id() {
                units.push((id.to_owned(), unit.name().unwrap_or_default().to_owned()));
            }
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => next_token = Some(next.to_owned()),
            _ => return Ok(units),
        }
    }
}

/// Ids of the accounts directly inside a root or OU.
async fn list_child_accounts(
    client: &Client,
    parent_id: &str,
    calls: &mut u32,
) -> Result<Vec<String>, CallError> {
    let mut accounts = Vec::new();
    let mut next_token = None;
    loop {
        *calls += 1;
        let page = client
            .list_accounts_for_parent()
            .parent_id(parent_id)
            .max_results(PAGE_SIZE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|error| CallError::from_sdk("ListAccountsForParent", error))?;
        accounts.extend(
            page.accounts()
                .iter()
                .filter_map(|a| a.id().map(str::to_owned)),
        );
        match page.next_token() {
            Some(next) if !next.is_empty() => next_token = Some(next.to_owned()),
            _ => return Ok(accounts),
        }
    }
}

/// Builds a row of the `accounts` table for each listed account.
/// `scanned` are the ids of the accounts that the scan selected.
pub fn account_records(
    listed: &[ListedAccount],
    scanned: &[&str],
    tree: &Tree,
    scan_id: &str,
) -> Vec<AccountRecord> {
    listed
        .iter()
        .map(|account| {
            let path = tree.paths.get(&account.id).cloned().unwrap_or_default();
            let org_path = match (&tree.organization_id, path.ids.is_empty()) {
                (Some(organization), false) => {
                    Some(format!("{organization}/{}/", path.ids.join("/")))
                }
                _ => None,
            };
            AccountRecord {
                scan_id: scan_id.to_owned(),
                account_id: account.id.clone(),
                name: account.name.clone(),
                status: account.status.clone(),
                scanned: scanned.contains(&account.id.as_str()),
                organization_id: tree.organization_id.clone(),
                ou_path_ids: path.ids,
                ou_path_names: path.names,
                org_path,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_path_and_org_path() {
        let listed = [
            ListedAccount {
                id: "111111111111".into(),
                name: Some("prod".into()),
                status: Some("ACTIVE".into()),
                active: true,
            },
            ListedAccount {
                id: "222222222222".into(),
                name: None,
                status: Some("SUSPENDED".into()),
                active: false,
            },
        ];
        let root = OuPath::default().child("r-ab12", "Root");
        let tree = Tree {
            organization_id: Some("o-a1b2c3d4e5".into()),
            paths: HashMap::from([(
                "111111111111".to_owned(),
                root.child("ou-ab12-11111111", "Workloads"),
            )]),
        };
        let records = account_records(&listed, &["111111111111"], &tree, "s");
        assert_eq!(records[0].ou_path_ids, ["r-ab12", "ou-ab12-11111111"]);
        assert_eq!(records[0].ou_path_names, ["Root", "Workloads"]);
        assert_eq!(
            records[0].org_path.as_deref(),
            Some("o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/")
        );
        assert!(records[0].scanned);
        assert!(records[1].ou_path_ids.is_empty());
        assert_eq!(records[1].org_path, None);
        assert!(!records[1].scanned);
    }
}
