//! Query parameters of the API and the pages: accounts, Regions, the time
//! window, and paging and sorting of tables.
//!
//! Page URLs use the same names, so a filtered view can be shared.
//! `accounts` and `regions` take comma-separated values (or repeat). `from`
//! and `to` take a date or an RFC 3339 time (UTC), and `since` a duration
//! such as `30d`, or `all` for all stored time.

use keyward_store::query::{QuestionFilters, TimeWindow};

use crate::error::ServeError;

/// Microseconds in a second.
const MICROS_PER_SECOND: i64 = 1_000_000;

/// Maximum duration of `since`, in days: 100 years of 365 days.
const MAX_SINCE_DAYS: i64 = 36_500;

/// Rows per page when `page_size` is absent.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// Largest `page_size` accepted.
pub const MAX_PAGE_SIZE: usize = 500;

/// The decoded query string of a request.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes a raw query string, as after the `?` of a URL.
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Self { pairs }
    }

    /// Returns the last non-empty value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, value)| key == name && !value.trim().is_empty())
            .map(|(_, value)| value.trim())
    }

    /// Returns every value of a parameter, splitting comma-separated lists.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(key, _)| key == name)
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Accounts, Regions and time window of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// Accounts to keep; empty keeps all.
    pub accounts: Vec<String>,
    /// Regions to keep; empty keeps all.
    pub regions: Vec<String>,
    /// Window of event times; `None` ends leave the questions' defaults.
    pub window: TimeWindow,
    /// Current time in microseconds since the epoch.
    pub now: i64,
}

impl Filters {
    /// Reads and checks the filter parameters.
    pub fn parse(params: &Params, now: i64) -> Result<Self, ServeError> {
        let accounts = params.list("accounts");
        for account in &accounts {
            check_account(account)?;
        }
        let regions = params.list("regions");
        for region in &regions {
            check_region(region)?;
        }
        let to = params.get("to").map(parse_instant).transpose()?;
        let from = match (params.get("since"), params.get("from")) {
            (Some(_), Some(_)) => {
                return Err(ServeError::invalid("use either since or from, not both"));
            }
            (Some("all"), None) => Some(0),
            (Some(since), None) => Some(to.unwrap_or(now) - parse_duration(since)?),
            (None, from) => from.map(parse_instant).transpose()?,
        };
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(ServeError::invalid(
                "the window is empty: from must be before to",
            ));
        }
        Ok(Self {
            accounts,
            regions,
            window: TimeWindow { from, to },
            now,
        })
    }

    /// Returns the filters in the form the built-in questions take.
    pub fn question_filters(&self) -> QuestionFilters {
        QuestionFilters {
            window: self.window,
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
            now: self.now,
        }
    }

    /// Builds an SQL condition on the account and Region columns of an
    /// inventory or findings table.
    pub fn place_condition(&self, account_column: &str, region_column: &str) -> String {
        let mut condition = String::from("TRUE");
        for (column, values) in [
            (account_column, &self.accounts),
            (region_column, &self.regions),
        ] {
            if values.is_empty() {
                continue;
            }
            let list: Vec<String> = values
                .iter()
                .map(|value| keyward_store::query::catalog::quote(value))
                .collect();
            condition.push_str(&format!(" AND {column} IN ({})", list.join(", ")));
        }
        condition
    }

    /// Builds an SQL condition that keeps a timestamp column inside the
    /// window, where the window has ends.
    pub fn time_condition(&self, column: &str) -> String {
        let mut condition = String::from("TRUE");
        if let Some(from) = self.window.from {
            condition.push_str(&format!(" AND {column} >= {}", timestamp(from)));
        }
        if let Some(to) = self.window.to {
            condition.push_str(&format!(" AND {column} < {}", timestamp(to)));
        }
        condition
    }

    /// Returns the current time as an SQL timestamp literal.
    pub fn now_sql(&self) -> String {
        timestamp(self.now)
    }
}

/// Builds an SQL timestamp literal from microseconds since the epoch.
pub fn timestamp(micros: i64) -> String {
    format!("arrow_cast({micros}, 'Timestamp(µs, \"UTC\")')")
}

/// Sort direction of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

impl Order {
    /// SQL keyword.
    pub fn sql(self) -> &'static str {
        match self {
            Self::Ascending => "ASC",
            Self::Descending => "DESC",
        }
    }

    /// Name in URLs and responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ascending => "asc",
            Self::Descending => "desc",
        }
    }
}

/// Page and sort of a table request. The sort column is checked later,
/// against the columns of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paging {
    /// Page number, from 1.
    pub page: usize,
    /// Rows per page.
    pub page_size: usize,
    /// Column to sort by; `None` keeps the table's own order.
    pub sort: Option<String>,
    /// Direction of the sort.
    pub order: Order,
}

impl Paging {
    /// Reads and checks `page`, `page_size`, `sort` and `order`.
    pub fn parse(params: &Params) -> Result<Self, ServeError> {
        let page = match params.get("page") {
            None => 1,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|page| (1..=1_000_000).contains(page))
                .ok_or_else(|| {
                    ServeError::invalid(format!("invalid page {text:?}: use 1 to 1000000"))
                })?,
        };
        let page_size = match params.get("page_size") {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
                .ok_or_else(|| {
                    ServeError::invalid(format!(
                        "invalid page_size {text:?}: use 1 to {MAX_PAGE_SIZE}"
                    ))
                })?,
        };
        let order = match params.get("order") {
            None | Some("asc") => Order::Ascending,
            Some("desc") => Order::Descending,
            Some(other) => {
                return Err(ServeError::invalid(format!(
                    "invalid order {other:?}: use asc or desc"
                )));
            }
        };
        Ok(Self {
            page,
            page_size,
            sort: params.get("sort").map(str::to_owned),
            order,
        })
    }

    /// Rows skipped before the page.
    pub fn offset(&self) -> usize {
        (self.page - 1) * self.page_size
    }
}

fn check_account(text: &str) -> Result<(), ServeError> {
    if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ServeError::invalid(format!(
            "invalid account id {text:?}: expected 12 digits"
        )))
    }
}

/// Accepts lowercase words and a number joined by hyphens, as in
/// `us-east-1` or `eusc-de-east-1`.
fn check_region(text: &str) -> Result<(), ServeError> {
    let parts: Vec<&str> = text.split('-').collect();
    let words_valid = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()));
    let number_valid = parts
        .last()
        .is_some_and(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if words_valid && number_valid {
        Ok(())
    } else {
        Err(ServeError::invalid(format!(
            "invalid Region {text:?}: expected a name such as us-east-1"
        )))
    }
}

/// Parses a date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 time.
fn parse_instant(text: &str) -> Result<i64, ServeError> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    keyward_cloudtrail::parse_event_time(&full).ok_or_else(|| {
        ServeError::invalid(format!(
            "invalid time {text:?}: use a date such as 2026-05-01 or 2026-05-01T12:00:00Z"
        ))
    })
}

/// Parses a duration such as `12h`, `30d` or `2w`.
fn parse_duration(text: &str) -> Result<i64, ServeError> {
    let invalid = || {
        ServeError::invalid(format!(
            "invalid duration {text:?}: use a number and a unit (h, d or w) such as 30d, or all"
        ))
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let count: i64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(invalid()),
    };
    if count == 0 || count * seconds > MAX_SINCE_DAYS * 86_400 {
        return Err(invalid());
    }
    Ok(count * seconds * MICROS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400 * MICROS_PER_SECOND;

    fn filters(query: &str) -> Result<Filters, ServeError> {
        Filters::parse(&Params::parse(Some(query)), 100 * DAY)
    }

    #[test]
    fn lists_split_on_commas_and_repeats() {
        let parsed = filters("accounts=111122223333,444455556666&regions=us-east-1").unwrap();
        assert_eq!(parsed.accounts, ["111122223333", "444455556666"]);
        assert_eq!(parsed.regions, ["us-east-1"]);
        let repeated = filters("accounts=111122223333&accounts=444455556666").unwrap();
        assert_eq!(repeated.accounts.len(), 2);
    }

    #[test]
    fn since_counts_back_from_now_or_to() {
        assert_eq!(filters("since=30d").unwrap().window.from, Some(70 * DAY));
        let before = filters("since=1w&to=1970-01-31").unwrap();
        assert_eq!(before.window.from, Some(23 * DAY));
        assert_eq!(filters("since=all").unwrap().window.from, Some(0));
    }

    #[test]
    fn invalid_values_rejected() {
        for query in [
            "accounts=1234",
            "accounts=11112222333a",
            "regions=US-EAST-1",
            "regions=us-east-1'--",
            "from=yesterday",
            "since=30",
            "since=0d",
            "since=3y",
            "since=30d&from=2026-01-01",
            "from=2026-05-02&to=2026-05-01",
        ] {
            assert!(filters(query).is_err(), "{query} was accepted");
        }
    }

    #[test]
    fn place_condition_quotes_values() {
        let parsed = filters("accounts=111122223333&regions=eu-west-1").unwrap();
        assert_eq!(
            parsed.place_condition("account_id", "region"),
            "TRUE AND account_id IN ('111122223333') AND region IN ('eu-west-1')"
        );
    }

    #[test]
    fn paging_defaults_and_limits() {
        let paging = Paging::parse(&Params::parse(None)).unwrap();
        assert_eq!(paging.page, 1);
        assert_eq!(paging.page_size, DEFAULT_PAGE_SIZE);
        assert_eq!(paging.order, Order::Ascending);
        let third = Paging::parse(&Params::parse(Some("page=3&page_size=10&order=desc"))).unwrap();
        assert_eq!(third.offset(), 20);
        for query in ["page=0", "page_size=501", "order=up", "page=x"] {
            assert!(
                Paging::parse(&Params::parse(Some(query))).is_err(),
                "{query}"
            );
        }
    }
}
