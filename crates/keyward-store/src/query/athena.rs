//! The built-in questions as Athena (Trino) SQL over the tables of Amazon
//! Security Lake, for users whose logs and findings are already there.
//!
//! The CloudTrail questions read `cloud_trail_mgmt_2_0`: CloudTrail
//! management events as OCSF 1.1 API Activity (class 6003). They resolve
//! the asset of an event as the store does (`docs/columns.md`). The asset
//! is the typed entry of `resources`, else the request's identifier turned
//! into an ARN. KMS aliases and secret names then resolve through the latest
//! successful event that bound them, read from the same table over all time.
//!
//! The finding questions read `sh_findings_2_0`: Security Hub findings as
//! OCSF 1.1 Compliance Finding (class 2003). Security Lake stores every
//! update of a finding, so each question keeps the latest row per rule and
//! resource and reports it only when that row failed. Two shapes of rows
//! are read, see [`FINDING_RULE`].
//!
//! OCSF arrays are 1-indexed in Trino, and `element_at` returns null past
//! the end of an array or for a missing map key where a subscript would
//! fail the query.

use super::catalog::{Question, QuestionFilters, TRANSIENT_ERRORS, TimeWindow, quote};

/// The Security Lake tables that the questions read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LakeTables {
    /// The Glue database, quoted where needed.
    database: String,
    /// The Region part of the table names, such as `us_east_1`.
    region_suffix: String,
}

/// The table a question reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LakeTable {
    /// `amazon_security_lake_table_REGION_cloud_trail_mgmt_2_0`.
    CloudTrail,
    /// `amazon_security_lake_table_REGION_sh_findings_2_0`.
    Findings,
}

impl LakeTables {
    /// Names the tables of the Security Lake in `lake_region`, in `database`
    /// or else in Security Lake's own `amazon_security_lake_glue_db_REGION`.
    ///
    /// Returns an error message for a Region name that is not lowercase
    /// letters, digits and hyphens.
    pub fn new(lake_region: &str, database: Option<&str>) -> Result<Self, String> {
        let valid = !lake_region.is_empty()
            && lake_region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(format!(
                "invalid Region {lake_region:?}: expected a name such as us-east-1"
            ));
        }
        let region_suffix = lake_region.replace('-', "_");
        let database = match database {
            Some(name) => quote_identifier(name),
            None => format!("amazon_security_lake_glue_db_{region_suffix}"),
        };
        Ok(Self {
            database,
            region_suffix,
        })
    }

    /// Returns the qualified name of a table.
    pub fn name(&self, table: LakeTable) -> String {
        let source = match table {
            LakeTable::CloudTrail => "cloud_trail_mgmt_2_0",
            LakeTable::Findings => "sh_findings_2_0",
        };
        format!(
            "{}.amazon_security_lake_table_{}_{source}",
            self.database, self.region_suffix
        )
    }
}

/// Quotes an identifier unless it is plain lowercase letters, digits and
/// underscores.
fn quote_identifier(name: &str) -> String {
    let plain = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Returns the table that a question reads.
pub fn table_read(question: &Question) -> LakeTable {
    if question.reads_findings() {
        LakeTable::Findings
    } else {
        LakeTable::CloudTrail
    }
}

/// Returns a question as Athena SQL, or `None` for a question that has no
/// Athena form.
pub fn athena_sql(
    question: &Question,
    filters: &QuestionFilters,
    tables: &LakeTables,
) -> Option<String> {
    let window = question.effective_window(filters);
    let scope = Scope {
        window,
        accounts: &filters.accounts,
        regions: &filters.regions,
    };
    match table_read(question) {
        LakeTable::CloudTrail => cloudtrail_sql(question.name, &scope, tables),
        LakeTable::Findings => findings_sql(question.name, &scope, tables),
    }
}

/// The filters of one question, after its default window.
struct Scope<'a> {
    window: TimeWindow,
    accounts: &'a [String],
    regions: &'a [String],
}

impl Scope<'_> {
    /// Builds the condition on time, account and Region, where `account`
    /// and `region` are the expressions that contain them. The partition
    /// columns `eventday`, `accountid` and `region` are constrained as well,
    /// so that Athena reads only the matching folders.
    fn condition(&self, account: &str, region: &str) -> String {
        let mut terms = self.place_terms(account, region);
        if let Some(from) = self.window.from {
            terms.push(format!("time >= {}", micros_to_millis_ceil(from)));
            terms.push(format!("eventday >= '{}'", day_text(from)));
        }
        if let Some(to) = self.window.to {
            terms.push(format!("time < {}", micros_to_millis_ceil(to)));
            terms.push(format!("eventday <= '{}'", day_text(to)));
        }
        join_terms(&terms)
    }

    /// Builds the condition on account and Region only, for the lookups
    /// that read all time.
    fn place_condition(&self, account: &str, region: &str) -> String {
        join_terms(&self.place_terms(account, region))
    }

    fn place_terms(&self, account: &str, region: &str) -> Vec<String> {
        let mut terms = Vec::new();
        push_membership(&mut terms, &[account, "accountid"], self.accounts);
        push_membership(&mut terms, &[region, "region"], self.regions);
        terms
    }
}

fn join_terms(terms: &[String]) -> String {
    if terms.is_empty() {
        "TRUE".to_owned()
    } else {
        terms.join(" AND ")
    }
}

fn push_membership(terms: &mut Vec<String>, columns: &[&str], values: &[String]) {
    if values.is_empty() {
        return;
    }
    let list = values
        .iter()
        .map(|value| quote(value))
        .collect::<Vec<_>>()
        .join(", ");
    for (index, column) in columns.iter().enumerate() {
        if !columns[..index].contains(column) {
            terms.push(format!("{column} IN ({list})"));
        }
    }
}

/// OCSF `time` is in milliseconds. An event at `t` ms is at or after `µs`
/// exactly when `t >= ceil(µs / 1000)`.
fn micros_to_millis_ceil(micros: i64) -> i64 {
    micros.div_euclid(1000) + i64::from(micros.rem_euclid(1000) > 0)
}

fn day_text(micros: i64) -> String {
    keyward_cloudtrail::format_day(micros).replace('-', "")
}

/// The columns of the `events` CTE that every CloudTrail question reads:
/// the store's columns under the names that `crypto_events` gives them.
/// `accountid` is the account that Security Lake partitions by, the
/// recipient account of the event.
const EVENT_COLUMNS: &str = "time, accountid AS account, cloud.region AS region,
           api.service.name AS service, api.operation AS operation,
           NULLIF(api.response.error, '') AS error_code,
           CASE WHEN NULLIF(api.response.error, '') IS NULL THEN 'Success'
                ELSE 'Failure' END AS status,
           metadata.uid AS event_id,
           COALESCE(actor.session.issuer, actor.user.uid, actor.invoked_by,
                    actor.user.uid_alt) AS principal,
           actor.user.uid_alt AS principal_id, actor.user.type AS principal_type,
           actor.user.account.uid AS principal_account,
           NULLIF(element_at(unmapped, 'sharedEventID'), '') AS shared_event_id";

/// Numbers the deliveries of one event, so that `delivery = 1` keeps each
/// event once, as the store does: CloudTrail can deliver an event twice,
/// and Security Lake keeps both. An event is its id, time, service,
/// operation, error, account and Region, and for an event without an id
/// also its caller, request and response.
const DELIVERY: &str = "row_number() OVER (
               PARTITION BY metadata.uid, time, api.service.name, api.operation,
                            NULLIF(api.response.error, ''), accountid, cloud.region,
                            CASE WHEN metadata.uid IS NULL
                                 THEN concat_ws('|', actor.user.uid, actor.user.uid_alt,
                                                api.request.data, api.response.data,
                                                src_endpoint.ip) END) AS delivery";

/// Builds the `events` CTE: the events of `services` within the scope,
/// each once.
fn events_cte(tables: &LakeTables, scope: &Scope<'_>, services: &str) -> String {
    format!(
        "deliveries AS (
    SELECT {EVENT_COLUMNS},
           {DELIVERY}
    FROM {table}
    WHERE class_uid = 6003
      AND api.service.name IN ({services})
      AND {condition}
),
events AS (
    SELECT * FROM deliveries WHERE delivery = 1
)",
        table = tables.name(LakeTable::CloudTrail),
        condition = scope.condition("accountid", "cloud.region"),
    )
}

/// The service whose assets a question resolves.
#[derive(Clone, Copy)]
enum AssetService {
    Kms,
    SecretsManager,
}

/// The ARN partition of an event: from its first resource ARN or the
/// caller's ARN, else from the Region's name.
const ARN_PARTITION: &str = "COALESCE(
               NULLIF(split_part(COALESCE(
                   element_at(filter(resources, r -> r.uid LIKE 'arn:%'), 1).uid,
                   CASE WHEN actor.user.uid LIKE 'arn:%' THEN actor.user.uid END), ':', 2), ''),
               CASE WHEN cloud.region LIKE 'cn-%' THEN 'aws-cn'
                    WHEN cloud.region LIKE 'us-gov-%' THEN 'aws-us-gov'
                    ELSE 'aws' END)";

/// Turns a KMS key id, alias name or ARN in `id` into an ARN in the
/// event's account and Region, as `normalize_key_id` does in the store.
fn kms_arn(id: &str, partition: &str) -> String {
    format!(
        "CASE WHEN {id} IS NULL THEN NULL
                WHEN {id} LIKE 'arn:%' OR account IS NULL OR region IS NULL THEN {id}
                WHEN {id} LIKE 'alias/%'
                    THEN concat('arn:', {partition}, ':kms:', region, ':', account, ':', {id})
                ELSE concat('arn:', {partition}, ':kms:', region, ':', account, ':key/', {id}) END"
    )
}

/// Returns the first non-empty string at one of `paths` in the JSON text
/// `column`.
fn json_first(column: &str, paths: &[&str]) -> String {
    let values: Vec<String> = paths
        .iter()
        .map(|path| format!("NULLIF(json_extract_scalar({column}, '$.{path}'), '')"))
        .collect();
    match values.as_slice() {
        [single] => single.clone(),
        _ => format!("COALESCE({})", values.join(",\n                    ")),
    }
}

/// Builds the CTEs `events` (with `resource`, the event's own asset),
/// `names` (the bindings of aliases or secret names) and `crypto_events`
/// (with `asset`, the resource after the bindings).
fn asset_ctes(
    tables: &LakeTables,
    scope: &Scope<'_>,
    service: AssetService,
    operations: Option<&str>,
) -> String {
    let table = tables.name(LakeTable::CloudTrail);
    let (source, asset_type, request_paths, response_paths): (_, _, &[&str], &[&str]) =
        match service {
            AssetService::Kms => (
                "kms.amazonaws.com",
                "AWS::KMS::Key",
                &["keyId", "destinationKeyId", "sourceKeyId", "targetKeyId"],
                &["keyMetadata.arn"],
            ),
            AssetService::SecretsManager => (
                "secretsmanager.amazonaws.com",
                "AWS::SecretsManager::Secret",
                &["secretId", "SecretId", "name", "Name"],
                &["arn", "aRN", "ARN"],
            ),
        };
    let operation_condition = operations
        .map(|list| format!("\n      AND api.operation IN ({list})"))
        .unwrap_or_default();
    let request_id = json_first("api.request.data", request_paths);
    let response_id = json_first("api.response.data", response_paths);
    let identifier = match service {
        AssetService::Kms => kms_arn("request_id", "arn_partition"),
        AssetService::SecretsManager => "request_id".to_owned(),
    };
    let key_arn = match service {
        AssetService::Kms => "element_at(filter(resources, r -> r.uid LIKE '%:key/%'), 1).uid",
        AssetService::SecretsManager => "NULL",
    };
    let names = match service {
        AssetService::Kms => alias_names(&table, scope),
        AssetService::SecretsManager => secret_names(&table, scope),
    };
    format!(
        "requests AS (
    SELECT {EVENT_COLUMNS},
           element_at(filter(resources, r -> r.type = '{asset_type}' AND r.uid IS NOT NULL), 1).uid
               AS typed_resource,
           {key_arn} AS key_resource,
           element_at(filter(resources, r -> r.uid IS NOT NULL), 1).uid AS first_resource,
           COALESCE({request_id},
                    {response_id}) AS request_id,
           {ARN_PARTITION} AS arn_partition,
           {DELIVERY}
    FROM {table}
    WHERE class_uid = 6003
      AND api.service.name = '{source}'{operation_condition}
      AND {condition}
),
events AS (
    SELECT requests.*,
           COALESCE(typed_resource, key_resource,
                    {identifier},
                    first_resource) AS resource
    FROM requests
    WHERE delivery = 1
),
{names},
known_targets AS (
    SELECT DISTINCT target FROM names
),
crypto_events AS (
    SELECT e.*, COALESCE(n.target, e.resource) AS asset
    FROM events e
    LEFT JOIN known_targets k ON k.target = e.resource
    LEFT JOIN names n
      ON n.reference = CASE WHEN {partial} THEN split_part(e.resource, ':secret:', 2)
                            ELSE e.resource END
     AND (n.reference LIKE 'arn:%'
          OR (n.account = CASE WHEN {partial} THEN split_part(e.resource, ':', 5)
                               ELSE e.account END
              AND n.region = CASE WHEN {partial} THEN split_part(e.resource, ':', 4)
                                  ELSE e.region END))
     AND (n.valid_from IS NULL OR e.time >= n.valid_from)
     AND (n.valid_until IS NULL OR e.time < n.valid_until)
)",
        partial = "e.resource LIKE 'arn:%:secretsmanager:%:secret:%' AND k.target IS NULL",
        condition = scope.condition("accountid", "cloud.region"),
    )
}

/// Builds the `names` CTE for KMS: the spans of time in which each alias
/// pointed to a key, from its successful `CreateAlias` and `UpdateAlias`
/// calls over all time (see [`NAME_SPANS`]).
fn alias_names(table: &str, scope: &Scope<'_>) -> String {
    let alias = kms_arn("alias_name", "arn_partition");
    let target = kms_arn("target_key_id", "arn_partition");
    format!(
        "names AS (
    {NAME_SPANS}
    FROM (
        SELECT account, region, time,
               {alias} AS reference,
               {target} AS target
        FROM (
            SELECT time, accountid AS account, cloud.region AS region,
                   json_extract_scalar(api.request.data, '$.aliasName') AS alias_name,
                   json_extract_scalar(api.request.data, '$.targetKeyId') AS target_key_id,
                   COALESCE(NULLIF(split_part(actor.user.uid, ':', 2), ''), 'aws')
                       AS arn_partition
            FROM {table}
            WHERE class_uid = 6003
              AND api.service.name = 'kms.amazonaws.com'
              AND api.operation IN ('CreateAlias', 'UpdateAlias')
              AND NULLIF(api.response.error, '') IS NULL
              AND accountid IS NOT NULL AND cloud.region IS NOT NULL
              AND {condition}
        ) alias_events
        WHERE alias_name IS NOT NULL AND target_key_id IS NOT NULL
    ) bindings
    GROUP BY account, region, reference, time
) timed
)",
        condition = scope.place_condition("accountid", "cloud.region"),
    )
}

/// Builds the `names` CTE for Secrets Manager: the spans of time in which
/// each secret name pointed to an ARN (see [`NAME_SPANS`]). The bindings
/// come from the successful events, over all time, that named the secret by
/// name in the request and by ARN in `resources` or in the response.
fn secret_names(table: &str, scope: &Scope<'_>) -> String {
    let name = json_first(
        "api.request.data",
        &["secretId", "SecretId", "name", "Name"],
    );
    let arn = json_first("api.response.data", &["arn", "aRN", "ARN"]);
    format!(
        "names AS (
    {NAME_SPANS}
    FROM (
        SELECT time, accountid AS account, cloud.region AS region,
               {name} AS reference,
               COALESCE(element_at(filter(resources, r -> r.uid LIKE '%:secretsmanager:%'), 1).uid,
                        {arn}) AS target
        FROM {table}
        WHERE class_uid = 6003
          AND api.service.name = 'secretsmanager.amazonaws.com'
          AND NULLIF(api.response.error, '') IS NULL
          AND accountid IS NOT NULL AND cloud.region IS NOT NULL
          AND {condition}
    ) bindings
    WHERE reference IS NOT NULL AND reference NOT LIKE 'arn:%' AND target IS NOT NULL
    GROUP BY account, region, reference, time
) timed
)",
        condition = scope.place_condition("accountid", "cloud.region"),
    )
}

/// The start of a `names` CTE, which reads the bindings of one name at each
/// time (`bindings`, grouped by name and time) and gives each target the
/// span from its binding to the next one. The first span of a name has no
/// start, so an event before any binding takes the earliest one, and the
/// last has no end.
const NAME_SPANS: &str = "SELECT account, region, reference, target,
           CASE WHEN row_number() OVER (PARTITION BY account, region, reference ORDER BY time) = 1
                THEN NULL ELSE time END AS valid_from,
           lead(time) OVER (PARTITION BY account, region, reference ORDER BY time) AS valid_until
    FROM (
    SELECT account, region, reference, time, max(target) AS target";

/// The UTC day of an event, as `YYYY-MM-DD`.
const DAY: &str = "date_format(from_unixtime(time / 1000), '%Y-%m-%d')";

/// KMS operations that use a key cryptographically, as in `kms-key-usage`.
const KMS_USE_OPERATIONS: &str = "'Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey',
                            'GenerateDataKeyWithoutPlaintext', 'GenerateDataKeyPair',
                            'GenerateDataKeyPairWithoutPlaintext', 'Sign', 'Verify',
                            'GenerateMac', 'VerifyMac', 'DeriveSharedSecret'";

fn cloudtrail_sql(name: &str, scope: &Scope<'_>, tables: &LakeTables) -> Option<String> {
    let secrets = "'secretsmanager.amazonaws.com'";
    let certificates = "'acm.amazonaws.com', 'acm-pca.amazonaws.com'";
    let sql = match name {
        "kms-access-denied" => format!(
            "-- KMS calls denied with AccessDenied, AccessDeniedException or
-- UnauthorizedOperation. A denied call that names no key has a null key.
WITH {ctes}
SELECT principal, operation, asset AS key, account, region, error_code, count(*) AS count
FROM crypto_events
WHERE error_code IN ('AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation')
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY count DESC, principal NULLS FIRST, operation NULLS FIRST, key NULLS FIRST,
         account NULLS FIRST, region NULLS FIRST, error_code NULLS FIRST",
            ctes = asset_ctes(tables, scope, AssetService::Kms, None),
        ),
        "kms-operation" => format!(
            "-- Decrypt, Encrypt and GenerateDataKey calls that name a key.
WITH {ctes}
SELECT operation, principal, asset AS key, account, region, status, count(*) AS count
FROM crypto_events
WHERE asset IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY count DESC, operation NULLS FIRST, principal NULLS FIRST, key NULLS FIRST,
         account NULLS FIRST, region NULLS FIRST, status NULLS FIRST",
            ctes = asset_ctes(
                tables,
                scope,
                AssetService::Kms,
                Some("'Decrypt', 'Encrypt', 'GenerateDataKey'"),
            ),
        ),
        "cert-operation-brkdown" => format!(
            "-- Certificate lifecycle calls. The window applies to both services.
WITH {events}
SELECT account, region, service, {DAY} AS day, operation, status, count(*) AS count
FROM events
WHERE (service = 'acm-pca.amazonaws.com'
       AND operation IN ('IssueCertificate', 'RevokeCertificate',
                         'CreateCertificateAuthority', 'UpdateCertificateAuthority',
                         'DeleteCertificateAuthority'))
   OR (service = 'acm.amazonaws.com'
       AND operation IN ('RequestCertificate', 'DeleteCertificate'))
GROUP BY 1, 2, 3, 4, 5, 6
ORDER BY count DESC, account NULLS FIRST, region NULLS FIRST, service NULLS FIRST,
         day NULLS FIRST, operation NULLS FIRST, status NULLS FIRST",
            events = events_cte(tables, scope, certificates),
        ),
        "certs-issued" => certificate_sql(
            tables,
            scope,
            "-- Certificates issued by Private CA and requested from ACM, successful calls only.",
            "IssueCertificate",
            "RequestCertificate",
        ),
        "certs-revoked" => certificate_sql(
            tables,
            scope,
            "-- Certificates revoked in Private CA and deleted from ACM, successful calls only.",
            "RevokeCertificate",
            "DeleteCertificate",
        ),
        "sm-access-denied" => format!(
            "-- The 20 principals most often denied by Secrets Manager.
WITH {events}
SELECT principal, principal_id, principal_type, region, account, count(*) AS count
FROM events
WHERE error_code IN ('AccessDenied', 'AccessDeniedException')
GROUP BY 1, 2, 3, 4, 5
ORDER BY count DESC, principal NULLS FIRST, principal_id NULLS FIRST,
         principal_type NULLS FIRST, region NULLS FIRST, account NULLS FIRST
LIMIT 20",
            events = events_cte(tables, scope, secrets),
        ),
        "sm-deleted" => format!(
            "-- Successful DeleteSecret calls.
WITH {events}
SELECT account, region, principal, principal_id, count(*) AS count
FROM events
WHERE operation = 'DeleteSecret' AND status = 'Success'
GROUP BY 1, 2, 3, 4
ORDER BY count DESC, account NULLS FIRST, region NULLS FIRST, principal NULLS FIRST,
         principal_id NULLS FIRST",
            events = events_cte(tables, scope, secrets),
        ),
        "sm-get-ops" => format!(
            "-- The 10 secrets read most often. A secret is its ARN, or the name that
-- the request gave when no event bound that name to an ARN.
WITH {ctes}
SELECT asset AS secret, region, account, count(*) AS count
FROM crypto_events
WHERE status = 'Success'
GROUP BY 1, 2, 3
ORDER BY count DESC, secret NULLS FIRST, region NULLS FIRST, account NULLS FIRST
LIMIT 10",
            ctes = asset_ctes(
                tables,
                scope,
                AssetService::SecretsManager,
                Some("'GetSecretValue'"),
            ),
        ),
        "sm-operations-brkdwn" => format!(
            "-- Every Secrets Manager operation.
WITH {events}
SELECT operation, account, region, count(*) AS count
FROM events
GROUP BY 1, 2, 3
ORDER BY count DESC, operation NULLS FIRST, account NULLS FIRST, region NULLS FIRST",
            events = events_cte(tables, scope, secrets),
        ),
        "kms-key-usage" => key_usage_sql(tables, scope),
        _ => return None,
    };
    Some(sql)
}

fn certificate_sql(
    tables: &LakeTables,
    scope: &Scope<'_>,
    comment: &str,
    authority_operation: &str,
    acm_operation: &str,
) -> String {
    format!(
        "{comment}
WITH {events}
SELECT account, region, service, {DAY} AS day, operation, count(*) AS count
FROM events
WHERE ((service = 'acm-pca.amazonaws.com' AND operation = '{authority_operation}')
    OR (service = 'acm.amazonaws.com' AND operation = '{acm_operation}'))
  AND status = 'Success'
GROUP BY 1, 2, 3, 4, 5
ORDER BY count DESC, account NULLS FIRST, region NULLS FIRST, service NULLS FIRST,
         day NULLS FIRST, operation NULLS FIRST",
        events = events_cte(
            tables,
            scope,
            "'acm.amazonaws.com', 'acm-pca.amazonaws.com'"
        ),
    )
}

fn key_usage_sql(tables: &LakeTables, scope: &Scope<'_>) -> String {
    format!(
        "-- Per KMS key: the last successful cryptographic use, the uses in all and
-- per operation, the principals and their accounts, and the last refused call.
WITH {ctes},
uses AS (
    SELECT asset, time, operation, event_id, principal, principal_account, status, error_code,
           shared_event_id
    FROM crypto_events
    WHERE asset IS NOT NULL
),
latest_success AS (
    SELECT asset, time, operation, event_id, principal,
           row_number() OVER (PARTITION BY asset ORDER BY time DESC, event_id DESC) AS rank
    FROM uses WHERE status = 'Success'
),
latest_failure AS (
    SELECT asset, time, error_code,
           row_number() OVER (PARTITION BY asset ORDER BY time DESC, event_id DESC) AS rank
    FROM uses
    WHERE status = 'Failure' AND error_code NOT IN ({TRANSIENT_ERRORS})
),
per_operation AS (
    SELECT asset,
           operation || '=' || CAST(count(*) FILTER (WHERE shared_event_id IS NULL)
               + count(DISTINCT shared_event_id) AS VARCHAR) AS operation_uses
    FROM uses WHERE status = 'Success'
    GROUP BY asset, operation
),
operations AS (
    SELECT asset, array_join(array_sort(array_agg(operation_uses)), ', ') AS uses_by_operation
    FROM per_operation GROUP BY asset
),
totals AS (
    SELECT asset,
           count(*) FILTER (WHERE status = 'Success' AND shared_event_id IS NULL)
               + count(DISTINCT operation || ' ' || shared_event_id)
                   FILTER (WHERE status = 'Success') AS uses,
           count(DISTINCT CASE WHEN status = 'Success' THEN principal END) AS principals,
           array_join(array_sort(array_agg(DISTINCT principal_account)
               FILTER (WHERE status = 'Success' AND principal_account IS NOT NULL)), ', ')
               AS principal_accounts
    FROM uses GROUP BY asset
)
SELECT t.asset AS key, split_part(t.asset, ':', 5) AS account,
       split_part(t.asset, ':', 4) AS region,
       from_unixtime(s.time / 1000e0) AS last_used, s.operation AS last_operation,
       s.event_id AS last_event_id, s.principal AS last_principal,
       t.uses, o.uses_by_operation, t.principals, t.principal_accounts,
       from_unixtime(f.time / 1000e0) AS last_denied, f.error_code AS last_denied_error
FROM totals t
LEFT JOIN latest_success s ON s.asset = t.asset AND s.rank = 1
LEFT JOIN latest_failure f ON f.asset = t.asset AND f.rank = 1
LEFT JOIN operations o ON o.asset = t.asset
ORDER BY key",
        ctes = asset_ctes(tables, scope, AssetService::Kms, Some(KMS_USE_OPERATIONS)),
    )
}

/// The rule of a finding row.
///
/// - keyward's findings, as `keyward export --format ocsf` and
///   `ocsf-parquet` write them and as Security Hub stores them after
///   `keyward export --to security-hub`, have the id
///   `keyward/RULE_ID/HASH` in `finding_info.uid`.
/// - Security Hub's own control findings name the control in
///   `compliance.control` (consolidated control findings) or in the
///   `ControlId` product field.
/// - Findings of AWS Config rules name the rule in the
///   `aws/config/ConfigRuleName` product field.
pub const FINDING_RULE: &str = "CASE WHEN finding_info.uid LIKE 'keyward/%'
                THEN split_part(finding_info.uid, '/', 2)
           ELSE COALESCE(compliance.control,
                         element_at(unmapped, 'ProductFields.ControlId'),
                         element_at(unmapped, 'ProductFields.aws/config/ConfigRuleName'))
           END";

/// Returns the rules that a finding question reads: keyward's rule ids,
/// then the Security Hub controls and the AWS Config managed rules that
/// check the same thing.
fn finding_rules(name: &str) -> Option<&'static str> {
    let rules = match name {
        // No Security Hub control or AWS Config managed rule reports unused
        // KMS keys.
        "kms-unused-cmks" => "'kms-key-unused'",
        // KMS.4: AWS KMS key rotation should be enabled.
        "kms-keys-without-autorotation" => {
            "'kms-key-rotation', 'KMS.4', 'cmk-backing-key-rotation-enabled'"
        }
        // No Security Hub control or AWS Config managed rule reports
        // certificates waiting for validation.
        "cert-dns-validation-pending" => "'acm-certificate-pending-validation'",
        // ACM.1: imported and ACM-issued certificates should be renewed
        // after a specified time period.
        "cert-expiring-check" => {
            "'acm-certificate-expiring', 'acm-certificate-expired', 'ACM.1',
                 'acm-certificate-expiration-check'"
        }
        // SecretsManager.1: secrets should have automatic rotation enabled.
        "sm-rotation-not-enabled" => {
            "'secret-rotation-enabled', 'SecretsManager.1',
                 'secretsmanager-rotation-enabled-check'"
        }
        // SecretsManager.3: remove unused Secrets Manager secrets.
        "sm-unused-secrets" => {
            "'secret-unused', 'SecretsManager.3', 'secretsmanager-secret-unused'"
        }
        _ => return None,
    };
    Some(rules)
}

/// Builds the `latest` CTE: the latest row per rule and resource of the
/// rules of a question, within the scope.
fn latest_findings_cte(tables: &LakeTables, scope: &Scope<'_>, rules: &str) -> String {
    format!(
        "findings AS (
    SELECT time, {FINDING_RULE} AS rule,
           resource.uid AS resource, cloud.account.uid AS account,
           COALESCE(cloud.region, '') AS region,
           upper(compliance.status) AS compliance_status, status, upper(severity) AS severity,
           COALESCE(compliance.status_detail, finding_info.\"desc\") AS cause,
           from_unixtime(finding_info.first_seen_time / 1000e0) AS first_seen
    FROM {table}
    WHERE class_uid = 2003
      AND {condition}
),
latest AS (
    SELECT *, row_number() OVER (PARTITION BY rule, resource ORDER BY time DESC) AS rank
    FROM findings
    WHERE rule IN ({rules})
)",
        table = tables.name(LakeTable::Findings),
        condition = scope.condition("cloud.account.uid", "cloud.region"),
    )
}

/// The condition that the latest row of a rule and resource failed and is
/// not suppressed. keyward writes `Fail`, Security Hub `FAILED`.
const LATEST_FAILED: &str = "rank = 1 AND compliance_status IN ('FAIL', 'FAILED')
  AND (status IS NULL OR status <> 'Suppressed')";

fn findings_sql(name: &str, scope: &Scope<'_>, tables: &LakeTables) -> Option<String> {
    let rules = finding_rules(name)?;
    let latest = latest_findings_cte(tables, scope, rules);
    let header = "-- Reads sh_findings: keyward's findings (rule id in finding_info.uid,
-- status in compliance.status, resource in resource.uid) and Security Hub's
-- control and AWS Config rule findings (rule in compliance.control or the
-- product fields). Only the latest row per rule and resource counts.";
    let sql = match name {
        "kms-keys-without-autorotation" => format!(
            "{header}
WITH {latest}
SELECT account, region, count(DISTINCT resource) AS keys
FROM latest
WHERE {LATEST_FAILED}
GROUP BY 1, 2
ORDER BY keys DESC, account, region"
        ),
        "cert-expiring-check" => format!(
            "{header}
WITH {latest}
SELECT account, region, resource AS certificate, rule, severity, cause
FROM latest
WHERE {LATEST_FAILED}
ORDER BY rule, account, region, certificate"
        ),
        _ => {
            let column = match name {
                "kms-unused-cmks" => "key",
                "cert-dns-validation-pending" => "certificate",
                _ => "secret",
            };
            format!(
                "{header}
WITH {latest}
SELECT account, region, resource AS {column}, cause, first_seen
FROM latest
WHERE {LATEST_FAILED}
ORDER BY account, region, {column}"
            )
        }
    };
    Some(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::catalog::QUESTIONS;

    fn tables() -> LakeTables {
        LakeTables::new("eu-west-1", None).unwrap()
    }

    #[test]
    fn every_question_has_athena_sql() {
        let filters = QuestionFilters::default();
        for question in &QUESTIONS {
            assert!(
                athena_sql(question, &filters, &tables()).is_some(),
                "{}",
                question.name
            );
        }
    }

    #[test]
    fn table_names_follow_security_lake() {
        assert_eq!(
            tables().name(LakeTable::CloudTrail),
            "amazon_security_lake_glue_db_eu_west_1.amazon_security_lake_table_eu_west_1_cloud_trail_mgmt_2_0"
        );
        let custom = LakeTables::new("us-east-1", Some("My-Lake")).unwrap();
        assert_eq!(
            custom.name(LakeTable::Findings),
            "\"My-Lake\".amazon_security_lake_table_us_east_1_sh_findings_2_0"
        );
    }

    #[test]
    fn region_outside_names_rejected() {
        assert!(LakeTables::new("us-east-1; DROP", None).is_err());
        assert!(LakeTables::new("", None).is_err());
    }

    #[test]
    fn filters_constrain_partitions() {
        let question = QUESTIONS.iter().find(|q| q.name == "sm-deleted").unwrap();
        let filters = QuestionFilters {
            window: TimeWindow {
                from: Some(1_000_000_000_001),
                to: Some(2_000_000_000_000),
            },
            accounts: vec!["111122223333".to_owned()],
            regions: vec!["eu-west-1".to_owned()],
            now: 0,
        };
        let sql = athena_sql(question, &filters, &tables()).unwrap();
        assert!(sql.contains("time >= 1000000001"), "{sql}");
        assert!(sql.contains("time < 2000000000"), "{sql}");
        assert!(sql.contains("eventday >= '19700112'"), "{sql}");
        assert!(sql.contains("accountid IN ('111122223333')"), "{sql}");
        assert!(sql.contains("cloud.region IN ('eu-west-1')"), "{sql}");
        assert!(sql.contains(" region IN ('eu-west-1')"), "{sql}");
    }

    #[test]
    fn millisecond_bounds_round_up() {
        assert_eq!(micros_to_millis_ceil(2_000), 2);
        assert_eq!(micros_to_millis_ceil(2_001), 3);
        assert_eq!(micros_to_millis_ceil(-1), 0);
    }
}
