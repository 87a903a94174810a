//! The frame that every generator shares: the organization, the period and
//! the default thresholds of the rules.

use chrono::{DateTime, Duration, Utc};

use crate::organization::{Account, Organization};

/// Default thresholds of the rules, in days, as the default configuration
/// of `keyward check` sets them.
pub mod thresholds {
    /// `kms-key-unused`.
    pub const KEY_UNUSED: i64 = 90;
    /// `kms-key-inactive-in-use`.
    pub const KEY_INACTIVE_IN_USE: i64 = 30;
    /// `acm-certificate-expiring`.
    pub const CERTIFICATE_EXPIRING: i64 = 30;
    /// `secret-rotated-recently`.
    pub const SECRET_ROTATED: i64 = 90;
    /// `secret-unused`.
    pub const SECRET_UNUSED: i64 = 90;
}

/// Minutes after the start of the period at which the first event of every
/// account and Region is logged.
pub const FIRST_EVENT_MINUTES: i64 = 30;

/// One account and Region of the organization.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    /// The account.
    pub account: &'a Account,
    /// The Region.
    pub region: &'a str,
}

/// The organization and the period.
#[derive(Clone, Debug)]
pub struct World {
    /// The organization.
    pub organization: Organization,
    /// End of the period, and the time at which the rules judge.
    pub now: DateTime<Utc>,
    /// Start of the period.
    pub start: DateTime<Utc>,
    /// Days in the period.
    pub days: u32,
}

impl World {
    /// Returns the time `days` days before now.
    pub fn days_ago(&self, days: i64) -> DateTime<Utc> {
        self.now - Duration::days(days)
    }

    /// Returns the time `hours` hours before now.
    pub fn hours_ago(&self, hours: i64) -> DateTime<Utc> {
        self.now - Duration::hours(hours)
    }

    /// Returns `time` if the period contains it.
    pub fn in_period(&self, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (time > self.start && time < self.now).then_some(time)
    }

    /// Returns the time of the first CloudTrail event of every account and
    /// Region.
    pub fn first_event(&self) -> DateTime<Utc> {
        self.start + Duration::minutes(FIRST_EVENT_MINUTES)
    }

    /// Returns whether CloudTrail covers the last `days` days in every
    /// account and Region, as the rules decide it.
    pub fn trail_covers(&self, days: i64) -> bool {
        self.first_event() <= self.days_ago(days)
    }

    /// Returns the account with this id.
    pub fn account(&self, id: &str) -> &Account {
        self.organization
            .accounts
            .iter()
            .find(|account| account.id == id)
            .expect("account of the organization")
    }
}
