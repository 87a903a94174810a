//! The organizational units of each account, for exceptions by OU.

use std::collections::{BTreeSet, HashMap};

use crate::context::Context;

impl Context {
    /// Returns, per account, the ids of the root and organizational units
    /// above it, root first. Accounts whose units the scan did not read are
    /// left out.
    pub fn ou_paths(&self) -> HashMap<&str, &[String]> {
        self.snapshot
            .accounts
            .iter()
            .filter(|account| !account.ou_path_ids.is_empty())
            .map(|account| (account.account_id.as_str(), account.ou_path_ids.as_slice()))
            .collect()
    }

    /// Returns the accounts of the scan whose organizational units are
    /// unknown, so that no exception by OU can match their resources.
    pub fn accounts_without_ou_path(&self) -> BTreeSet<&str> {
        let paths = self.ou_paths();
        self.known_accounts()
            .into_iter()
            .filter(|account| !paths.contains_key(account))
            .collect()
    }
}
