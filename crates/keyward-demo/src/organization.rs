//! The accounts of the generated organization, in organizational units,
//! and the accounts outside it that its policies and callers name.

use serde::Serialize;

use crate::random::Random;

/// One organizational unit under the root.
#[derive(Clone, Debug, Serialize)]
pub struct OrganizationalUnit {
    /// Id, such as `ou-ab12-cdef3456`.
    pub id: String,
    /// Name, such as `Workloads`.
    pub name: String,
}

/// One member account.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    /// Twelve-digit account id.
    pub id: String,
    /// Account name.
    pub name: String,
    /// Index of its organizational unit in [`Organization::units`]; `None`
    /// for an account directly under the root.
    pub unit: Option<usize>,
    /// Role that applications of the account run as.
    pub app_role: String,
    /// Role that people of the account sign in with.
    pub admin_role: String,
}

/// The organization.
#[derive(Clone, Debug, Serialize)]
pub struct Organization {
    /// Organization id, such as `o-a1b2c3d4e5`.
    pub id: String,
    /// Root id, such as `r-ab12`.
    pub root: String,
    /// Organizational units, all directly under the root.
    pub units: Vec<OrganizationalUnit>,
    /// Accounts; the first is the management account.
    pub accounts: Vec<Account>,
    /// Accounts of partners outside the organization.
    pub outside_accounts: Vec<String>,
    /// Regions in which every account has assets and CloudTrail.
    pub regions: Vec<String>,
}

const UNIT_NAMES: [&str; 4] = ["Security", "Infrastructure", "Workloads", "Sandbox"];

const TEAM_NAMES: [&str; 12] = [
    "payments",
    "identity",
    "search",
    "analytics",
    "checkout",
    "billing",
    "catalog",
    "media",
    "support",
    "ledger",
    "mobile",
    "partners",
];

impl Organization {
    /// Generates an organization of `accounts` accounts (at least 2) in
    /// `regions`.
    pub fn generate(random: &mut Random, accounts: u32, regions: &[String]) -> Self {
        let id = format!(
            "o-{}",
            random.chars(10, b"abcdefghijklmnopqrstuvwxyz0123456789")
        );
        let root = format!(
            "r-{}",
            random.chars(4, b"abcdefghijklmnopqrstuvwxyz0123456789")
        );
        let root_suffix = &root[2..];
        let units = UNIT_NAMES
            .iter()
            .map(|name| OrganizationalUnit {
                id: format!(
                    "ou-{root_suffix}-{}",
                    random.chars(8, b"abcdefghijklmnopqrstuvwxyz0123456789")
                ),
                name: (*name).to_owned(),
            })
            .collect();

        let mut ids = std::collections::BTreeSet::new();
        let mut next_id = |random: &mut Random| loop {
            let id = format!("{:012}", 100_000_000_000 + random.below(899_999_999_999));
            if ids.insert(id.clone()) {
                return id;
            }
        };
        let mut members = Vec::new();
        for index in 0..accounts.max(2) as usize {
            let (name, unit) = match index {
                0 => ("management".to_owned(), None),
                1 => ("security-tooling".to_owned(), Some(0)),
                2 => ("shared-network".to_owned(), Some(1)),
                _ => {
                    let team = TEAM_NAMES[(index - 3) % TEAM_NAMES.len()];
                    let round = (index - 3) / TEAM_NAMES.len();
                    let stage = if index % 3 == 0 { "dev" } else { "prod" };
                    let name = if round == 0 {
                        format!("{team}-{stage}")
                    } else {
                        format!("{team}-{stage}-{}", round + 1)
                    };
                    let unit = if index % 7 == 6 { 3 } else { 2 };
                    (name, Some(unit))
                }
            };
            members.push(Account {
                id: next_id(random),
                app_role: format!("{name}-app"),
                admin_role: "AWSReservedSSO_AdministratorAccess_5e1c0b0b36a1d9e2".to_owned(),
                name,
                unit,
            });
        }
        let outside_accounts = (0..2).map(|_| next_id(random)).collect();
        Self {
            id,
            root,
            units,
            accounts: members,
            outside_accounts,
            regions: regions.to_vec(),
        }
    }

    /// Returns the account that runs the organization's security tooling.
    pub fn security_account(&self) -> &Account {
        &self.accounts[1]
    }

    /// Returns the `aws:PrincipalOrgPaths` form of an account's place.
    pub fn org_path(&self, account: &Account) -> String {
        match account.unit {
            Some(unit) => format!("{}/{}/{}/", self.id, self.root, self.units[unit].id),
            None => format!("{}/{}/", self.id, self.root),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_unique_and_twelve_digits() {
        let regions = vec!["us-east-1".to_owned()];
        let organization = Organization::generate(&mut Random::new(1), 40, &regions);
        let mut ids: Vec<&str> = organization
            .accounts
            .iter()
            .map(|a| a.id.as_str())
            .collect();
        ids.extend(organization.outside_accounts.iter().map(String::as_str));
        assert!(
            ids.iter()
                .all(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        );
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count);
    }

    #[test]
    fn account_names_unique() {
        let regions = vec!["us-east-1".to_owned()];
        let organization = Organization::generate(&mut Random::new(1), 60, &regions);
        let mut names: Vec<&str> = organization
            .accounts
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 60);
    }
}
