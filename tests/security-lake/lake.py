"""Build an Amazon Security Lake in miniature and run Athena SQL on it.

The Rust tests in tests/athena.rs and tests/ocsf_ingest.rs call this script
with the Python of .venv, where scripts/test installs sqlglot and DuckDB.

Commands:

  build-cloudtrail OUT FILE...
      Map the CloudTrail records of each file to OCSF 1.1 API Activity
      (class 6003) as Security Lake stores CloudTrail management events, and
      write them as Parquet under
      OUT/aws/CLOUD_TRAIL_MGMT/2.0/region=R/accountId=A/eventDay=YYYYMMDD/.

  build-cloudtrail-json OUT FILE...
      Map the records as build-cloudtrail does and write them to the file
      OUT as OCSF JSON Lines.

  build-findings OUT FILE...
      Write the OCSF Compliance Finding events (class 2003) of JSON Lines
      files as Parquet under OUT/aws/SH_FINDINGS/2.0/region=R/accountId=A/
      eventDay=YYYYMMDD/, in the column types of Security Lake's
      sh_findings_2_0 table (`unmapped` as a map of text).

  run LAKE
      Read a JSON array of {"name", "sql"} objects from standard input. Each
      query is parsed as Trino SQL by sqlglot, which fails on a syntax
      error, then translated to DuckDB's dialect and run over the Parquet of
      LAKE registered under Security Lake's database and table names. Print
      a JSON object that maps each name to {"rows": [...]} or {"error": ...}.

The CloudTrail mapping follows the OCSF 1.1.0 samples of Security Lake's
CloudTrail source (version 2). eventID is metadata.uid, the caller's ARN is
actor.user.uid and its principal id actor.user.uid_alt. requestParameters
and responseElements are JSON text in api.request.data and
api.response.data, and recipientAccountId goes to unmapped.
"""

import datetime
import gzip
import ipaddress
import json
import os
import sys
import tempfile

import duckdb
import sqlglot

# Security Lake's database and tables for the Region in the table names.
LAKE_REGION = "us_east_1"
DATABASE = f"amazon_security_lake_glue_db_{LAKE_REGION}"
CLOUDTRAIL_TABLE = f"amazon_security_lake_table_{LAKE_REGION}_cloud_trail_mgmt_2_0"
FINDINGS_TABLE = f"amazon_security_lake_table_{LAKE_REGION}_sh_findings_2_0"

CLOUDTRAIL_FOLDER = "aws/CLOUD_TRAIL_MGMT/2.0"
FINDINGS_FOLDER = "aws/SH_FINDINGS/2.0"

# The columns of the API Activity Parquet, in DuckDB types.
API_ACTIVITY_COLUMNS = {
    "activity_id": "INTEGER",
    "activity_name": "VARCHAR",
    "category_uid": "INTEGER",
    "category_name": "VARCHAR",
    "class_uid": "INTEGER",
    "class_name": "VARCHAR",
    "type_uid": "BIGINT",
    "severity_id": "INTEGER",
    "severity": "VARCHAR",
    "status": "VARCHAR",
    "status_id": "INTEGER",
    "time": "BIGINT",
    "metadata": "STRUCT(uid VARCHAR, version VARCHAR, event_code VARCHAR,"
    " product STRUCT(name VARCHAR, vendor_name VARCHAR, version VARCHAR),"
    " profiles VARCHAR[])",
    "cloud": "STRUCT(provider VARCHAR, region VARCHAR)",
    "api": "STRUCT(operation VARCHAR, service STRUCT(name VARCHAR),"
    " request STRUCT(uid VARCHAR, data VARCHAR),"
    " response STRUCT(error VARCHAR, message VARCHAR, data VARCHAR))",
    "actor": "STRUCT(user STRUCT(type VARCHAR, name VARCHAR, uid VARCHAR,"
    " uid_alt VARCHAR, credential_uid VARCHAR, account STRUCT(uid VARCHAR)),"
    " session STRUCT(issuer VARCHAR), invoked_by VARCHAR)",
    "src_endpoint": "STRUCT(ip VARCHAR, domain VARCHAR, uid VARCHAR)",
    "http_request": "STRUCT(user_agent VARCHAR)",
    "resources": "STRUCT(uid VARCHAR, type VARCHAR, account_uid VARCHAR)[]",
    "unmapped": "MAP(VARCHAR, VARCHAR)",
    "region": "VARCHAR",
    "accountId": "VARCHAR",
    "eventDay": "VARCHAR",
}

# The columns of the Compliance Finding Parquet, in DuckDB types.
FINDING_COLUMNS = {
    "activity_id": "INTEGER",
    "class_uid": "INTEGER",
    "category_uid": "INTEGER",
    "type_uid": "BIGINT",
    "time": "BIGINT",
    "severity_id": "INTEGER",
    "severity": "VARCHAR",
    "status": "VARCHAR",
    "message": "VARCHAR",
    "metadata": "STRUCT(uid VARCHAR, version VARCHAR,"
    " product STRUCT(name VARCHAR, vendor_name VARCHAR, uid VARCHAR))",
    "cloud": "STRUCT(provider VARCHAR, region VARCHAR, account STRUCT(uid VARCHAR))",
    "finding_info": "STRUCT(uid VARCHAR, title VARCHAR, \"desc\" VARCHAR,"
    " first_seen_time BIGINT, last_seen_time BIGINT, modified_time BIGINT)",
    "compliance": "STRUCT(control VARCHAR, status VARCHAR, status_id INTEGER,"
    " status_detail VARCHAR, standards VARCHAR[])",
    "resource": "STRUCT(uid VARCHAR, type VARCHAR, region VARCHAR)",
    "unmapped": "MAP(VARCHAR, VARCHAR)",
    "region": "VARCHAR",
    "accountId": "VARCHAR",
    "eventDay": "VARCHAR",
}


def read_json_values(path):
    """Return the JSON values of a file: one document, or JSON Lines."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as file:
        text = file.read()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def cloudtrail_records(path):
    """Yield the CloudTrail records of a file in any of its usual shapes."""
    for value in read_json_values(path):
        if isinstance(value, list):
            yield from value
        elif isinstance(value, dict) and isinstance(value.get("Records"), list):
            yield from value["Records"]
        elif isinstance(value, dict) and isinstance(value.get("detail"), dict):
            yield value["detail"]
        elif isinstance(value, dict):
            yield value


def parse_time(text):
    """Return milliseconds since the epoch, or None for an invalid time."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


def json_text(value):
    return None if value is None else json.dumps(value, separators=(",", ":"))


def text_or_none(value):
    return value if isinstance(value, str) else None


def is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def api_activity(record):
    """Map one CloudTrail record to an OCSF 1.1 API Activity row, or None
    for a record that has no time, source or name."""
    millis = parse_time(record.get("eventTime"))
    source = text_or_none(record.get("eventSource"))
    name = text_or_none(record.get("eventName"))
    if millis is None or source is None or name is None:
        return None
    identity = record.get("userIdentity") or {}
    issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {})
    error = text_or_none(record.get("errorCode")) or None
    account = text_or_none(record.get("recipientAccountId")) or text_or_none(
        identity.get("accountId")
    )
    region = text_or_none(record.get("awsRegion"))
    source_ip = text_or_none(record.get("sourceIPAddress"))
    unmapped = {"eventType": record.get("eventType"), "recipientAccountId": account}
    for field in ("readOnly", "eventCategory", "managementEvent", "sharedEventID"):
        if field in record and record[field] is not None:
            unmapped[field] = json.dumps(record[field]).strip('"')
    if record.get("additionalEventData") is not None:
        unmapped["additionalEventData"] = json_text(record["additionalEventData"])
    day = datetime.datetime.fromtimestamp(millis / 1000, datetime.timezone.utc)
    return {
        "activity_id": 99,
        "activity_name": "Other",
        "category_uid": 6,
        "category_name": "Application Activity",
        "class_uid": 6003,
        "class_name": "API Activity",
        "type_uid": 600399,
        "severity_id": 1,
        "severity": "Informational",
        "status": "Failure" if error else "Success",
        "status_id": 2 if error else 1,
        "time": millis,
        "metadata": {
            "uid": text_or_none(record.get("eventID")),
            "version": "1.1.0",
            "event_code": text_or_none(record.get("eventType")),
            "product": {
                "name": "CloudTrail",
                "vendor_name": "AWS",
                "version": text_or_none(record.get("eventVersion")),
            },
            "profiles": ["cloud", "datetime"],
        },
        "cloud": {"provider": "AWS", "region": region},
        "api": {
            "operation": name,
            "service": {"name": source},
            "request": {
                "uid": text_or_none(record.get("requestID")),
                "data": json_text(record.get("requestParameters")),
            },
            "response": {
                "error": error,
                "message": text_or_none(record.get("errorMessage")),
                "data": json_text(record.get("responseElements")),
            },
        },
        "actor": {
            "user": {
                "type": text_or_none(identity.get("type")),
                "name": text_or_none(identity.get("userName")),
                "uid": text_or_none(identity.get("arn")),
                "uid_alt": text_or_none(identity.get("principalId")),
                "credential_uid": text_or_none(identity.get("accessKeyId")),
                "account": {"uid": text_or_none(identity.get("accountId"))},
            },
            "session": {"issuer": text_or_none(issuer.get("arn"))},
            "invoked_by": text_or_none(identity.get("invokedBy")),
        },
        "src_endpoint": {
            "ip": source_ip if source_ip and is_ip(source_ip) else None,
            "domain": source_ip if source_ip and not is_ip(source_ip) else None,
            "uid": text_or_none(record.get("vpcEndpointId")),
        },
        "http_request": {"user_agent": text_or_none(record.get("userAgent"))},
        "resources": [
            {
                "uid": text_or_none(resource.get("ARN") or resource.get("arn")),
                "type": text_or_none(resource.get("type")),
                "account_uid": text_or_none(resource.get("accountId")),
            }
            for resource in record.get("resources") or []
            if isinstance(resource, dict)
        ],
        "unmapped": {k: v for k, v in unmapped.items() if isinstance(v, str)},
        "region": region or "__HIVE_DEFAULT_PARTITION__",
        "accountId": account or "__HIVE_DEFAULT_PARTITION__",
        "eventDay": day.strftime("%Y%m%d"),
    }


def finding_row(event):
    """Keep the attributes of a Compliance Finding event that the finding
    questions read, in the types of the findings table."""
    cloud = event.get("cloud") or {}
    info = event.get("finding_info") or {}
    unmapped = event.get("unmapped") or {}
    if isinstance(unmapped, str):
        unmapped = json.loads(unmapped)
    day = datetime.datetime.fromtimestamp(event["time"] / 1000, datetime.timezone.utc)
    account = (cloud.get("account") or {}).get("uid")
    return {
        "activity_id": event.get("activity_id"),
        "class_uid": event.get("class_uid"),
        "category_uid": event.get("category_uid"),
        "type_uid": event.get("type_uid"),
        "time": event["time"],
        "severity_id": event.get("severity_id"),
        "severity": event.get("severity"),
        "status": event.get("status"),
        "message": event.get("message"),
        "metadata": {
            "uid": (event.get("metadata") or {}).get("uid"),
            "version": (event.get("metadata") or {}).get("version"),
            "product": (event.get("metadata") or {}).get("product"),
        },
        "cloud": {
            "provider": cloud.get("provider"),
            "region": cloud.get("region"),
            "account": {"uid": account},
        },
        "finding_info": {
            "uid": info.get("uid"),
            "title": info.get("title"),
            "desc": info.get("desc"),
            "first_seen_time": info.get("first_seen_time"),
            "last_seen_time": info.get("last_seen_time"),
            "modified_time": info.get("modified_time"),
        },
        "compliance": event.get("compliance"),
        "resource": {
            key: (event.get("resource") or {}).get(key)
            for key in ("uid", "type", "region")
        },
        "unmapped": {
            str(key): value if isinstance(value, str) else json.dumps(value)
            for key, value in unmapped.items()
            if value is not None
        },
        "region": cloud.get("region") or "__HIVE_DEFAULT_PARTITION__",
        "accountId": account or "__HIVE_DEFAULT_PARTITION__",
        "eventDay": day.strftime("%Y%m%d"),
    }


def write_parquet(rows, columns, folder):
    """Write rows as Parquet files partitioned as Security Lake does."""
    os.makedirs(folder, exist_ok=True)
    if not rows:
        return
    with tempfile.TemporaryDirectory() as scratch:
        lines = os.path.join(scratch, "rows.jsonl")
        with open(lines, "w", encoding="utf-8") as file:
            for row in rows:
                file.write(json.dumps(row) + "\n")
        connection = duckdb.connect()
        types = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
        connection.execute(
            f"COPY (SELECT * FROM read_json('{lines}', columns={{{types}}},"
            " format='newline_delimited'))"
            f" TO '{folder}' (FORMAT parquet, PARTITION_BY (region, accountId, eventDay),"
            " OVERWRITE_OR_IGNORE true)"
        )


def build_cloudtrail(out, paths):
    rows = []
    for path in paths:
        for record in cloudtrail_records(path):
            if isinstance(record, dict):
                row = api_activity(record)
                if row is not None:
                    rows.append(row)
    write_parquet(rows, API_ACTIVITY_COLUMNS, os.path.join(out, CLOUDTRAIL_FOLDER))
    print(json.dumps({"rows": len(rows)}))


def build_cloudtrail_json(out, paths):
    partitions = ("region", "accountId", "eventDay")
    count = 0
    with open(out, "w", encoding="utf-8") as file:
        for path in paths:
            for record in cloudtrail_records(path):
                row = api_activity(record) if isinstance(record, dict) else None
                if row is not None:
                    event = {k: v for k, v in row.items() if k not in partitions}
                    file.write(json.dumps(event) + "\n")
                    count += 1
    print(json.dumps({"rows": count}))


def build_findings(out, paths):
    rows = [finding_row(event) for path in paths for event in read_json_values(path)]
    write_parquet(rows, FINDING_COLUMNS, os.path.join(out, FINDINGS_FOLDER))
    print(json.dumps({"rows": len(rows)}))


def register_tables(connection, lake):
    """Register the Parquet of the lake under Security Lake's names, with
    the partition columns as text."""
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"CREATE SCHEMA {DATABASE}")
    for table, folder, columns in (
        (CLOUDTRAIL_TABLE, CLOUDTRAIL_FOLDER, API_ACTIVITY_COLUMNS),
        (FINDINGS_TABLE, FINDINGS_FOLDER, FINDING_COLUMNS),
    ):
        pattern = os.path.join(lake, folder, "**", "*.parquet")
        has_files = os.path.isdir(os.path.join(lake, folder)) and any(
            name.endswith(".parquet")
            for _, _, names in os.walk(os.path.join(lake, folder))
            for name in names
        )
        if has_files:
            source = (
                f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true,"
                " hive_types_autocast = false)"
            )
        else:
            # An empty table of the same columns.
            casts = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns.items())
            source = f"SELECT {casts} WHERE FALSE"
        connection.execute(f"CREATE VIEW {DATABASE}.{table} AS {source}")


def plain(value):
    """Turn a DuckDB value into JSON: times as RFC 3339 UTC text."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def run(lake):
    queries = json.load(sys.stdin)
    connection = duckdb.connect()
    register_tables(connection, lake)
    results = {}
    for query in queries:
        try:
            tree = sqlglot.parse_one(
                query["sql"], read="trino", error_level=sqlglot.ErrorLevel.RAISE
            )
        except sqlglot.errors.ParseError as error:
            results[query["name"]] = {"error": f"Trino parse failed: {error}"}
            continue
        duck = tree.sql(dialect="duckdb")
        try:
            cursor = connection.execute(duck)
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, map(plain, row))) for row in cursor.fetchall()]
            results[query["name"]] = {"rows": rows}
        except duckdb.Error as error:
            results[query["name"]] = {"error": f"DuckDB failed: {error}", "duckdb_sql": duck}
    json.dump(results, sys.stdout)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    command, target, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    if command == "build-cloudtrail":
        build_cloudtrail(target, paths)
    elif command == "build-cloudtrail-json":
        build_cloudtrail_json(target, paths)
    elif command == "build-findings":
        build_findings(target, paths)
    elif command == "run":
        run(target)
    else:
        sys.exit(f"unknown command {command!r}\n{__doc__}")


if __name__ == "__main__":
    main()
