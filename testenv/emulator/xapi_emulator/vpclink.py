"""API Gateway REST (v1) VPC links: lifecycle, validation and references.

* A new link is PENDING for ``vpc_link_pending`` seconds, then AVAILABLE, or
  FAILED with a ``statusMessage`` when its target is not an active NLB of the
  same account and region *at creation time* (AWS fails a link created while
  its NLB is still provisioning).
* Exactly one target ARN; targetArns cannot be changed afterwards.
* DeleteVpcLink is refused while a deployed stage or an integration of any
  REST API in the account/region uses the link; otherwise the link shows
  DELETING for ``vpc_link_deleting`` seconds and is then gone
  (NotFoundException), as AWS has no DELETED state.
* UpdateVpcLink applies /name and /description.
* A test harness, not an AWS rule: ``POST /_xapi/vpclink/fail-next
  {"message": "..."}`` makes the next created link end FAILED with that
  ``statusMessage`` (AWS's VpcLink has status FAILED and a statusMessage; the
  causes it lists, such as an NLB in a bad state, are hard to stage).
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.apigateway import models as m
from moto.apigateway.exceptions import BadRequestException, VpcLinkNotFound
from moto.apigateway.responses import APIGatewayResponse

from . import clock, limits, patchops
from .patchops import Field, Schema

NLB_ARN = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):(\d{12}):loadbalancer/net/[^/]+/[0-9a-f]+$")

MSG_PENDING = "VPC link is provisioning ENIs"

_fail_next: list[str] = []


def fail_next(body: Any) -> dict[str, Any]:
    """Control: the next created link ends FAILED with ``body["message"]``."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        raise ValueError("vpclink.fail-next: {\"message\": \"...\"} expected")
    _fail_next[:] = [message]
    return {"fail_next": message}


def reset() -> None:
    _fail_next.clear()
MSG_AVAILABLE = "Your vpc link is ready for use"
MSG_DELETING = "VPC link is being deleted"
MSG_MALFORMED = "NLB ARN is malformed."
MSG_NOT_ACTIVE = ("NLB is not in active state. If you recently created this NLB, please wait for it "
                  "to become active and try again.")

VPC_LINK_SCHEMA = Schema({
    "name": Field("name"),
    "description": Field("description"),
    "targetArns": Field("target_arns", kind="list", read_only="Target arns are not allowed to be changed/added."),
})


# --- state -------------------------------------------------------------------

def _status(link: m.VpcLink) -> str:
    if getattr(link, "xapi_deleting_since", None) is not None:
        return "DELETING"
    if not clock.elapsed(getattr(link, "xapi_created", None), "vpc_link_pending"):
        return "PENDING"
    return "FAILED" if getattr(link, "xapi_failure", None) else "AVAILABLE"


def _status_message(link: m.VpcLink) -> str:
    return {
        "DELETING": MSG_DELETING,
        "PENDING": MSG_PENDING,
        "AVAILABLE": MSG_AVAILABLE,
    }.get(_status(link)) or link.xapi_failure


def _to_json(orig):
    def to_json(self: m.VpcLink) -> dict[str, Any]:
        out = orig(self)
        out["status"] = _status(self)
        out["statusMessage"] = _status_message(self)
        return out
    return to_json


def is_gone(link: m.VpcLink) -> bool:
    since = getattr(link, "xapi_deleting_since", None)
    return since is not None and clock.elapsed(since, "vpc_link_deleting")


def _purge(backend: m.APIGatewayBackend) -> None:
    for link_id, link in list(backend.vpc_links.items()):
        if is_gone(link):
            backend.vpc_links.pop(link_id, None)


def links_targeting(account_id: str, region: str, lb_arn: str) -> list[m.VpcLink]:
    """Links (not yet gone, not FAILED) whose target is ``lb_arn``."""
    backend = m.apigateway_backends[account_id][region]
    _purge(backend)
    return [
        link for link in backend.vpc_links.values()
        if lb_arn in (link.target_arns or []) and _status(link) != "FAILED"
    ]


# --- validation at creation -----------------------------------------------------

def _failure_for(target_arn: str, account_id: str, region: str) -> str | None:
    from moto.elbv2.models import elbv2_backends

    match = NLB_ARN.match(target_arn)
    if not match:
        return MSG_MALFORMED
    arn_region, arn_account = match.groups()
    lb = None
    if (arn_region, arn_account) == (region, account_id):
        lb = elbv2_backends[account_id][region].load_balancers.get(target_arn)
    if lb is None:
        return f"NLB '{target_arn}' was not found in account {account_id}, region {region}."
    if lb.state != "active":
        return MSG_NOT_ACTIVE
    return None


def _create_vpc_link(orig):
    def create_vpc_link(self: m.APIGatewayBackend, name: str, description: str,
                        target_arns: list[str], tags: Any) -> m.VpcLink:
        target_arns = target_arns or []
        limits.check_tags(tags)
        if len(target_arns) != 1:
            raise BadRequestException(
                "More than one target arn specified for vpc link." if target_arns
                else "Target arns must be specified for vpc link."
            )
        failure = _failure_for(target_arns[0], self.account_id, self.region_name)
        if failure is None and _fail_next:
            failure = _fail_next.pop()
        link = orig(self, name, description, target_arns, tags)
        link.xapi_created = clock.now()
        link.xapi_failure = failure
        link.xapi_deleting_since = None
        return link
    return create_vpc_link


# --- references and deletion ------------------------------------------------------

def integration_links(api: m.RestAPI) -> list[tuple[str, str, str]]:
    """(method, resourceId, vpcLinkId) for every VPC_LINK integration of ``api``."""
    found = []
    for resource in api.resources.values():
        for method_name, method in resource.resource_methods.items():
            integ = method.method_integration
            if integ is not None and integ.connection_type == "VPC_LINK" and getattr(integ, "connection_id", None):
                found.append((method_name, resource.id, integ.connection_id))
    return found


def references(backend: m.APIGatewayBackend, link_id: str) -> list[str]:
    """AWS's "[RESTApiId:Method:Resource:Stage]" entries for ``link_id``.

    Deployed stages are what AWS checks; current (not yet deployed)
    integrations are listed too, with stage ``-``.
    """
    refs: list[str] = []
    for api in backend.apis.values():
        deployed = set()
        for stage in api.stages.values():
            deployment = api.deployments.get(stage.deployment_id)
            for method, resource_id, used in getattr(deployment, "xapi_vpc_links", []) or []:
                if used == link_id:
                    refs.append(f"{api.id}:{method}:{resource_id}:{stage.name}")
                    deployed.add((method, resource_id))
        for method, resource_id, used in integration_links(api):
            if used == link_id and (method, resource_id) not in deployed:
                refs.append(f"{api.id}:{method}:{resource_id}:-")
    return refs


def _delete_vpc_link(orig):
    def delete_vpc_link(self: m.APIGatewayBackend, vpc_link_id: str) -> None:
        _purge(self)
        link = self.vpc_links.get(vpc_link_id)
        if link is None:
            raise VpcLinkNotFound()
        refs = references(self, vpc_link_id)
        if refs:
            raise BadRequestException(
                f"Cannot delete vpc link. Vpc link '{vpc_link_id}', is referenced in "
                f"[{', '.join(refs)}] in format of [RESTApiId:Method:Resource:Stage]."
            )
        if getattr(link, "xapi_deleting_since", None) is None:
            link.xapi_deleting_since = clock.now()
    return delete_vpc_link


def _purging(orig):
    def wrapper(self: m.APIGatewayBackend, *args: Any, **kwargs: Any) -> Any:
        _purge(self)
        return orig(self, *args, **kwargs)
    return wrapper


def update_vpc_link(self: APIGatewayResponse):
    vpc_link_id = self.path.rstrip("/").split("/")[-1]
    link = self.backend.get_vpc_link(vpc_link_id=vpc_link_id)
    new = patchops.apply(link, self._get_param("patchOperations"), VPC_LINK_SCHEMA)
    patchops.commit(link, new)
    return 200, {}, json.dumps(link.to_json())


def _get_vpc_link_response(orig):
    """moto takes the id from the path's last segment; a trailing slash breaks it."""
    def get_vpc_link(self: APIGatewayResponse) -> str:
        link = self.backend.get_vpc_link(vpc_link_id=self.path.rstrip("/").split("/")[-1])
        return json.dumps(link.to_json())
    return get_vpc_link


def install() -> None:
    m.VpcLink.to_json = _to_json(m.VpcLink.to_json)
    m.APIGatewayBackend.create_vpc_link = _create_vpc_link(m.APIGatewayBackend.create_vpc_link)
    m.APIGatewayBackend.delete_vpc_link = _delete_vpc_link(m.APIGatewayBackend.delete_vpc_link)
    m.APIGatewayBackend.get_vpc_link = _purging(m.APIGatewayBackend.get_vpc_link)
    m.APIGatewayBackend.get_vpc_links = _purging(m.APIGatewayBackend.get_vpc_links)
    APIGatewayResponse.update_vpc_link = update_vpc_link
    APIGatewayResponse.get_vpc_link = _get_vpc_link_response(APIGatewayResponse.get_vpc_link)
