"""TestInvokeMethod: run a REST API method, and the chain behind it.

The operator's edge API forwards ``ANY /`` and ``ANY /{proxy+}`` as
HTTP_PROXY over a VPC link to an NLB whose targets are the provider's
execute-api endpoint ENIs; the provider's PRIVATE API answers. TestInvokeMethod
is the one AWS call that sends a request through that chain, so it is where
the emulator's data plane lives:

* the method and integration run are the *working* ones of the API called
  (AWS: TestInvokeMethod tests the API before deployment); a Lambda
  authorizer is not run (the emulator does not model authorizers);
* MOCK: the request template's ``statusCode`` selects the integration
  response (its ``selectionPattern``, else the default one), whose template
  is the body ("Mock integrations for REST APIs in API Gateway");
* HTTP_PROXY (and HTTP) over VPC_LINK: the link must be AVAILABLE, its NLB
  active with a TCP listener on the URI's port forwarding to a group with a
  healthy target (all unhealthy: the NLB fails open) that the NLB can reach
  (network.py). Any break answers 500 with "Execution failed due to
  configuration error: There was an internal error while executing your
  request" (AWS's knowledge-center article on VPC-link 500 errors lists a
  failed link, unhealthy targets and blocking security groups as causes);
* the reached ENI must be an execute-api endpoint's: it is aws:SourceVpce.
  The URI host (or x-apigw-api-id with the endpoint's own DNS name) names
  the API, which must be PRIVATE in the endpoint's account; the first path
  segment is the stage; the stage's *deployed* copy (snapshot.py) decides:
  resource policy, then the method, then its MOCK integration.

Answers have the shape and log lines of AWS's TestInvokeMethod.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.apigateway import models as m
from moto.apigateway.exceptions import BadRequestException, NotFoundException
from moto.apigateway.responses import APIGatewayResponse
from moto.elbv2.models import elbv2_backends

from . import network, policy, snapshot, sts, targethealth, vpclink

CONFIG_ERROR = "Execution failed due to configuration error: "
INTERNAL_ERROR = "There was an internal error while executing your request"
INVOKE = "execute-api:Invoke"

_EXECUTE_API_HOST = re.compile(r"^([a-z0-9]+)\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


class Log:
    """AWS's execution log: a header line, then "<date> : <text>" lines."""

    def __init__(self, request_id: str) -> None:
        self.lines = [f"Execution log for request {request_id}"]

    def add(self, text: str) -> None:
        stamp = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
        self.lines.append(f"{stamp} : {text}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class Failure(Exception):
    """The integration request could not be completed (logged after CONFIG_ERROR)."""


def _fmt(values: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in values.items()) + "}"


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _error(status: int, kind: str, body: dict[str, str]) -> Answer:
    return Answer(status, json.dumps(body, separators=(",", ":")),
                  {"Content-Type": "application/json", "x-amzn-ErrorType": kind})


FORBIDDEN = ("ForbiddenException", {"message": "Forbidden"})
MISSING_TOKEN = ("MissingAuthenticationTokenException", {"message": "Missing Authentication Token"})


# --- MOCK --------------------------------------------------------------------

def _template(templates: dict[str, str] | None, content_type: str) -> tuple[str, str] | None:
    templates = templates or {}
    for wanted in (content_type, "application/json"):
        if wanted in templates:
            return wanted, templates[wanted]
    return next(iter(templates.items()), None)


def _selects(pattern: str, status: str) -> bool:
    try:
        return re.fullmatch(pattern, status) is not None
    except re.error:
        return False


def run_mock(integration: dict[str, Any], headers: dict[str, str], body: str) -> Answer:
    """The answer a MOCK integration gives (raises Failure on a missing mapping)."""
    content_type = (_header(headers, "Content-Type") or "application/json").split(";")[0].strip()
    chosen = _template(integration.get("requestTemplates"), content_type)
    source = chosen[1] if chosen else body or ""
    found = re.search(r'"statusCode"\s*:\s*"?(\d{3})', source)
    status = found.group(1) if found else None
    responses = list((integration.get("integrationResponses") or {}).values())
    default = next((r for r in responses if not r.get("selectionPattern")), None)
    selected = None
    if status is not None:
        selected = next((r for r in responses if r.get("selectionPattern")
                         and _selects(r["selectionPattern"], status)), None)
    selected = selected or default
    if selected is None:
        raise Failure("No match for output mapping and no default output mapping configured. "
                      f"Endpoint Response Status Code: {status or 200}")
    out = _template(selected.get("responseTemplates"), _header(headers, "Accept") or "application/json")
    return Answer(int(selected["statusCode"]), out[1] if out else "",
                  {"Content-Type": out[0] if out else "application/json"})


# --- resource policy -------------------------------------------------------

class _PolicyKeys:
    """Condition keys of a request through a VPC endpoint (the sts.py evaluator's interface)."""

    KNOWN = ("aws:sourcevpce", "aws:sourcevpc")

    def __init__(self, vpce: str | None, vpc: str | None) -> None:
        self.single = {k: v for k, v in (("aws:sourcevpce", vpce), ("aws:sourcevpc", vpc)) if v}
        self.multi: dict[str, list[str]] = {}

    def known(self, key: str) -> bool:
        return key.lower() in self.KNOWN


def _anonymous_principal(statement: dict[str, Any]) -> bool:
    if "NotPrincipal" in statement:
        raise sts.Unsupported("NotPrincipal")
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in [str(p) for p in sts._as_list(principal.get("AWS"))]


def _resource_matches(statement: dict[str, Any], arn: str, prefix: str) -> bool:
    def hit(patterns: Any) -> bool:
        for p in sts._as_list(patterns):
            p = str(p)
            if p.startswith("execute-api:/"):
                p = prefix + p[len("execute-api:"):]
            if sts._wildcard(p, False).match(arn):
                return True
        return False

    if "Resource" in statement:
        return hit(statement["Resource"])
    if "NotResource" in statement:
        return not hit(statement["NotResource"])
    return False


def evaluate_policy(document: str | None, arn: str, prefix: str, keys: _PolicyKeys) -> str:
    """"allow", "deny" (an explicit Deny) or "implicit" (no Allow) for anonymous Invoke."""
    if not document:
        return "implicit"
    try:
        doc = policy.parse(document)
    except Exception:
        return "implicit"

    def applies(statement: dict[str, Any], fail: bool) -> bool:
        if not sts._action_matches(statement, INVOKE):
            return False
        try:
            return (_anonymous_principal(statement) and _resource_matches(statement, arn, prefix)
                    and sts._conditions_hold(statement, keys))
        except sts.Unsupported:
            return fail

    statements = [s for s in sts._as_list(doc.get("Statement")) if isinstance(s, dict)]
    if any(s.get("Effect") == "Deny" and applies(s, True) for s in statements):
        return "deny"
    if any(s.get("Effect") == "Allow" and applies(s, False) for s in statements):
        return "allow"
    return "implicit"


# --- the private API behind an execute-api endpoint -----------------------------

def _endpoint_of(eni: Any) -> Any | None:
    for endpoint in eni.ec2_backend.vpc_end_points.values():
        if eni.id in (endpoint.network_interface_ids or []) and str(endpoint.service_name).endswith(".execute-api"):
            return endpoint
    return None


def _endpoint_hosts(endpoint: Any, region: str) -> set[str]:
    hosts = {str(e.get("dns_name")) for e in endpoint.dns_entries or [] if e.get("dns_name")}
    hosts.add(f"{endpoint.id}.execute-api.{region}.vpce.amazonaws.com")
    return hosts


def _is_endpoint_host(host: str, endpoint: Any, region: str) -> bool:
    # AWS names: <vpce-id>-<suffix>[.<az>].execute-api.<region>.vpce.amazonaws.com
    pattern = rf"^{re.escape(endpoint.id)}-[a-z0-9]+(\.[a-z0-9-]+)?\.execute-api\.{re.escape(region)}\.vpce\.amazonaws\.com$"
    return host in _endpoint_hosts(endpoint, region) or re.match(pattern, host) is not None


def invoke_private(endpoint: Any, host: str, path: str, verb: str, headers: dict[str, str],
                   body: str) -> Answer:
    """A request arriving at an execute-api endpoint, answered as the private API's stage would."""
    account, region = endpoint.ec2_backend.account_id, endpoint.ec2_backend.region_name
    named = _EXECUTE_API_HOST.match(host)
    if named:
        api_id = named.group(1) if named.group(2) == region else None
    elif _is_endpoint_host(host, endpoint, region):
        api_id = _header(headers, "x-apigw-api-id")
    else:
        raise Failure(f"Host name '{host}' does not match the certificate subject provided by the peer "
                      f"(CN=*.execute-api.{region}.amazonaws.com)")
    api = m.apigateway_backends[account][region].apis.get(api_id or "")
    types = ((getattr(api, "endpoint_configuration", None) or {}).get("types") or []) if api else []
    # Through a VPC endpoint only private APIs answer (a public one is Forbidden too).
    if api is None or "PRIVATE" not in types:
        return _error(403, *FORBIDDEN)
    segments = [s for s in path.split("/") if s]
    stage = api.stages.get(segments[0]) if segments else None
    if stage is None:
        return _error(403, *FORBIDDEN)
    deployment = api.deployments.get(stage.deployment_id)
    deployed = getattr(deployment, "xapi_snapshot", None) or {"policy": None, "resources": []}
    rest = "/" + "/".join(segments[1:])
    prefix = f"arn:aws:execute-api:{region}:{account}:{api.id}"
    arn = f"{prefix}/{stage.name}/{verb}{rest}"
    decision = evaluate_policy(deployed.get("policy"), arn, prefix, _PolicyKeys(endpoint.id, endpoint.vpc_id))
    if decision != "allow":
        message = f"User: anonymous is not authorized to perform: {INVOKE} on resource: {arn}"
        if decision == "deny":
            message += " with an explicit deny"
        return _error(403, "AccessDeniedException", {"Message": message})
    found = snapshot.find_method(deployed, rest, verb)
    if found is None or found[0].get("integration") is None:
        return _error(403, *MISSING_TOKEN)
    integration = found[0]["integration"]
    if integration.get("type") != "MOCK":
        # Integrations of the private API other than MOCK are not run by the emulator.
        return _error(500, "InternalServerErrorException", {"message": "Internal server error"})
    try:
        return run_mock(integration, headers, body)
    except Failure:
        return _error(500, "InternalServerErrorException", {"message": "Internal server error"})


# --- VPC link -> NLB -> target -------------------------------------------------------

def _forwarded_groups(elb: Any, listener: Any) -> list[Any]:
    groups = []
    for rule in listener.rules.values():
        for action in rule.actions:
            for arn in elb._get_target_group_arns_from(action_data=action.data):
                if arn in elb.target_groups:
                    groups.append(elb.target_groups[arn])
    return groups


def through_vpc_link(backend: m.APIGatewayBackend, link_id: str | None, uri: urllib.parse.SplitResult,
                     verb: str, headers: dict[str, str], body: str) -> Answer:
    """Send the integration request over the VPC link (raises Failure when it cannot arrive)."""
    vpclink._purge(backend)
    link = backend.vpc_links.get(link_id or "")
    if link is None or vpclink._status(link) != "AVAILABLE" or not link.target_arns:
        raise Failure(INTERNAL_ERROR)
    elb = elbv2_backends[backend.account_id][backend.region_name]
    lb = elb.load_balancers.get(link.target_arns[0])
    if lb is None or lb.type != "network" or lb.state != "active":
        raise Failure(INTERNAL_ERROR)
    port = uri.port or (443 if uri.scheme == "https" else 80)
    listener = next((l for l in lb.listeners.values() if l.protocol == "TCP" and int(l.port) == port), None)
    if listener is None:
        raise Failure(INTERNAL_ERROR)
    candidates: list[tuple[Any, dict[str, Any], str]] = []
    for tg in _forwarded_groups(elb, listener):
        targethealth.observe_group(elb, tg)
        candidates += [(tg, entry, targethealth.state(tg, entry)[0]) for entry in tg.targets.values()]
    healthy = [c for c in candidates if c[2] == "healthy"]
    # "If all targets fail health checks at the same time ..., the load balancer fails open."
    if not healthy and candidates and all(c[2] == "unhealthy" for c in candidates):
        healthy = candidates
    for tg, entry, _state in healthy:
        target_port = targethealth._port(entry.get("Port"), targethealth._port(tg.port, 0))
        eni = network.reached_eni(lb, entry["Id"], target_port)
        if eni is None:
            continue
        endpoint = _endpoint_of(eni)
        # An execute-api endpoint only serves HTTPS on 443.
        if endpoint is None or target_port != 443 or uri.scheme != "https":
            raise Failure(INTERNAL_ERROR)
        return invoke_private(endpoint, uri.hostname or "", uri.path or "/", verb, headers, body)
    raise Failure(INTERNAL_ERROR)


# --- the method ----------------------------------------------------------------------

def _source_value(source: str, path_params: dict[str, str], query: dict[str, str],
                  headers: dict[str, str]) -> str | None:
    if len(source) >= 2 and source.startswith("'") and source.endswith("'"):
        return source[1:-1]
    found = re.fullmatch(r"method\.request\.(path|querystring|header)\.(.+)", source)
    if not found:
        return None  # context variables, stage variables, bodies: not modelled
    where, name = found.groups()
    if where == "path":
        return path_params.get(name)
    if where == "querystring":
        return query.get(name)
    return _header(headers, name)


def _integration_request(integration: m.Integration, path_params: dict[str, str], query: dict[str, str],
                         headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    mapped: dict[str, dict[str, str]] = {"path": {}, "querystring": {}, "header": {}}
    for target, source in (integration.request_parameters or {}).items():
        found = re.fullmatch(r"integration\.request\.(path|querystring|header)\.(.+)", target)
        value = _source_value(str(source), path_params, query, headers) if found else None
        if found and value is not None:
            mapped[found.group(1)][found.group(2)] = value
    uri = re.sub(r"\{([^}]+)\}", lambda g: mapped["path"].get(g.group(1), g.group(0)), integration.uri or "")
    # A proxy integration passes the method request's query string and headers on.
    query_out = {**query, **mapped["querystring"]}
    if query_out:
        uri += ("&" if "?" in uri else "?") + urllib.parse.urlencode(query_out)
    return uri, {**headers, **mapped["header"]}


def _run(api: m.RestAPI, resource: m.Resource, method: m.Method, verb: str, path_qs: str,
         headers: dict[str, str], body: str, log: Log) -> tuple[Answer, int]:
    path, _, raw_query = path_qs.partition("?")
    path = path or "/"
    matched = snapshot.match_path(snapshot.resource_path(api, resource), path)
    path_params = matched[1] if matched else {}
    query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
    log.add(f"HTTP Method: {verb}, Resource Path: {path}")
    log.add(f"Method request path: {_fmt(path_params)}")
    log.add(f"Method request query string: {_fmt(query)}")
    log.add(f"Method request headers: {_fmt(headers)}")
    log.add(f"Method request body before transformations: {body}")
    integration = method.method_integration
    if integration is None:
        raise BadRequestException("No integration defined for method")
    kind = integration.integration_type
    if kind == "MOCK":
        answer = run_mock(snapshot.integration_view(integration), headers, body)
        return answer, 0
    if kind not in ("HTTP", "HTTP_PROXY") or integration.connection_type != "VPC_LINK":
        raise Failure(f"the emulator runs MOCK integrations and HTTP(_PROXY) over VPC_LINK only, not {kind} "
                      f"over {integration.connection_type or 'INTERNET'}")
    uri, out_headers = _integration_request(integration, path_params, query, headers)
    out_verb = verb if (integration.http_method or "ANY") == "ANY" else integration.http_method
    parsed = urllib.parse.urlsplit(uri)
    out_headers = {**out_headers, "User-Agent": f"AmazonAPIGateway_{api.id}"}
    if parsed.hostname:
        out_headers.setdefault("Host", parsed.hostname)
    log.add(f"Endpoint request URI: {uri}")
    log.add(f"Endpoint request headers: {_fmt(out_headers)}")
    log.add(f"Endpoint request body after transformations: {body}")
    log.add(f"Sending request to {uri}")
    started = time.monotonic()
    answer = through_vpc_link(api_backend(api), getattr(integration, "connection_id", None), parsed,
                              out_verb, out_headers, body)
    latency = max(1, round((time.monotonic() - started) * 1000))
    log.add(f"Received response. Status: {answer.status}, Integration latency: {latency} ms")
    log.add(f"Endpoint response headers: {_fmt(answer.headers)}")
    log.add(f"Endpoint response body before transformations: {answer.body}")
    return answer, latency


def api_backend(api: m.RestAPI) -> m.APIGatewayBackend:
    return m.apigateway_backends[api.account_id][api.region_name]


def test_invoke_method(self: APIGatewayResponse):
    started = time.monotonic()
    parts = self.path.split("/")
    api_id, resource_id = parts[2], parts[4]
    verb = urllib.parse.unquote(parts[6]).upper()
    api = self.backend.get_rest_api(api_id)
    resource = self.backend.get_resource(api_id, resource_id)
    # With no method of that verb, the resource's ANY method serves it (emulator's assumption).
    method = resource.resource_methods.get(verb) or resource.resource_methods.get("ANY")
    if method is None:
        raise NotFoundException("Invalid Method identifier specified")
    request_verb = "GET" if verb == "ANY" else verb
    headers = {str(k): str(v) for k, v in (self._get_param("headers") or {}).items()}
    for name, values in (self._get_param("multiValueHeaders") or {}).items():
        headers.setdefault(str(name), ",".join(str(v) for v in values or []))
    body = self._get_param("body") or ""
    path_qs = self._get_param("pathWithQueryString") or snapshot.resource_path(api, resource)
    if not path_qs.startswith("/"):
        path_qs = "/" + path_qs

    request_id = str(uuid.uuid4())
    log = Log(request_id)
    log.add(f"Starting execution for request: {request_id}")
    try:
        answer, _latency = _run(api, resource, method, request_verb, path_qs, headers, body, log)
        log.add(f"Method response body after transformations: {answer.body}")
        answer.headers["X-Amzn-Trace-Id"] = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"
        log.add(f"Method response headers: {_fmt(answer.headers)}")
        log.add("Successfully completed execution")
    except Failure as failure:
        log.add(CONFIG_ERROR + str(failure))
        answer = Answer(500, json.dumps({"message": "Internal server error"}),
                        {"x-amzn-ErrorType": "InternalServerErrorException"})
    log.add(f"Method completed with status: {answer.status}")
    result = {
        "status": answer.status,
        "body": answer.body,
        "headers": answer.headers,
        "multiValueHeaders": {k: [v] for k, v in answer.headers.items()},
        "log": log.text(),
        "latency": max(1, round((time.monotonic() - started) * 1000)),
    }
    return 200, {}, json.dumps(result)
