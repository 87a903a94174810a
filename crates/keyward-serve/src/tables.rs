//! The tables of the dashboards, each one SQL query that the API pages and
//! sorts on the server.

use crate::dashboards::{expiring_condition, question_sql};
use crate::filters::Filters;

/// A dashboard table.
pub struct Table {
    /// Name in `/api/tables/{name}`.
    pub name: &'static str,
    /// Description of a row.
    pub description: &'static str,
    /// Builds the query for the filters.
    pub sql: fn(&Filters) -> String,
}

/// Returns the table of that name.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|table| table.name == name)
}

/// Every dashboard table.
pub static TABLES: [Table; 15] = [
    Table {
        name: "kms-denied",
        description: "KMS calls denied access, by principal, operation, key, account, Region \
                      and error (the question kms-access-denied)",
        sql: |filters| question_sql("kms-access-denied", filters),
    },
    Table {
        name: "kms-active-principals",
        description: "Principals by their Decrypt, Encrypt and GenerateDataKey calls",
        sql: kms_active_principals,
    },
    Table {
        name: "kms-top-keys",
        description: "The ten keys with the most successful Decrypt, Encrypt and \
                      GenerateDataKey calls",
        sql: kms_top_keys,
    },
    Table {
        name: "kms-unused-keys",
        description: "Keys failing the unused-key rule in the latest check",
        sql: |filters| unused_findings("kms-key-unused", "key", filters),
    },
    Table {
        name: "kms-keys",
        description: "KMS keys of the latest scan",
        sql: kms_keys,
    },
    Table {
        name: "certificates-expiring",
        description: "Certificates of the latest scan that expire within 60 days",
        sql: certificates_expiring,
    },
    Table {
        name: "certificates-pending-validation",
        description: "Certificates waiting for domain validation in the latest check (the \
                      question cert-dns-validation-pending)",
        sql: |filters| question_sql("cert-dns-validation-pending", filters),
    },
    Table {
        name: "certificates",
        description: "ACM certificates of the latest scan",
        sql: certificates,
    },
    Table {
        name: "certificate-authorities",
        description: "Private CA certificate authorities of the latest scan",
        sql: certificate_authorities,
    },
    Table {
        name: "secrets-unused",
        description: "Secrets failing the unused-secret rule in the latest check",
        sql: |filters| unused_findings("secret-unused", "secret", filters),
    },
    Table {
        name: "secrets-deleted",
        description: "Successful DeleteSecret calls by account, Region and principal (the \
                      question sm-deleted)",
        sql: |filters| question_sql("sm-deleted", filters),
    },
    Table {
        name: "secrets-most-read",
        description: "The ten secrets read most often (the question sm-get-ops)",
        sql: |filters| question_sql("sm-get-ops", filters),
    },
    Table {
        name: "secrets-without-rotation",
        description: "Secrets without automatic rotation in the latest check (the question \
                      sm-rotation-not-enabled)",
        sql: |filters| question_sql("sm-rotation-not-enabled", filters),
    },
    Table {
        name: "secrets-denied",
        description: "The principals most often denied by Secrets Manager (the question \
                      sm-access-denied)",
        sql: |filters| question_sql("sm-access-denied", filters),
    },
    Table {
        name: "secrets",
        description: "Secrets of the latest scan; the values are never read",
        sql: secrets,
    },
];

fn kms_active_principals(filters: &Filters) -> String {
    format!(
        "SELECT principal, sum(count) AS calls,
                sum(CASE WHEN status = 'Success' THEN count ELSE 0 END) AS successes,
                sum(CASE WHEN status = 'Failure' THEN count ELSE 0 END) AS failures,
                count(DISTINCT key) AS keys
         FROM ({}) AS q GROUP BY principal ORDER BY calls DESC, principal",
        question_sql("kms-operation", filters)
    )
}

fn kms_top_keys(filters: &Filters) -> String {
    format!(
        "SELECT key, account, region, sum(count) AS calls,
                count(DISTINCT principal) AS principals
         FROM ({}) AS q WHERE status = 'Success'
         GROUP BY key, account, region ORDER BY calls DESC, key LIMIT 10",
        question_sql("kms-operation", filters)
    )
}

/// Builds the failing findings of an unused-asset rule with their rule and
/// evaluation time, as the reference dashboards list them.
fn unused_findings(rule: &str, noun: &str, filters: &Filters) -> String {
    format!(
        "SELECT resource_arn AS {noun}, account_id AS account, region, rule_id AS rule,
                checked_at AS evaluated_at, cause, monthly_cost_usd, first_seen
         FROM findings
         WHERE rule_id = '{rule}' AND verdict = 'FAIL' AND suppressed_by IS NULL AND {}
         ORDER BY account, region, {noun}",
        filters.place_condition("account_id", "region")
    )
}

fn kms_keys(filters: &Filters) -> String {
    format!(
        "SELECT arn, account_id AS account, region, array_to_string(aliases, ', ') AS aliases,
                key_manager, key_state, key_spec, rotation_enabled, creation_date,
                last_used_at, description
         FROM keys WHERE {} ORDER BY account, region, arn",
        filters.place_condition("account_id", "region")
    )
}

fn certificates_expiring(filters: &Filters) -> String {
    let now_seconds = filters.now / 1_000_000;
    format!(
        "SELECT arn, domain_name, account_id AS account, region, status, certificate_type,
                not_after,
                CAST(floor((to_unixtime(not_after) - {now_seconds}) / 86400.0) AS BIGINT)
                    AS days_left,
                cardinality(in_use_by) AS in_use_by
         FROM certificates WHERE {} ORDER BY not_after, arn",
        expiring_condition(filters)
    )
}

fn certificates(filters: &Filters) -> String {
    format!(
        "SELECT arn, domain_name, account_id AS account, region, status, certificate_type,
                key_algorithm, not_after, renewal_eligibility,
                cardinality(in_use_by) AS in_use_by
         FROM certificates WHERE {} ORDER BY account, region, arn",
        filters.place_condition("account_id", "region")
    )
}

fn certificate_authorities(filters: &Filters) -> String {
    format!(
        "SELECT arn, common_name, account_id AS account, region, authority_type, status,
                key_algorithm, not_after
         FROM certificate_authorities WHERE {} ORDER BY account, region, arn",
        filters.place_condition("account_id", "region")
    )
}

fn secrets(filters: &Filters) -> String {
    format!(
        "SELECT arn, name, account_id AS account, region, rotation_enabled,
                last_rotated_at, last_accessed_at, deleted_at, owning_service, description
         FROM secrets WHERE {} ORDER BY account, region, arn",
        filters.place_condition("account_id", "region")
    )
}
