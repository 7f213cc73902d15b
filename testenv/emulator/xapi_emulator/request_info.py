"""Who is calling what: service, region, account and operation of a request.

Read from the SigV4 Authorization header (credential scope names the signing
service and region; the access key maps to the account through moto's own
IAM/STS bookkeeping) and, for API Gateway (REST-JSON), from method + path.
The query protocols (EC2, ELB, STS) are not parsed for their Action: quotas
only concern API Gateway, faults apply per service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")

# (method, path regex, operation) for the API Gateway calls with own quotas.
_APIGW_OPERATIONS = [
    ("POST", re.compile(r"^/restapis/?$"), "CreateRestApi"),
    ("DELETE", re.compile(r"^/restapis/[^/]+/?$"), "DeleteRestApi"),
    ("POST", re.compile(r"^/restapis/[^/]+/deployments/?$"), "CreateDeployment"),
    ("GET", re.compile(r"^/restapis/[^/]+/resources/?$"), "GetResources"),
    ("POST", re.compile(r"^/restapis/[^/]+/resources/[^/]+/?$"), "CreateResource"),
    ("DELETE", re.compile(r"^/restapis/[^/]+/resources/[^/]+/?$"), "DeleteResource"),
]


@dataclass(frozen=True)
class RequestInfo:
    service: str
    region: str
    access_key: str
    operation: str

    @property
    def account(self) -> str:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(self.access_key)


def identify(environ: dict) -> RequestInfo | None:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None
    access_key, region, service = match.groups()
    operation = ""
    if service == "apigateway":
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        for op_method, pattern, name in _APIGW_OPERATIONS:
            if method == op_method and pattern.match(path):
                operation = name
                break
    return RequestInfo(service=service, region=region, access_key=access_key, operation=operation)
