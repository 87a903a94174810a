#!/usr/bin/env python3
"""Generate a synthetic CloudTrail log tree in the layout of an organization trail's S3 bucket.

The tree looks like what CloudTrail delivers to S3:

    OUT/AWSLogs/o-exampleorg1/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/
        ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_RANDOM.json.gz

Each file is a gzip of compact JSON, {"Records":[...]}, with 200 to 2000 records.
The records mix management and data events of common services (S3, EC2, STS,
IAM, Lambda, DynamoDB, CloudWatch Logs and metrics) with the cryptographic
services (KMS, Secrets Manager, ACM, ACM Private CA). They carry the identity
types, key references, errors and timestamps that a reader must handle. Each
record has a 0.5% chance to be delivered a second time, byte for byte, in the
next file of the same account and region, so a reader meets duplicate eventIDs.

The output depends only on the arguments: the same arguments give the same
bytes. At the end the script prints one JSON line with the totals.
`records` and `crypto_records` count every record in the files, second copies
included. `duplicate_records` and `crypto_duplicate_records` count the second
copies, so unique crypto records = crypto_records - crypto_duplicate_records.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ORGANIZATION_ID = "o-exampleorg1"

CRYPTO_SOURCES = (
    "kms.amazonaws.com",
    "secretsmanager.amazonaws.com",
    "acm.amazonaws.com",
    "acm-pca.amazonaws.com",
)

# 2025-03-31T20:00:00Z, so that a large tree crosses a day and a month boundary.
START_EPOCH = 1743451200

MIN_RECORDS_PER_FILE = 200
MAX_RECORDS_PER_FILE = 2000
DUPLICATE_RATE = 0.005
DENIED_RATE = 0.02
FRACTIONAL_TIME_RATE = 0.05

# Share of the cryptographic records per service, and of the other records
# per service. IAM is a global service whose events CloudTrail logs in
# us-east-1, so other regions draw their non-crypto records without it.
CRYPTO_SERVICE_WEIGHTS = (
    ("kms", 70),
    ("secretsmanager", 20),
    ("acm", 6),
    ("acm_pca", 4),
)
OTHER_SERVICE_WEIGHTS = (
    ("s3", 34),
    ("ec2", 15),
    ("sts", 12),
    ("iam", 6),
    ("lambda", 10),
    ("dynamodb", 10),
    ("logs", 9),
    ("monitoring", 4),
)

EVENT_SOURCES = {
    "kms": "kms.amazonaws.com",
    "secretsmanager": "secretsmanager.amazonaws.com",
    "acm": "acm.amazonaws.com",
    "acm_pca": "acm-pca.amazonaws.com",
    "s3": "s3.amazonaws.com",
    "ec2": "ec2.amazonaws.com",
    "sts": "sts.amazonaws.com",
    "iam": "iam.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
    "dynamodb": "dynamodb.amazonaws.com",
    "logs": "logs.amazonaws.com",
    "monitoring": "monitoring.amazonaws.com",
}
EVENT_VERSIONS = {
    "kms": ("1.08", "1.08", "1.09", "1.10", "1.11"),
    "secretsmanager": ("1.08", "1.09", "1.10", "1.11"),
    "acm": ("1.08", "1.09", "1.10"),
    "acm_pca": ("1.08", "1.09", "1.11"),
    "s3": ("1.08", "1.09", "1.10", "1.11"),
    "ec2": ("1.08", "1.09", "1.10"),
    "sts": ("1.08", "1.08", "1.11"),
    "iam": ("1.08", "1.09"),
    "lambda": ("1.08", "1.09"),
    "dynamodb": ("1.08", "1.09", "1.10"),
    "logs": ("1.08", "1.09"),
    "monitoring": ("1.08", "1.09", "1.11"),
}

APPS = (
    "billing",
    "payments",
    "orders",
    "search",
    "ingest",
    "reporting",
    "auth",
    "inventory",
    "notifications",
    "analytics",
    "ledger",
    "gateway",
)
ENVIRONMENTS = ("prod", "staging", "dev")
PEOPLE = ("alice", "bob", "carol", "dmitri", "erin", "farah", "guo", "hana")

USER_AGENTS = (
    "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/kms#1.35.3",
    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.219-208.866.amzn2.x86_64 "
    "md/arch#x86_64 lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144",
    "aws-cli/2.17.13 md/awscrt#0.20.11 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off md/command#kms.decrypt",
    "aws-sdk-java/2.26.20 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/21.0.3+9-LTS "
    "Java/21.0.3 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
    "aws-sdk-js/3.614.0 ua/2.0 os/linux#5.10.219 lang/js md/nodejs#20.15.1 api/secrets-manager#3.614.0",
    "Terraform/1.9.2 terraform-provider-aws/5.58.0 aws-sdk-go-v2/1.30.1 os/linux lang/go#1.22.5",
    "AWS Internal",
)
S3_USER_AGENTS = (
    "[aws-sdk-java/1.12.761 Linux/5.10.219 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS java/17.0.11 "
    "vendor/Amazon.com_Inc. cfg/retry-mode/standard]",
    "[Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.219 md/arch#x86_64 lang/python#3.12.4 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144]",
    "[aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/s3#1.58.2]",
)
TLS_DETAILS = (
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
)

UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
HEX = "0123456789abcdef"

REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")


@dataclass
class KmsKey:
    key_id: str
    arn: str
    alias: str
    alias_arn: str


@dataclass
class Role:
    name: str
    role_id: str
    arn: str


@dataclass
class User:
    name: str
    user_id: str
    access_key_id: str
    arn: str


@dataclass
class Stream:
    """The files of one account and region, in delivery order."""

    account: Account
    region: str
    clock: float
    # (record JSON, is_crypto) pairs that the next file of this stream repeats.
    pending_duplicates: list[tuple[str, bool]] = field(default_factory=list)


class Account:
    """One member account and the named resources that its records refer to."""

    def __init__(self, gen: Generator, account_id: str, regions: list[str]):
        self.account_id = account_id
        token = gen.token
        self.roles = [
            self._role(token, f"{app}-{env}")
            for app in gen.rng.sample(APPS, 5)
            for env in ENVIRONMENTS
        ]
        self.roles.append(self._role(token, "OrganizationAccountAccessRole"))
        self.roles.append(
            self._role(token, f"AWSReservedSSO_AdministratorAccess_{gen.hex(16)}")
        )
        self.roles.append(self._role(token, "github-actions-deploy"))

        self.users = []
        for person in gen.rng.sample(PEOPLE, 3) + ["ci-legacy"]:
            arn = f"arn:aws:iam::{account_id}:user/{person}"
            self.users.append(User(person, "AIDA" + token(17), "AKIA" + token(16), arn))

        self.buckets = [
            f"{app}-{env}-{account_id}-{region}"
            for app in gen.rng.sample(APPS, 4)
            for env in ENVIRONMENTS[:2]
            for region in regions[:1]
        ]
        self.functions = {
            region: [
                f"{app}-{env}-handler"
                for app in gen.rng.sample(APPS, 4)
                for env in ENVIRONMENTS
            ]
            for region in regions
        }
        self.tables = {
            region: [
                f"{app}-{env}"
                for app in gen.rng.sample(APPS, 3)
                for env in ENVIRONMENTS
            ]
            for region in regions
        }

        self.keys = {region: self._keys(gen, region) for region in regions}
        self.secrets = {
            region: [
                (
                    name,
                    f"arn:aws:secretsmanager:{region}:{account_id}:secret:{name}-{gen.alnum(6)}",
                )
                for name in (
                    f"{env}/{app}/{kind}"
                    for app in gen.rng.sample(APPS, 4)
                    for env in ENVIRONMENTS
                    for kind in ("db", "api-key")
                )
            ]
            for region in regions
        }
        self.certificates = {
            region: [
                f"arn:aws:acm:{region}:{account_id}:certificate/{gen.uuid4()}"
                for _ in range(6)
            ]
            for region in regions
        }
        self.certificate_authorities = {
            region: [
                f"arn:aws:acm-pca:{region}:{account_id}:certificate-authority/{gen.uuid4()}"
                for _ in range(2)
            ]
            for region in regions
        }

        self.instances = [f"i-0{gen.hex(16)}" for _ in range(12)]
        self.security_groups = [f"sg-0{gen.hex(16)}" for _ in range(8)]
        self.ips = [
            f"{prefix}.{gen.rng.randrange(1, 255)}"
            for prefix in (
                "203.0.113",
                "198.51.100",
                "192.0.2",
                "100.64.12",
                "52.94.133",
            )
        ]

    def _role(self, token, name: str) -> Role:
        return Role(
            name, "AROA" + token(17), f"arn:aws:iam::{self.account_id}:role/{name}"
        )

    def _keys(self, gen: Generator, region: str) -> list[KmsKey]:
        keys = []
        for index in range(10):
            # Multi-Region keys have ids that start with "mrk-".
            key_id = f"mrk-{gen.hex(32)}" if index == 9 else gen.uuid4()
            alias = f"alias/{gen.pick(APPS)}-{gen.pick(ENVIRONMENTS)}-{index}"
            prefix = f"arn:aws:kms:{region}:{self.account_id}"
            keys.append(
                KmsKey(key_id, f"{prefix}:key/{key_id}", alias, f"{prefix}:{alias}")
            )
        return keys


@dataclass
class Caller:
    """Caller of an API call: its userIdentity element, source address, user agent and TLS use."""

    identity: dict
    arn: str | None
    source_ip: str
    user_agent: str
    tls: bool
    is_service: bool
    console: bool = False


class Generator:
    """Builds records and files from one seeded random generator."""

    def __init__(self, args: argparse.Namespace):
        self.rng = random.Random(args.seed)
        self.random = self.rng.random
        self.crypto_share = args.crypto_share
        self.encoder = json.JSONEncoder(separators=(",", ":"), check_circular=False)
        self.crypto_builders = self._weighted(
            [
                (getattr(self, f"_{name}_record"), weight)
                for name, weight in CRYPTO_SERVICE_WEIGHTS
            ]
        )
        self.other_builders = {
            with_iam: self._weighted(
                [
                    (getattr(self, f"_{name}_record"), weight)
                    for name, weight in OTHER_SERVICE_WEIGHTS
                    if with_iam or name != "iam"
                ]
            )
            for with_iam in (True, False)
        }

        self.accounts = []
        seen = set()
        while len(self.accounts) < args.accounts:
            account_id = str(self.rng.randrange(10**11, 10**12))
            if account_id not in seen:
                seen.add(account_id)
                self.accounts.append(Account(self, account_id, args.regions))

        # Busier accounts and regions deliver more files, as in a real organization.
        self.streams = []
        stream_weights = []
        for account_index, account in enumerate(self.accounts):
            for region_index, region in enumerate(args.regions):
                clock = START_EPOCH + self.rng.uniform(0, 300)
                self.streams.append(Stream(account, region, clock))
                stream_weights.append(
                    1 / ((account_index + 1) ** 0.7 * (region_index + 1))
                )
        self.stream_weights = stream_weights

        # The account, region and time of the record being built.
        self.account = self.accounts[0]
        self.region = args.regions[0]
        self.epoch = float(START_EPOCH)

        self.files = 0
        self.records = 0
        self.crypto_records = 0
        self.duplicate_records = 0
        self.crypto_duplicate_records = 0
        self.uncompressed_bytes = 0
        self.compressed_bytes = 0

    # Random helpers. Each draws from self.rng only, so the output is reproducible.

    def _weighted(self, pairs):
        table = []
        for item, weight in pairs:
            table.extend([item] * weight)
        return table

    def pick(self, items):
        return items[int(self.random() * len(items))]

    def chance(self, probability: float) -> bool:
        return self.random() < probability

    def token(self, length: int) -> str:
        return "".join(self.rng.choices(UPPER_ALNUM, k=length))

    def alnum(self, length: int) -> str:
        return "".join(self.rng.choices(ALNUM, k=length))

    def hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(length * 4):0{length}x}"

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def blob(self, length: int) -> str:
        """Return `length` characters of base64 text, like a session token."""
        return base64.b64encode(self.rng.randbytes(length * 3 // 4 + 3)).decode()[
            :length
        ]

    @staticmethod
    def format_time(epoch: float, fractional: bool = False) -> str:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
        if fractional:
            return f"{text}.{int(epoch * 1000) % 1000:03d}Z"
        return text + "Z"

    # Callers.

    def assumed_role_caller(
        self, account: Account, epoch: float, role: Role | None = None
    ) -> Caller:
        role = role or self.pick(account.roles)
        if self.chance(0.3):
            session = self.pick(account.instances)
        elif self.chance(0.4):
            session = f"botocore-session-{int(epoch) - self.rng.randrange(60, 3600)}"
        else:
            session = f"{self.pick(PEOPLE)}@example.com"
        arn = f"arn:aws:sts::{account.account_id}:assumed-role/{role.name}/{session}"
        session_context = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role.role_id,
                "arn": role.arn,
                "accountId": account.account_id,
                "userName": role.name,
            },
            "webIdFederationData": {},
            "attributes": {
                "creationDate": self.format_time(epoch - self.rng.randrange(30, 3600)),
                "mfaAuthenticated": "false",
            },
        }
        if session.startswith("i-"):
            session_context["ec2RoleDelivery"] = "2.0"
        identity = {
            "type": "AssumedRole",
            "principalId": f"{role.role_id}:{session}",
            "arn": arn,
            "accountId": account.account_id,
            "accessKeyId": "ASIA" + self.token(16),
            "sessionContext": session_context,
        }
        console = session.endswith("@example.com") and self.chance(0.3)
        user_agent = "console.amazonaws.com" if console else self.pick(USER_AGENTS)
        return Caller(
            identity, arn, self.pick(account.ips), user_agent, True, False, console
        )

    def iam_user_caller(self, account: Account) -> Caller:
        user = self.pick(account.users)
        identity = {
            "type": "IAMUser",
            "principalId": user.user_id,
            "arn": user.arn,
            "accountId": account.account_id,
            "accessKeyId": user.access_key_id,
            "userName": user.name,
        }
        return Caller(
            identity,
            user.arn,
            self.pick(account.ips),
            self.pick(USER_AGENTS),
            True,
            False,
        )

    def service_caller(self, service: str) -> Caller:
        identity = {"type": "AWSService", "invokedBy": service}
        return Caller(identity, None, service, service, False, True)

    def forwarded_caller(self, account: Account, epoch: float, service: str) -> Caller:
        """Return a role session whose call a service made on its behalf (invokedBy)."""
        caller = self.assumed_role_caller(account, epoch)
        caller.identity["invokedBy"] = service
        caller.source_ip = service
        caller.user_agent = service
        caller.tls = False
        caller.console = False
        return caller

    def human_or_role_caller(self, account: Account, epoch: float) -> Caller:
        if self.chance(0.85):
            return self.assumed_role_caller(account, epoch)
        return self.iam_user_caller(account)

    # Record assembly, in the key order CloudTrail uses.

    def record(
        self,
        service: str,
        caller: Caller,
        name: str,
        request: dict | None,
        response: dict | None = None,
        *,
        read_only: bool,
        resources: list | None = None,
        data_event: bool = False,
        error: tuple[str, str | None] | None = None,
        additional: dict | None = None,
        request_id: str | None = None,
        host: str | None = None,
    ) -> dict:
        """Build an AwsApiCall record of the current account, region and time."""
        account, region, epoch = self.account, self.region, self.epoch
        source = EVENT_SOURCES[service]
        record = {
            "eventVersion": self.pick(EVENT_VERSIONS[service]),
            "userIdentity": caller.identity,
            "eventTime": self.format_time(epoch, self.chance(FRACTIONAL_TIME_RATE)),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": caller.source_ip,
            "userAgent": caller.user_agent,
        }

        if error is not None:
            record["errorCode"] = error[0]
            if error[1] is not None:
                record["errorMessage"] = error[1]
            response = None
        record["requestParameters"] = request
        record["responseElements"] = response

        if additional is not None:
            record["additionalEventData"] = additional
        record["requestID"] = request_id or self.uuid4()
        record["eventID"] = self.uuid4()
        record["readOnly"] = read_only
        if resources is not None:
            record["resources"] = resources
        record["eventType"] = "AwsApiCall"
        record["managementEvent"] = not data_event
        record["recipientAccountId"] = account.account_id
        if caller.is_service:
            record["sharedEventID"] = self.uuid4()
        record["eventCategory"] = "Data" if data_event else "Management"

        if caller.tls:
            cipher = self.pick(TLS_DETAILS)
            record["tlsDetails"] = {
                "tlsVersion": cipher[0],
                "cipherSuite": cipher[1],
                "clientProvidedHostHeader": host
                or f"{source.split('.')[0]}.{region}.amazonaws.com",
            }
        if caller.console:
            record["sessionCredentialFromConsole"] = "true"
        return record

    def denial(
        self, caller: Caller, action: str, resource: str | None, code: str
    ) -> tuple[str, str] | None:
        """Return an (errorCode, errorMessage) pair for a denied call, or None for most calls."""
        if caller.is_service or caller.arn is None or not self.chance(DENIED_RATE):
            return None
        if code == "AccessDenied" and action.startswith("s3:"):
            return code, "Access Denied"
        on_resource = f" on resource: {resource}" if resource else ""
        message = (
            f"User: {caller.arn} is not authorized to perform: {action}{on_resource} "
            f"because no identity-based policy allows the {action} action"
        )
        if code == "Client.UnauthorizedOperation":
            message = "You are not authorized to perform this operation. " + message
        return code, message

    # Cryptographic services.

    def key_reference(self, key: KmsKey) -> str:
        """Return the keyId a client passed: a bare id, an alias name or ARN, or a key ARN."""
        draw = self.random()
        if draw < 0.4:
            return key.key_id
        if draw < 0.65:
            return key.alias
        if draw < 0.9:
            return key.arn
        return key.alias_arn

    def _kms_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        key = self.pick(account.keys[region])
        resources = [
            {"accountId": account.account_id, "type": "AWS::KMS::Key", "ARN": key.arn}
        ]
        draw = self.random()

        if draw < 0.002:
            # Automatic key rotation is a service event with no caller type and no request id.
            return {
                "eventVersion": self.pick(EVENT_VERSIONS["kms"]),
                "userIdentity": {
                    "accountId": account.account_id,
                    "invokedBy": "kms.amazonaws.com",
                },
                "eventTime": self.format_time(epoch),
                "eventSource": "kms.amazonaws.com",
                "eventName": "RotateKey",
                "awsRegion": region,
                "sourceIPAddress": "kms.amazonaws.com",
                "userAgent": "kms.amazonaws.com",
                "requestParameters": None,
                "responseElements": None,
                "eventID": self.uuid4(),
                "readOnly": False,
                "resources": resources,
                "eventType": "AwsServiceEvent",
                "managementEvent": True,
                "recipientAccountId": account.account_id,
                "serviceEventDetails": {
                    "keyOrigin": "AWS_KMS",
                    "backingKeysAreExternal": False,
                },
                "eventCategory": "Management",
            }

        if draw < 0.47:
            name = "Decrypt"
            caller = self.kms_caller(account, epoch)
            request = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
            if self.chance(0.2):
                request["keyId"] = self.key_reference(key)
            context = self.encryption_context(account, region, caller, epoch)
            if context:
                request["encryptionContext"] = context
            error = None
            if self.chance(0.003):
                error = ("InvalidCiphertextException", None)
        elif draw < 0.73:
            name = "GenerateDataKey"
            caller = self.kms_caller(account, epoch)
            request = {"keyId": self.key_reference(key)}
            if self.chance(0.8):
                request["keySpec"] = "AES_256"
            else:
                request["numberOfBytes"] = 32
            context = self.encryption_context(account, region, caller, epoch)
            if context:
                request["encryptionContext"] = context
            error = None
        elif draw < 0.84:
            name = "Encrypt"
            caller = self.human_or_role_caller(account, epoch)
            request = {
                "keyId": self.key_reference(key),
                "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }
            error = None
        elif draw < 0.93:
            name = "DescribeKey"
            caller = self.human_or_role_caller(account, epoch)
            request = {"keyId": self.key_reference(key)}
            error = None
            if self.chance(0.01):
                missing = f"alias/{self.pick(APPS)}-retired"
                request = {"keyId": missing}
                resources = None
                error = (
                    "NotFoundException",
                    f"Alias {key.alias_arn.rsplit(':', 1)[0]}:{missing} is not found.",
                )
        elif draw < 0.96:
            name = "Sign"
            caller = self.human_or_role_caller(account, epoch)
            request = {
                "keyId": self.key_reference(key),
                "messageType": "DIGEST",
                "signingAlgorithm": "ECDSA_SHA_256",
            }
            error = None
        elif draw < 0.985:
            name = self.pick(("ListAliases", "ListKeys"))
            caller = self.human_or_role_caller(account, epoch)
            request = {"limit": 100} if self.chance(0.5) else None
            resources = None
            error = None
        else:
            name = "CreateGrant"
            caller = self.service_caller(
                self.pick(("ebs.amazonaws.com", "rds.amazonaws.com"))
            )
            grantee = self.pick(account.roles)
            request = {
                "keyId": key.arn,
                "granteePrincipal": grantee.arn,
                "retiringPrincipal": grantee.arn,
                "operations": [
                    "Decrypt",
                    "Encrypt",
                    "GenerateDataKeyWithoutPlaintext",
                    "ReEncryptFrom",
                    "ReEncryptTo",
                ],
                "constraints": {
                    "encryptionContextSubset": {"aws:ebs:id": f"vol-0{self.hex(16)}"}
                },
            }
            error = None
            response = {"grantId": self.hex(64), "keyId": key.arn}
            return self.record(
                "kms",
                caller,
                name,
                request,
                response,
                read_only=False,
                resources=resources,
            )

        if error is None:
            error = self.denial(caller, f"kms:{name}", key.arn, "AccessDeniedException")
        return self.record(
            "kms",
            caller,
            name,
            request,
            read_only=True,
            resources=resources,
            error=error,
        )

    def kms_caller(self, account: Account, epoch: float) -> Caller:
        draw = self.random()
        if draw < 0.35:
            return self.forwarded_caller(
                account,
                epoch,
                self.pick(
                    (
                        "s3.amazonaws.com",
                        "secretsmanager.amazonaws.com",
                        "dynamodb.amazonaws.com",
                    )
                ),
            )
        if draw < 0.5:
            return self.service_caller(
                self.pick(
                    (
                        "cloudtrail.amazonaws.com",
                        "logs.amazonaws.com",
                        "lambda.amazonaws.com",
                    )
                )
            )
        return self.human_or_role_caller(account, epoch)

    def encryption_context(
        self, account: Account, region: str, caller: Caller, epoch: float
    ) -> dict | None:
        service = caller.identity.get("invokedBy")
        if service == "s3.amazonaws.com":
            return {
                "aws:s3:arn": f"arn:aws:s3:::{self.pick(account.buckets)}/{self.object_key(epoch)}"
            }
        if service == "secretsmanager.amazonaws.com":
            _, secret_arn = self.pick(account.secrets[region])
            return {"SecretARN": secret_arn, "SecretVersionId": self.uuid4()}
        if service == "dynamodb.amazonaws.com":
            return {
                "aws:dynamodb:tableName": self.pick(account.tables[region]),
                "aws:dynamodb:subscriberId": account.account_id,
            }
        if service == "cloudtrail.amazonaws.com":
            return {
                "aws:cloudtrail:arn": f"arn:aws:cloudtrail:us-east-1:{account.account_id}:trail/organization-trail",
                "aws:s3:arn": f"arn:aws:s3:::org-cloudtrail-logs/AWSLogs/{ORGANIZATION_ID}/{account.account_id}/"
                f"CloudTrail/{region}/{self.format_time(epoch)[:10].replace('-', '/')}/"
                f"{account.account_id}_CloudTrail_{region}_{self.alnum(16)}.json.gz",
            }
        if service == "lambda.amazonaws.com":
            function = self.pick(account.functions[region])
            return {
                "aws:lambda:FunctionArn": f"arn:aws:lambda:{region}:{account.account_id}:function:{function}"
            }
        if service == "logs.amazonaws.com":
            function = self.pick(account.functions[region])
            return {
                "aws:logs:arn": f"arn:aws:logs:{region}:{account.account_id}:log-group:/aws/lambda/{function}"
            }
        if self.chance(0.5):
            return {"aws-crypto-public-key": self.blob(88)}
        return None

    def _secretsmanager_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        secret_name, secret_arn = self.pick(account.secrets[region])
        secret_id = secret_arn if self.chance(0.6) else secret_name
        caller = self.human_or_role_caller(account, epoch)
        draw = self.random()
        response = None
        read_only = True
        error = None
        if draw < 0.7:
            name = "GetSecretValue"
            request = {"secretId": secret_id}
            if self.chance(0.2):
                request["versionStage"] = "AWSCURRENT"
            if self.chance(0.005):
                error = (
                    "ResourceNotFoundException",
                    "Secrets Manager can't find the specified secret.",
                )
        elif draw < 0.88:
            name = "DescribeSecret"
            request = {"secretId": secret_id}
        elif draw < 0.95:
            name = "PutSecretValue"
            request = {"secretId": secret_id, "clientRequestToken": self.uuid4()}
            response = {
                "arn": secret_arn,
                "name": secret_name,
                "versionId": request["clientRequestToken"],
                "versionStages": ["AWSCURRENT"],
            }
            read_only = False
        else:
            name = "ListSecrets"
            request = {"maxResults": 100}
            if self.chance(0.5):
                request["filters"] = [
                    {"key": "name", "values": [secret_name.split("/")[0]]}
                ]
        if error is None:
            error = self.denial(
                caller, f"secretsmanager:{name}", secret_arn, "AccessDeniedException"
            )
        return self.record(
            "secretsmanager",
            caller,
            name,
            request,
            response,
            read_only=read_only,
            error=error,
        )

    def _acm_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        certificate = self.pick(account.certificates[region])
        draw = self.random()
        response = None
        read_only = True
        if draw < 0.45:
            name = "DescribeCertificate"
            caller = (
                self.service_caller("elasticloadbalancing.amazonaws.com")
                if self.chance(0.5)
                else self.human_or_role_caller(account, epoch)
            )
            request = {"certificateArn": certificate}
        elif draw < 0.7:
            name = "ListCertificates"
            caller = self.human_or_role_caller(account, epoch)
            request = {
                "certificateStatuses": ["ISSUED", "PENDING_VALIDATION"],
                "includes": {"keyTypes": ["RSA_2048", "EC_prime256v1", "EC_secp384r1"]},
                "maxItems": 1000,
            }
        elif draw < 0.85:
            name = "GetCertificate"
            caller = self.human_or_role_caller(account, epoch)
            request = {"certificateArn": certificate}
        elif draw < 0.95:
            name = "ListTagsForCertificate"
            caller = self.human_or_role_caller(account, epoch)
            request = {"certificateArn": certificate}
        else:
            name = "RequestCertificate"
            caller = self.human_or_role_caller(account, epoch)
            domain = f"{self.pick(APPS)}.{self.pick(ENVIRONMENTS)}.example.com"
            request = {
                "domainName": domain,
                "validationMethod": "DNS",
                "subjectAlternativeNames": [domain, f"www.{domain}"],
                "idempotencyToken": self.hex(16),
                "options": {"certificateTransparencyLoggingPreference": "ENABLED"},
            }
            response = {
                "certificateArn": f"arn:aws:acm:{region}:{account.account_id}:certificate/{self.uuid4()}"
            }
            read_only = False
        error = self.denial(caller, f"acm:{name}", certificate, "AccessDeniedException")
        return self.record(
            "acm", caller, name, request, response, read_only=read_only, error=error
        )

    def _acm_pca_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        authority = self.pick(account.certificate_authorities[region])
        certificate = f"{authority}/certificate/{self.hex(32)}"
        caller = self.human_or_role_caller(account, epoch)
        draw = self.random()
        response = None
        read_only = True
        if draw < 0.35:
            name = "IssueCertificate"
            request = {
                "certificateAuthorityArn": authority,
                "signingAlgorithm": self.pick(("SHA256WITHRSA", "SHA256WITHECDSA")),
                "validity": {"value": self.pick((30, 90, 365)), "type": "DAYS"},
                "idempotencyToken": self.hex(16),
            }
            response = {"certificateArn": certificate}
            read_only = False
        elif draw < 0.7:
            name = "GetCertificate"
            request = {
                "certificateAuthorityArn": authority,
                "certificateArn": certificate,
            }
        elif draw < 0.9:
            name = "DescribeCertificateAuthority"
            request = {"certificateAuthorityArn": authority}
        elif draw < 0.98:
            name = "GetCertificateAuthorityCertificate"
            request = {"certificateAuthorityArn": authority}
        else:
            name = "RevokeCertificate"
            request = {
                "certificateAuthorityArn": authority,
                "certificateSerial": ":".join(self.hex(2) for _ in range(16)),
                "revocationReason": "KEY_COMPROMISE",
            }
            read_only = False
        resources = [
            {
                "accountId": account.account_id,
                "type": "AWS::ACMPCA::CertificateAuthority",
                "ARN": authority,
            }
        ]
        error = self.denial(
            caller, f"acm-pca:{name}", authority, "AccessDeniedException"
        )
        return self.record(
            "acm_pca",
            caller,
            name,
            request,
            response,
            read_only=read_only,
            resources=resources,
            error=error,
        )

    # Other services.

    def object_key(self, epoch: float) -> str:
        day = self.format_time(epoch)[:10].replace("-", "/")
        draw = self.random()
        if draw < 0.4:
            return f"exports/{day}/part-{self.rng.randrange(100000):05d}-{self.uuid4()}.snappy.parquet"
        if draw < 0.7:
            return f"uploads/{self.uuid4()}.json"
        return f"static/{self.pick(APPS)}/assets/{self.hex(20)}.js"

    def _s3_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        bucket = self.pick(account.buckets)
        key = self.object_key(epoch)
        host = f"{bucket}.s3.{region}.amazonaws.com"
        caller = self.human_or_role_caller(account, epoch)
        caller.user_agent = self.pick(S3_USER_AGENTS)
        name = self.pick(
            ("GetObject", "GetObject", "GetObject", "HeadObject", "PutObject")
        )
        request = {"bucketName": bucket, "Host": host, "key": key}
        if self.chance(0.3):
            request["x-id"] = name

        response = None
        size = self.rng.randrange(200, 50_000_000)
        if name == "PutObject":
            key_arn = self.pick(account.keys[region]).arn
            response = {
                "x-amz-server-side-encryption-aws-kms-key-id": key_arn,
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-bucket-key-enabled": "true",
            }

        additional = {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": size if name == "PutObject" else 0,
            "SSEApplied": "SSE_KMS" if name == "PutObject" else "Default_SSE_S3",
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": self.blob(76),
            "bytesTransferredOut": size if name == "GetObject" else 0,
        }

        resources = [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {
                "accountId": account.account_id,
                "type": "AWS::S3::Bucket",
                "ARN": f"arn:aws:s3:::{bucket}",
            },
        ]
        error = self.denial(caller, f"s3:{name}", None, "AccessDenied")
        return self.record(
            "s3",
            caller,
            name,
            request,
            response,
            read_only=name != "PutObject",
            resources=resources,
            data_event=True,
            error=error,
            additional=additional,
            request_id=self.hex(16).upper(),
            host=host,
        )

    def _ec2_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        caller = self.human_or_role_caller(account, epoch)
        draw = self.random()
        if draw < 0.35:
            name = "DescribeInstances"
            if self.chance(0.5):
                items = [
                    {"instanceId": self.pick(account.instances)}
                    for _ in range(self.rng.randrange(1, 4))
                ]
                request = {"instancesSet": {"items": items}, "filterSet": {}}
            else:
                request = {
                    "maxResults": 1000,
                    "instancesSet": {},
                    "filterSet": {
                        "items": [
                            {
                                "name": "tag:Name",
                                "valueSet": {
                                    "items": [{"value": f"{self.pick(APPS)}-*"}]
                                },
                            },
                            {
                                "name": "instance-state-name",
                                "valueSet": {"items": [{"value": "running"}]},
                            },
                        ]
                    },
                }
        elif draw < 0.55:
            name = "DescribeVolumes"
            request = {
                "volumeSet": {},
                "filterSet": {
                    "items": [
                        {
                            "name": "attachment.instance-id",
                            "valueSet": {
                                "items": [{"value": self.pick(account.instances)}]
                            },
                        }
                    ]
                },
            }
        elif draw < 0.75:
            name = "DescribeSecurityGroups"
            request = {
                "securityGroupSet": {},
                "securityGroupIdSet": {
                    "items": [{"groupId": self.pick(account.security_groups)}]
                },
                "filterSet": {},
            }
        elif draw < 0.9:
            name = "DescribeNetworkInterfaces"
            request = {
                "networkInterfaceIdSet": {},
                "filterSet": {
                    "items": [
                        {
                            "name": "group-id",
                            "valueSet": {
                                "items": [{"value": self.pick(account.security_groups)}]
                            },
                        }
                    ]
                },
            }
        else:
            name = "DescribeRegions"
            request = {"regionSet": {}, "allRegions": False}
        error = self.denial(caller, f"ec2:{name}", None, "Client.UnauthorizedOperation")
        return self.record(
            "ec2",
            caller,
            name,
            request,
            read_only=True,
            error=error,
            host=f"ec2.{region}.amazonaws.com",
        )

    def _sts_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        role = self.pick(account.roles)
        draw = self.random()
        if draw < 0.55:
            caller = self.service_caller(
                self.pick(
                    (
                        "lambda.amazonaws.com",
                        "ecs-tasks.amazonaws.com",
                        "ec2.amazonaws.com",
                    )
                )
            )
            session = (
                self.pick(account.instances)
                if caller.user_agent == "ec2.amazonaws.com"
                else role.name
            )
        elif draw < 0.85:
            caller = self.assumed_role_caller(account, epoch)
            session = f"{self.pick(PEOPLE)}-{int(epoch)}"
        else:
            caller = self.iam_user_caller(account)
            session = f"{caller.identity['userName']}-cli"
        request = {"roleArn": role.arn, "roleSessionName": session}
        if self.chance(0.3):
            request["durationSeconds"] = self.pick((900, 3600, 43200))
        expiration = time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(epoch + 3600))
        response = {
            "credentials": {
                "accessKeyId": "ASIA" + self.token(16),
                "sessionToken": self.blob(self.rng.randrange(600, 1100)),
                "expiration": expiration,
            },
            "assumedRoleUser": {
                "assumedRoleId": f"{role.role_id}:{session}",
                "arn": f"arn:aws:sts::{account.account_id}:assumed-role/{role.name}/{session}",
            },
        }
        resources = [
            {"accountId": account.account_id, "type": "AWS::IAM::Role", "ARN": role.arn}
        ]
        error = self.denial(caller, "sts:AssumeRole", role.arn, "AccessDenied")
        return self.record(
            "sts",
            caller,
            "AssumeRole",
            request,
            response,
            read_only=True,
            resources=resources,
            error=error,
            host=f"sts.{region}.amazonaws.com",
        )

    def _iam_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        caller = self.human_or_role_caller(account, epoch)
        role = self.pick(account.roles)
        draw = self.random()
        read_only = True
        if draw < 0.35:
            name = "GetRole"
            request = {"roleName": role.name}
        elif draw < 0.55:
            name = "ListAttachedRolePolicies"
            request = {"roleName": role.name}
        elif draw < 0.75:
            name = "ListRoles"
            request = {"maxItems": 1000} if self.chance(0.5) else None
        elif draw < 0.92:
            name = "GetPolicyVersion"
            request = {
                "policyArn": f"arn:aws:iam::{account.account_id}:policy/{self.pick(APPS)}-access",
                "versionId": f"v{self.rng.randrange(1, 9)}",
            }
        else:
            name = "PutRolePolicy"
            bucket = self.pick(account.buckets)
            key = self.pick(account.keys[region])
            document = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:PutObject"],
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": key.arn,
                    },
                ],
            }
            request = {
                "roleName": role.name,
                "policyName": f"{role.name}-inline",
                "policyDocument": json.dumps(document, indent=4),
            }
            read_only = False
        error = self.denial(caller, f"iam:{name}", role.arn, "AccessDenied")
        return self.record(
            "iam",
            caller,
            name,
            request,
            read_only=read_only,
            error=error,
            host="iam.amazonaws.com",
        )

    def _lambda_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        function = self.pick(account.functions[region])
        function_arn = (
            f"arn:aws:lambda:{region}:{account.account_id}:function:{function}"
        )
        resources = [
            {
                "accountId": account.account_id,
                "type": "AWS::Lambda::Function",
                "ARN": function_arn,
            }
        ]
        if self.chance(0.7):
            caller = (
                self.service_caller("s3.amazonaws.com")
                if self.chance(0.3)
                else self.human_or_role_caller(account, epoch)
            )
            request = {"functionName": function_arn}
            if caller.is_service:
                request["sourceArn"] = f"arn:aws:s3:::{self.pick(account.buckets)}"
                request["invocationType"] = "Event"
            error = self.denial(
                caller, "lambda:InvokeFunction", function_arn, "AccessDeniedException"
            )
            return self.record(
                "lambda",
                caller,
                "Invoke",
                request,
                read_only=False,
                resources=resources,
                data_event=True,
                error=error,
                additional={"functionVersion": f"{function_arn}:$LATEST"},
            )
        caller = self.human_or_role_caller(account, epoch)
        # CloudTrail names Lambda management events after the API version.
        if self.chance(0.6):
            name = "GetFunction20150331v2"
            action = "lambda:GetFunction"
            request = {"functionName": function}
        else:
            name = "ListFunctions20150331"
            action = "lambda:ListFunctions"
            request = None
        error = self.denial(caller, action, function_arn, "AccessDeniedException")
        return self.record("lambda", caller, name, request, read_only=True, error=error)

    def _dynamodb_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        table = self.pick(account.tables[region])
        table_arn = f"arn:aws:dynamodb:{region}:{account.account_id}:table/{table}"
        resources = [
            {
                "accountId": account.account_id,
                "type": "AWS::DynamoDB::Table",
                "ARN": table_arn,
            }
        ]
        caller = self.human_or_role_caller(account, epoch)
        draw = self.random()
        data_event = True
        read_only = True
        if draw < 0.4:
            name = "GetItem"
            request = {
                "tableName": table,
                "key": {"pk": f"user#{self.hex(12)}", "sk": "profile"},
                "consistentRead": False,
            }
        elif draw < 0.65:
            name = "Query"
            request = {
                "tableName": table,
                "keyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "projectionExpression": "pk, sk, updatedAt, #st",
                "expressionAttributeNames": {"#st": "status"},
                "limit": 50,
            }
        elif draw < 0.85:
            name = "PutItem"
            request = {
                "tableName": table,
                "key": {
                    "pk": f"order#{self.hex(12)}",
                    "sk": f"line#{self.rng.randrange(100)}",
                },
            }
            read_only = False
        else:
            name = "DescribeTable"
            request = {"tableName": table}
            data_event = False
        error = self.denial(
            caller, f"dynamodb:{name}", table_arn, "AccessDeniedException"
        )
        return self.record(
            "dynamodb",
            caller,
            name,
            request,
            read_only=read_only,
            resources=resources,
            data_event=data_event,
            error=error,
        )

    def _logs_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        function = self.pick(account.functions[region])
        group = f"/aws/lambda/{function}"
        caller = self.human_or_role_caller(account, epoch)
        read_only = True
        if self.chance(0.6):
            name = "CreateLogStream"
            day = self.format_time(epoch)[:10].replace("-", "/")
            request = {
                "logGroupName": group,
                "logStreamName": f"{day}/[$LATEST]{self.hex(32)}",
            }
            read_only = False
        elif self.chance(0.5):
            name = "DescribeLogGroups"
            request = {"logGroupNamePrefix": "/aws/lambda/", "limit": 50}
        else:
            name = "DescribeLogStreams"
            request = {
                "logGroupName": group,
                "orderBy": "LastEventTime",
                "descending": True,
                "limit": 5,
            }
        error = self.denial(caller, f"logs:{name}", None, "AccessDeniedException")
        return self.record(
            "logs", caller, name, request, read_only=read_only, error=error
        )

    def _monitoring_record(self) -> dict:
        account, region, epoch = self.account, self.region, self.epoch
        caller = self.human_or_role_caller(account, epoch)
        queries = [
            {
                "id": f"m{index}",
                "metricStat": {
                    "metric": {
                        "namespace": "AWS/Lambda",
                        "metricName": metric,
                        "dimensions": [
                            {
                                "name": "FunctionName",
                                "value": self.pick(account.functions[region]),
                            }
                        ],
                    },
                    "period": 300,
                    "stat": "Sum",
                },
                "returnData": True,
            }
            for index, metric in enumerate(
                ("Invocations", "Errors", "Throttles", "Duration")[
                    : self.rng.randrange(1, 5)
                ]
            )
        ]
        request = {
            "metricDataQueries": queries,
            "startTime": self.format_time(epoch - 10800),
            "endTime": self.format_time(epoch),
        }
        error = self.denial(caller, "cloudwatch:GetMetricData", None, "AccessDenied")
        return self.record(
            "monitoring", caller, "GetMetricData", request, read_only=True, error=error
        )

    # Files.

    def write_file(self, out: Path, stream: Stream, last: bool = False) -> None:
        """Write the next file of `stream`.

        The file repeats the records that the previous file of the stream chose
        for a second delivery. The `last` file of a stream has the minimum
        record count and chooses no records for a second delivery.
        """
        start = stream.clock
        end = start + self.rng.uniform(300, 5400)
        stream.clock = end
        delivered = end + self.rng.uniform(60, 600)

        if last:
            count = MIN_RECORDS_PER_FILE
        else:
            count = self.rng.randint(MIN_RECORDS_PER_FILE, MAX_RECORDS_PER_FILE)
        duplicates = stream.pending_duplicates
        stream.pending_duplicates = []

        self.account = account = stream.account
        self.region = region = stream.region
        other_builders = self.other_builders[region == "us-east-1"]
        crypto_builders = self.crypto_builders
        encode = self.encoder.encode
        random_value = self.random
        span = end - start
        crypto_share = self.crypto_share

        texts = []
        for _ in range(max(0, count - len(duplicates))):
            is_crypto = random_value() < crypto_share
            builders = crypto_builders if is_crypto else other_builders
            self.epoch = start + random_value() * span
            text = encode(self.pick(builders)())
            texts.append(text)
            self.crypto_records += is_crypto
            if not last and random_value() < DUPLICATE_RATE:
                stream.pending_duplicates.append((text, is_crypto))

        for text, is_crypto in duplicates:
            texts.insert(self.rng.randrange(len(texts) + 1), text)
            self.crypto_records += is_crypto
            self.crypto_duplicate_records += is_crypto
        self.duplicate_records += len(duplicates)

        data = ('{"Records":[' + ",".join(texts) + "]}").encode()
        compressed = gzip.compress(data, compresslevel=6, mtime=0)

        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(delivered))
        day_path = time.strftime("%Y/%m/%d", time.gmtime(delivered))
        folder = (
            out
            / "AWSLogs"
            / ORGANIZATION_ID
            / account.account_id
            / "CloudTrail"
            / region
            / day_path
        )
        name = (
            f"{account.account_id}_CloudTrail_{region}_{stamp}_{self.alnum(16)}.json.gz"
        )
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / (name + ".partial")
        partial.write_bytes(compressed)
        os.replace(partial, folder / name)

        self.files += 1
        self.records += len(texts)
        self.uncompressed_bytes += len(data)
        self.compressed_bytes += len(compressed)

    def generate(self, out: Path, target_bytes: int) -> None:
        while self.uncompressed_bytes < target_bytes:
            stream = self.rng.choices(self.streams, self.stream_weights)[0]
            self.write_file(out, stream)
        # Deliver the second copies that are still waiting, in one last file per stream.
        for stream in self.streams:
            if stream.pending_duplicates:
                self.write_file(out, stream, last=True)


def parse_regions(text: str) -> list[str]:
    regions = [region.strip() for region in text.split(",") if region.strip()]
    if not regions:
        raise argparse.ArgumentTypeError(
            "expected at least one region, such as us-east-1"
        )
    for region in regions:
        if not REGION_PATTERN.match(region):
            raise argparse.ArgumentTypeError(
                f"invalid region {region!r}: expected a name such as us-east-1"
            )
    if len(set(regions)) != len(regions):
        raise argparse.ArgumentTypeError(f"duplicate region in {text!r}")
    return regions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder, which must be missing or empty",
    )
    parser.add_argument(
        "--size-mb",
        type=float,
        default=1100,
        help="total uncompressed JSON to write, in MB of 10^6 bytes (default 1100). "
        "The files that deliver the last duplicates add up to 200 records per "
        "account and region beyond it",
    )
    parser.add_argument(
        "--crypto-share",
        type=float,
        default=0.15,
        help="fraction of records from KMS, Secrets Manager, ACM and ACM Private CA (default 0.15)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--accounts",
        type=int,
        default=20,
        help="number of member accounts (default 20)",
    )
    parser.add_argument(
        "--regions",
        type=parse_regions,
        default=parse_regions("us-east-1,eu-west-1,ap-southeast-2"),
        help="comma-separated regions (default us-east-1,eu-west-1,ap-southeast-2)",
    )
    args = parser.parse_args(argv)

    if args.size_mb <= 0:
        parser.error(f"invalid --size-mb {args.size_mb}: expected a positive number")
    if not 0 <= args.crypto_share <= 1:
        parser.error(
            f"invalid --crypto-share {args.crypto_share}: expected a fraction from 0 to 1"
        )
    if args.accounts < 1:
        parser.error(f"invalid --accounts {args.accounts}: expected at least 1")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        parser.error(
            f"output folder {args.out} is not empty: remove it or pass another --out"
        )
    return args


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    generator = Generator(args)
    args.out.mkdir(parents=True, exist_ok=True)
    generator.generate(args.out, int(args.size_mb * 1_000_000))
    summary = {
        "files": generator.files,
        "records": generator.records,
        "crypto_records": generator.crypto_records,
        "duplicate_records": generator.duplicate_records,
        "crypto_duplicate_records": generator.crypto_duplicate_records,
        "uncompressed_bytes": generator.uncompressed_bytes,
        "compressed_bytes": generator.compressed_bytes,
        "seconds": round(time.monotonic() - started, 3),
        "seed": args.seed,
        "size_mb": args.size_mb,
        "crypto_share": args.crypto_share,
        "accounts": args.accounts,
        "regions": ",".join(args.regions),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    sys.exit(main())
