//! The built-in questions: the CloudTrail questions that crypto-asset
//! monitoring teams put to their logs, with the defects of the AWS sample solution's
//! Athena queries fixed.
//!
//! Fixed relative to those queries:
//! - the time window applies to every branch of a condition, not only the
//!   last one (`A AND B OR C AND D AND time` read as written);
//! - denied calls that name no key are kept, with an empty key, instead of
//!   indexing an empty resource list;
//! - Secrets Manager denials match `AccessDeniedException` as well as
//!   `AccessDenied`;
//! - a principal id is labelled as an id, not as an ARN;
//! - the secret of a `GetSecretValue` is its ARN or name, not the request's
//!   JSON text, so one secret is one row;
//! - a count is a count of events, and certificates issued or revoked count
//!   successful calls only.

use std::fmt::Write as _;

use crate::partition::is_plain_value;

/// Microseconds in a day.
const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// The window of event times a question covers: `from <= time < to`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeWindow {
    /// Start, inclusive, in microseconds since the epoch.
    pub from: Option<i64>,
    /// End, exclusive, in microseconds since the epoch.
    pub to: Option<i64>,
}

/// Filters that every question takes.
#[derive(Clone, Debug, Default)]
pub struct QuestionFilters {
    /// Window of event times; an open window for a question with a default
    /// window gets that default, ending now.
    pub window: TimeWindow,
    /// Accounts to keep; empty keeps all.
    pub accounts: Vec<String>,
    /// Regions to keep; empty keeps all.
    pub regions: Vec<String>,
    /// Current time in microseconds, for default windows.
    pub now: i64,
}

/// A built-in question.
#[derive(Debug)]
pub struct Question {
    /// Name, as `keyward query NAME` takes it.
    pub name: &'static str,
    /// One-line description of its result.
    pub description: &'static str,
    /// Days covered when no window is given; `None` covers all time.
    pub default_days: Option<i64>,
    /// The query; `{filter}` is replaced by the filter conditions and
    /// `{transient_errors}` by [`TRANSIENT_ERRORS`].
    sql: &'static str,
}

impl Question {
    /// Returns the SQL for the given filters.
    pub fn sql(&self, filters: &QuestionFilters) -> String {
        let window = self.effective_window(filters);
        let condition = filter_condition(window, &filters.accounts, &filters.regions);
        let findings_condition = findings_condition(&filters.accounts, &filters.regions);
        self.sql
            .replace("{filter}", &condition)
            .replace("{findings_filter}", &findings_condition)
            .replace("{transient_errors}", TRANSIENT_ERRORS)
    }

    /// Reports whether the question reads the latest check's findings rather
    /// than events.
    pub fn reads_findings(&self) -> bool {
        self.sql.contains("{findings_filter}")
    }

    /// Returns the window the question covers for the given filters: a
    /// question with a default length that is given no start covers that
    /// many days before the end, or before now.
    pub fn effective_window(&self, filters: &QuestionFilters) -> TimeWindow {
        let mut window = filters.window;
        if let (None, Some(days)) = (window.from, self.default_days) {
            let end = window.to.unwrap_or(filters.now);
            window.from = Some(end - days * MICROS_PER_DAY);
        }
        window
    }
}

/// Builds the SQL condition for a window, accounts and Regions. Partition
/// columns are constrained too, so that DataFusion skips whole folders.
pub fn filter_condition(window: TimeWindow, accounts: &[String], regions: &[String]) -> String {
    let mut condition = String::from("TRUE");
    if let Some(from) = window.from {
        let day = day_text(from);
        let _ = write!(
            condition,
            " AND time >= {} AND eventday >= '{day}'",
            timestamp(from)
        );
    }
    if let Some(to) = window.to {
        let day = day_text(to);
        let _ = write!(
            condition,
            " AND time < {} AND eventday <= '{day}'",
            timestamp(to)
        );
    }
    push_membership(&mut condition, "cloud_account_uid", "accountid", accounts);
    push_membership(&mut condition, "cloud_region", "region", regions);
    condition
}

/// Builds the SQL condition on accounts and Regions for the questions over
/// the latest check's findings, which have no event time.
fn findings_condition(accounts: &[String], regions: &[String]) -> String {
    let mut condition = String::from("TRUE");
    for (column, values) in [("account_id", accounts), ("region", regions)] {
        if !values.is_empty() {
            let list: Vec<String> = values.iter().map(|value| quote(value)).collect();
            let _ = write!(condition, " AND {column} IN ({})", list.join(", "));
        }
    }
    condition
}

fn push_membership(condition: &mut String, column: &str, partition: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    let list = values
        .iter()
        .map(|value| quote(value))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(condition, " AND {column} IN ({list})");
    if values.iter().all(|value| is_plain_value(value)) {
        let _ = write!(condition, " AND {partition} IN ({list})");
    }
}

fn timestamp(micros: i64) -> String {
    format!("arrow_cast({micros}, 'Timestamp(µs, \"UTC\")')")
}

fn day_text(micros: i64) -> String {
    keyward_cloudtrail::format_day(micros).replace('-', "")
}

/// Error codes of calls that failed for a transient cause, such as
/// throttling or a fault inside AWS, as an SQL list. Such a call was not
/// refused, so it is never a key's or a secret's last denied call.
pub const TRANSIENT_ERRORS: &str =
    "'ThrottlingException', 'Throttling', 'TooManyRequestsException',
    'RequestLimitExceeded', 'KMSInternalException', 'DependencyTimeoutException',
    'InternalServiceError', 'InternalServiceErrorException', 'InternalFailure',
    'ServiceUnavailable', 'ServiceUnavailableException', 'RequestTimeout',
    'RequestTimeoutException'";

/// Quotes a value as an SQL string literal.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Every built-in question, in the order `keyward query --list` shows them.
pub static QUESTIONS: [Question; 16] = [
    Question {
        name: "kms-access-denied",
        description: "KMS calls denied with AccessDenied, AccessDeniedException or \
                      UnauthorizedOperation, by principal, operation, key, account, \
                      Region and error",
        default_days: None,
        sql: "
SELECT principal, api_operation AS operation, asset AS key,
       cloud_account_uid AS account, cloud_region AS region,
       api_response_error AS error_code, count(*) AS count
FROM crypto_events
WHERE api_service_name = 'kms.amazonaws.com'
  AND api_response_error IN ('AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation')
  AND {filter}
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY count DESC, principal NULLS FIRST, operation NULLS FIRST, key NULLS FIRST,
         account NULLS FIRST, region NULLS FIRST, error_code NULLS FIRST",
    },
    Question {
        name: "kms-operation",
        description: "Decrypt, Encrypt and GenerateDataKey calls naming a key, by operation, \
                      principal, key, account, Region and outcome (last 30 days)",
        default_days: Some(30),
        sql: "
SELECT api_operation AS operation, principal, asset AS key,
       cloud_account_uid AS account, cloud_region AS region, status, count(*) AS count
FROM crypto_events
WHERE api_service_name = 'kms.amazonaws.com'
  AND api_operation IN ('Decrypt', 'Encrypt', 'GenerateDataKey')
  AND asset IS NOT NULL
  AND {filter}
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY count DESC, operation NULLS FIRST, principal NULLS FIRST, key NULLS FIRST,
         account NULLS FIRST, region NULLS FIRST, status NULLS FIRST",
    },
    Question {
        name: "cert-operation-brkdown",
        description: "Certificate lifecycle calls of ACM and Private CA by account, Region, \
                      service, day, operation and outcome (last 30 days)",
        default_days: Some(30),
        sql: "
SELECT cloud_account_uid AS account, cloud_region AS region, api_service_name AS service,
       to_char(time, '%Y-%m-%d') AS day, api_operation AS operation, status, count(*) AS count
FROM crypto_events
WHERE ((api_service_name = 'acm-pca.amazonaws.com'
        AND api_operation IN ('IssueCertificate', 'RevokeCertificate',
                              'CreateCertificateAuthority', 'UpdateCertificateAuthority',
                              'DeleteCertificateAuthority'))
    OR (api_service_name = 'acm.amazonaws.com'
        AND api_operation IN ('RequestCertificate', 'DeleteCertificate')))
  AND {filter}
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY count DESC, account NULLS FIRST, region NULLS FIRST, service NULLS FIRST,
         day NULLS FIRST, operation NULLS FIRST, status NULLS FIRST",
    },
    Question {
        name: "certs-issued",
        description: "Certificates issued by Private CA and requested from ACM, by account, \
                      Region, service, day and operation (last 30 days)",
        default_days: Some(30),
        sql: "
SELECT cloud_account_uid AS account, cloud_region AS region, api_service_name AS service,
       to_char(time, '%Y-%m-%d') AS day, api_operation AS operation, count(*) AS count
FROM crypto_events
WHERE ((api_service_name = 'acm-pca.amazonaws.com' AND api_operation = 'IssueCertificate')
    OR (api_service_name = 'acm.amazonaws.com' AND api_operation = 'RequestCertificate'))
  AND status = 'Success'
  AND {filter}
GROUP BY 1, 2, 3, 4, 5
ORDER BY count DESC, account NULLS FIRST, region NULLS FIRST, service NULLS FIRST,
         day NULLS FIRST, operation NULLS FIRST",
    },
    Question {
        name: "certs-revoked",
        description: "Certificates revoked in Private CA and deleted from ACM, by account, \
                      Region, service, day and operation (last 30 days)",
        default_days: Some(30),
        sql: "
SELECT cloud_account_uid AS account, cloud_region AS region, api_service_name AS service,
       to_char(time, '%Y-%m-%d') AS day, api_operation AS operation, count(*) AS count
FROM crypto_events
WHERE ((api_service_name = 'acm-pca.amazonaws.com' AND api_operation = 'RevokeCertificate')
    OR (api_service_name = 'acm.amazonaws.com' AND api_operation = 'DeleteCertificate'))
  AND status = 'Success'
  AND {filter}
GROUP BY 1, 2, 3, 4, 5
ORDER BY count DESC, account NULLS FIRST, region NULLS FIRST, service NULLS FIRST,
         day NULLS FIRST, operation NULLS FIRST",
    },
    Question {
        name: "sm-access-denied",
        description: "The 20 principals most often denied by Secrets Manager, with principal \
                      id, type, Region and account",
        default_days: None,
        sql: "
SELECT principal, actor_user_uid_alt AS principal_id, actor_user_type AS principal_type,
       cloud_region AS region, cloud_account_uid AS account, count(*) AS count
FROM crypto_events
WHERE api_service_name = 'secretsmanager.amazonaws.com'
  AND api_response_error IN ('AccessDenied', 'AccessDeniedException')
  AND {filter}
GROUP BY 1, 2, 3, 4, 5
ORDER BY count DESC, principal NULLS FIRST, principal_id NULLS FIRST,
         principal_type NULLS FIRST, region NULLS FIRST, account NULLS FIRST
LIMIT 20",
    },
    Question {
        name: "sm-deleted",
        description: "Successful DeleteSecret calls by account, Region and principal \
                      (last 30 days)",
        default_days: Some(30),
        sql: "
SELECT cloud_account_uid AS account, cloud_region AS region, principal,
       actor_user_uid_alt AS principal_id, count(*) AS count
FROM crypto_events
WHERE api_service_name = 'secretsmanager.amazonaws.com'
  AND api_operation = 'DeleteSecret'
  AND status = 'Success'
  AND {filter}
GROUP BY 1, 2, 3, 4
ORDER BY count DESC, account NULLS FIRST, region NULLS FIRST, principal NULLS FIRST,
         principal_id NULLS FIRST",
    },
    Question {
        name: "sm-get-ops",
        description: "The 10 secrets read most often with GetSecretValue, by Region and \
                      account",
        default_days: None,
        sql: "
SELECT asset AS secret, cloud_region AS region, cloud_account_uid AS account,
       count(*) AS count
FROM crypto_events
WHERE api_service_name = 'secretsmanager.amazonaws.com'
  AND api_operation = 'GetSecretValue'
  AND status = 'Success'
  AND {filter}
GROUP BY 1, 2, 3
ORDER BY count DESC, secret NULLS FIRST, region NULLS FIRST, account NULLS FIRST
LIMIT 10",
    },
    Question {
        name: "sm-operations-brkdwn",
        description: "Every Secrets Manager operation by account and Region",
        default_days: None,
        sql: "
SELECT api_operation AS operation, cloud_account_uid AS account, cloud_region AS region,
       count(*) AS count
FROM crypto_events
WHERE api_service_name = 'secretsmanager.amazonaws.com'
  AND {filter}
GROUP BY 1, 2, 3
ORDER BY count DESC, operation NULLS FIRST, account NULLS FIRST, region NULLS FIRST",
    },
    Question {
        name: "kms-key-usage",
        description: "Per KMS key: last successful cryptographic use (time, operation, event \
                      id, principal), uses in all and per operation, principals and their \
                      accounts, last refused call (not throttled or failed inside AWS)",
        default_days: None,
        sql: "
WITH uses AS (
    SELECT asset, time, api_operation, metadata_uid, principal, actor_user_account_uid,
           status, api_response_error, shared_event_id
    FROM crypto_events
    WHERE api_service_name = 'kms.amazonaws.com'
      AND api_operation IN ('Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey',
                            'GenerateDataKeyWithoutPlaintext', 'GenerateDataKeyPair',
                            'GenerateDataKeyPairWithoutPlaintext', 'Sign', 'Verify',
                            'GenerateMac', 'VerifyMac', 'DeriveSharedSecret')
      AND asset IS NOT NULL
      AND {filter}
),
latest_success AS (
    SELECT asset, time, api_operation, metadata_uid, principal,
           row_number() OVER (PARTITION BY asset ORDER BY time DESC, metadata_uid DESC) AS rank
    FROM uses WHERE status = 'Success'
),
latest_failure AS (
    SELECT asset, time, api_response_error,
           row_number() OVER (PARTITION BY asset ORDER BY time DESC, metadata_uid DESC) AS rank
    FROM uses
    WHERE status = 'Failure' AND api_response_error NOT IN ({transient_errors})
),
per_operation AS (
    SELECT asset,
           api_operation || '=' || CAST(count(*) FILTER (WHERE shared_event_id IS NULL)
               + count(DISTINCT shared_event_id) AS VARCHAR) AS operation_uses
    FROM uses WHERE status = 'Success'
    GROUP BY asset, api_operation
),
operations AS (
    SELECT asset, array_to_string(array_sort(array_agg(operation_uses)), ', ') AS uses_by_operation
    FROM per_operation GROUP BY asset
),
totals AS (
    SELECT asset,
           count(*) FILTER (WHERE status = 'Success' AND shared_event_id IS NULL)
               + count(DISTINCT api_operation || ' ' || shared_event_id)
                   FILTER (WHERE status = 'Success') AS uses,
           count(DISTINCT CASE WHEN status = 'Success' THEN principal END) AS principals,
           array_to_string(array_sort(array_agg(DISTINCT actor_user_account_uid)
               FILTER (WHERE status = 'Success' AND actor_user_account_uid IS NOT NULL)), ', ')
               AS principal_accounts
    FROM uses GROUP BY asset
)
SELECT t.asset AS key, split_part(t.asset, ':', 5) AS account,
       split_part(t.asset, ':', 4) AS region,
       s.time AS last_used, s.api_operation AS last_operation,
       s.metadata_uid AS last_event_id, s.principal AS last_principal,
       t.uses, o.uses_by_operation, t.principals, t.principal_accounts,
       f.time AS last_denied, f.api_response_error AS last_denied_error
FROM totals t
LEFT JOIN latest_success s ON s.asset = t.asset AND s.rank = 1
LEFT JOIN latest_failure f ON f.asset = t.asset AND f.rank = 1
LEFT JOIN operations o ON o.asset = t.asset
ORDER BY key",
    },
    Question {
        name: "kms-unused-cmks",
        description: "Latest check: enabled customer managed KMS keys unused for the rule's \
                      threshold, with the last use and the monthly cost",
        default_days: None,
        sql: "
SELECT account_id AS account, region, resource_arn AS key, cause, monthly_cost_usd, first_seen
FROM findings
WHERE rule_id = 'kms-key-unused' AND verdict = 'FAIL' AND suppressed_by IS NULL AND {findings_filter}
ORDER BY account, region, key",
    },
    Question {
        name: "kms-keys-without-autorotation",
        description: "Latest check: per account and Region, the number of customer managed \
                      symmetric keys without automatic rotation",
        default_days: None,
        sql: "
SELECT account_id AS account, region, count(DISTINCT resource_arn) AS keys
FROM findings
WHERE rule_id = 'kms-key-rotation' AND verdict = 'FAIL' AND suppressed_by IS NULL AND {findings_filter}
GROUP BY 1, 2
ORDER BY keys DESC, account, region",
    },
    Question {
        name: "cert-dns-validation-pending",
        description: "Latest check: Amazon issued certificates waiting for domain validation, \
                      of every key type and validation method",
        default_days: None,
        sql: "
SELECT account_id AS account, region, resource_arn AS certificate, cause, first_seen
FROM findings
WHERE rule_id = 'acm-certificate-pending-validation' AND verdict = 'FAIL' AND suppressed_by IS NULL AND {findings_filter}
ORDER BY account, region, certificate",
    },
    Question {
        name: "cert-expiring-check",
        description: "Latest check: certificates expiring within the rule's threshold, and \
                      expired ones, with the days left or since",
        default_days: None,
        sql: "
SELECT account_id AS account, region, resource_arn AS certificate, rule_id AS rule, severity, cause
FROM findings
WHERE rule_id IN ('acm-certificate-expiring', 'acm-certificate-expired') AND verdict = 'FAIL' AND suppressed_by IS NULL AND {findings_filter}
ORDER BY rule, account, region, certificate",
    },
    Question {
        name: "sm-rotation-not-enabled",
        description: "Latest check: secrets without automatic rotation",
        default_days: None,
        sql: "
SELECT account_id AS account, region, resource_arn AS secret, cause, first_seen
FROM findings
WHERE rule_id = 'secret-rotation-enabled' AND verdict = 'FAIL' AND suppressed_by IS NULL AND {findings_filter}
ORDER BY account, region, secret",
    },
    Question {
        name: "sm-unused-secrets",
        description: "Latest check: secrets not read within the rule's threshold, with the \
                      last read and the monthly cost",
        default_days: None,
        sql: "
SELECT account_id AS account, region, resource_arn AS secret, cause, monthly_cost_usd, first_seen
FROM findings
WHERE rule_id = 'secret-unused' AND verdict = 'FAIL' AND suppressed_by IS NULL AND {findings_filter}
ORDER BY account, region, secret",
    },
];

/// Returns the built-in question of that name.
pub fn question(name: &str) -> Option<&'static Question> {
    QUESTIONS.iter().find(|question| question.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_unique() {
        let mut names: Vec<_> = QUESTIONS.iter().map(|q| q.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), QUESTIONS.len());
    }

    #[test]
    fn default_window_applies_without_options() {
        let filters = QuestionFilters {
            now: 40 * MICROS_PER_DAY,
            ..Default::default()
        };
        let window = question("kms-operation")
            .unwrap()
            .effective_window(&filters);
        assert_eq!(window.from, Some(10 * MICROS_PER_DAY));
        let all_time = question("kms-access-denied")
            .unwrap()
            .effective_window(&filters);
        assert_eq!(all_time.from, None);
    }

    #[test]
    fn quotes_escaped() {
        assert_eq!(quote("o'brien"), "'o''brien'");
        let condition = filter_condition(TimeWindow::default(), &["a'b".to_owned()], &[]);
        assert!(condition.contains("cloud_account_uid IN ('a''b')"));
        assert!(
            !condition.contains("accountid"),
            "escaped values must not prune: {condition}"
        );
    }
}
