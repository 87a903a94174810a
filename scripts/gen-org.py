#!/usr/bin/env python3
"""Build an AWS organization with cryptographic assets in the AWS emulator moto.

The management account (moto's default, 123456789012) creates an organization
and member accounts. Every account gets, in every Region given, the same
number of KMS keys (some with rotation, aliases and tags), ACM certificates
and Secrets Manager secrets (some with rotation and a resource policy).
Member accounts are reached by assuming the role KeywardAudit, which moto
grants without checking.

Prints one JSON object: the account ids and the counts created.
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

MANAGEMENT = "123456789012"


def session_for(endpoint, account, management):
    if account == MANAGEMENT:
        return management
    sts = management.client("sts", endpoint_url=endpoint)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/KeywardAudit",
        RoleSessionName="gen-org",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )


def populate(endpoint, session, region, args, account):
    config = Config(retries={"max_attempts": 10, "mode": "standard"})
    kms = session.client("kms", endpoint_url=endpoint, region_name=region, config=config)
    acm = session.client("acm", endpoint_url=endpoint, region_name=region, config=config)
    secrets = session.client(
        "secretsmanager", endpoint_url=endpoint, region_name=region, config=config
    )
    for index in range(args.keys):
        key_id = kms.create_key(Description=f"bench key {index}")["KeyMetadata"]["KeyId"]
        if index % 2 == 0:
            kms.enable_key_rotation(KeyId=key_id)
        if index % 5 == 0:
            kms.create_alias(AliasName=f"alias/bench-{index}", TargetKeyId=key_id)
            kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "team", "TagValue": "bench"}])
    for index in range(args.certificates):
        acm.request_certificate(DomainName=f"c{index}.{account}.{region}.example.com")
    for index in range(args.secrets):
        name = f"bench/secret-{index}"
        secrets.create_secret(Name=name, SecretString="bench-value-not-read")
        if index % 3 == 0:
            secrets.rotate_secret(
                SecretId=name, RotationRules={"AutomaticallyAfterDays": 30}
            )
        if index % 10 == 0:
            secrets.put_resource_policy(
                SecretId=name,
                ResourcePolicy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                "Action": "secretsmanager:DescribeSecret",
                                "Resource": "*",
                            }
                        ],
                    }
                ),
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="moto's URL")
    parser.add_argument("--accounts", type=int, default=20, help="accounts, management included")
    parser.add_argument("--regions", default="us-east-1,eu-west-1")
    parser.add_argument("--keys", type=int, default=50, help="KMS keys per account and Region")
    parser.add_argument("--certificates", type=int, default=20, help="per account and Region")
    parser.add_argument("--secrets", type=int, default=50, help="per account and Region")
    parser.add_argument("--workers", type=int, default=4, help="accounts built at once")
    args = parser.parse_args()
    if args.accounts < 1:
        parser.error("--accounts must be at least 1")

    started = time.monotonic()
    management = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    organizations = management.client("organizations", endpoint_url=args.endpoint)
    organizations.create_organization(FeatureSet="ALL")
    accounts = [MANAGEMENT]
    for index in range(args.accounts - 1):
        status = organizations.create_account(
            AccountName=f"member-{index}", Email=f"member-{index}@example.com"
        )["CreateAccountStatus"]
        accounts.append(status["AccountId"])

    regions = [region for region in args.regions.split(",") if region]
    jobs = []
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for account in accounts:
            session = session_for(args.endpoint, account, management)
            for region in regions:
                jobs.append(pool.submit(populate, args.endpoint, session, region, args, account))
        for job in jobs:
            job.result()

    pairs = len(accounts) * len(regions)
    json.dump(
        {
            "accounts": accounts,
            "regions": regions,
            "keys": pairs * args.keys,
            "certificates": pairs * args.certificates,
            "secrets": pairs * args.secrets,
            "seconds": round(time.monotonic() - started, 1),
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
