"""EC2 rules for Interface VPC endpoints and security groups.

* An Interface endpoint is ``pending`` for ``vpc_endpoint_pending`` seconds,
  then ``available``; a deleted one is ``deleting`` for
  ``vpc_endpoint_deleting`` seconds and then gone from DescribeVpcEndpoints
  (moto keeps it as ``deleted`` forever).
* One requester-managed ENI per subnet with a private IP inside that subnet
  (moto draws IPs from anywhere in 10/8), carrying the endpoint's security
  groups (the VPC's default group when none is given). ModifyVpcEndpoint
  Add/RemoveSubnetIds and Add/RemoveSecurityGroupIds change the ENIs.
* At most one subnet per Availability Zone, subnets must be in the
  endpoint's VPC.
* A repeated ClientToken returns the endpoint first created with it, even
  once it is deleted (then in its deleted state); the same token with other
  parameters is IdempotentParameterMismatch.
* DeleteVpcEndpoints reports unknown ids as Unsuccessful, like AWS.
* DeleteSecurityGroup is refused (DependencyViolation) while an ENI or a VPC
  endpoint uses the group.
* Eventual consistency (consistency.py): a new security group, VPC endpoint
  or network interface is invisible to other calls for ``ec2_consistency``
  seconds: Describe* by id and calls naming it fail with the NotFound error,
  Describe* without ids leaves it out.
* Describe* naming several ids fails on the first unknown one, named in the
  message (moto names a set of every id for security groups).
* Limits: tag keys <= 128 and values <= 256 characters, security group
  descriptions <= 255 characters (InvalidParameterValue).
* A resource's own tags are read from the tag table by its id (moto scans
  every tag of the account for each resource, which makes a Describe of N
  resources cost N x the account's tags); the answer is the same.
* After every call that is not a Describe/Get, NLB target health records
  whether targets are still reachable (targethealth.py): routes, peering,
  security groups and ENIs decide it.
"""

from __future__ import annotations

import ipaddress
import random
import re
from typing import Any

from moto.core.exceptions import ServiceException
from moto.ec2.exceptions import (
    DependencyViolationError,
    EC2ClientError,
    InvalidNetworkInterfaceIdError,
    InvalidSecurityGroupNotFoundError,
    InvalidVpcEndPointIdError,
)
from moto.ec2.models import EC2Backend
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.models.vpcs import VPCEndPoint
from moto.ec2.responses import EC2Response
from moto.ec2.responses.vpcs import VPCs
from moto.core.responses import ActionResult
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

from . import clock, consistency, targethealth

_rng = random.Random()


# --- endpoint state ---------------------------------------------------------------

def _get_state(self: VPCEndPoint) -> str:
    deleting = self.__dict__.get("xapi_deleting_since")
    if deleting is not None:
        return "deleted" if clock.elapsed(deleting, "vpc_endpoint_deleting") else "deleting"
    stored = self.__dict__.get("xapi_state", "available")
    if (stored == "available" and _is_interface(self)
            and not clock.elapsed(self.__dict__.get("xapi_created"), "vpc_endpoint_pending")):
        return "pending"
    return stored


def _set_state(self: VPCEndPoint, value: str) -> None:
    if value == "deleted":
        self.__dict__.setdefault("xapi_deleting_since", clock.now())
    else:
        self.__dict__["xapi_state"] = value


def _is_interface(endpoint: VPCEndPoint) -> bool:
    return (endpoint.vpc_endpoint_type or "").lower() == "interface"


def _is_gone(endpoint: VPCEndPoint) -> bool:
    return endpoint.state == "deleted"


def _purge(backend: EC2Backend) -> None:
    for endpoint_id, endpoint in list(backend.vpc_end_points.items()):
        if _is_gone(endpoint):
            backend.vpc_end_points.pop(endpoint_id, None)


# --- ENIs ---------------------------------------------------------------------------

def _free_ip(backend: EC2Backend, subnet: Any) -> str:
    """A random free address of ``subnet`` outside AWS's 5 reserved ones."""
    net = ipaddress.IPv4Network(subnet.cidr_block)
    used = {
        addr.get("PrivateIpAddress")
        for eni in backend.enis.values() if eni.subnet.id == subnet.id
        for addr in eni.private_ip_addresses
    }
    first, last = int(net.network_address) + 4, int(net.broadcast_address) - 1
    for _ in range(1000):
        ip = str(ipaddress.IPv4Address(_rng.randint(first, last)))
        if ip not in used:
            return ip
    raise EC2ClientError("InsufficientFreeAddressesInSubnet",
                         f"Insufficient free IP addresses in subnet '{subnet.id}'.")


def _create_eni(backend: EC2Backend, endpoint: VPCEndPoint, subnet_id: str) -> str:
    subnet = backend.get_subnet(subnet_id)
    eni = backend.create_network_interface(
        subnet,
        _free_ip(backend, subnet),
        group_ids=list(endpoint.security_group_ids),
        description=f"VPC Endpoint Interface {endpoint.id}",
    )
    eni.interface_type = "vpc_endpoint"
    eni.requester_managed = True
    eni.status = "in-use"
    return eni.id


def _check_subnets(backend: EC2Backend, vpc_id: str, subnet_ids: list[str]) -> None:
    zones: dict[str, str] = {}
    for subnet_id in subnet_ids:
        subnet = backend.get_subnet(subnet_id)  # raises InvalidSubnetID.NotFound
        if subnet.vpc_id != vpc_id:
            raise EC2ClientError(
                "InvalidParameter", f"The subnet ID '{subnet_id}' does not belong to VPC '{vpc_id}'."
            )
        if subnet.availability_zone in zones:
            raise EC2ClientError(
                "DuplicateSubnetsInSameZone",
                f"Found another VPC endpoint subnet in the availability zone of {zones[subnet.availability_zone]}. "
                "VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service.",
            )
        zones[subnet.availability_zone] = subnet_id


def _sync_enis(backend: EC2Backend, endpoint: VPCEndPoint) -> None:
    """Make the endpoint's ENIs match its subnets and security groups."""
    by_subnet = {}
    for eni_id in list(endpoint.network_interface_ids):
        eni = backend.enis.get(eni_id)
        if eni is None:
            continue
        if eni.subnet.id in (endpoint.subnet_ids or []) and eni.subnet.id not in by_subnet:
            by_subnet[eni.subnet.id] = eni_id
        else:
            backend.enis.pop(eni_id, None)
    for subnet_id in endpoint.subnet_ids or []:
        if subnet_id not in by_subnet:
            by_subnet[subnet_id] = _create_eni(backend, endpoint, subnet_id)
    endpoint.network_interface_ids = [by_subnet[s] for s in endpoint.subnet_ids or []]
    groups = [g for g in (backend.get_security_group_from_id(i) for i in endpoint.security_group_ids) if g]
    for eni_id in endpoint.network_interface_ids:
        backend.enis[eni_id]._group_set = list(groups)


# --- backend wrappers ------------------------------------------------------------------

def _visible_group(backend: EC2Backend, group_id: str) -> Any:
    group = backend.get_security_group_from_id(group_id)
    if group is None or consistency.hidden(group):
        raise InvalidSecurityGroupNotFoundError(group_id)
    return group


def _request_fingerprint(vpc_id: str, service_name: str, endpoint_type: str | None,
                         kwargs: dict[str, Any]) -> dict[str, Any]:
    """The parameters a repeated ClientToken must match (AWS compares every
    parameter but the Region and Availability Zone)."""
    tags = kwargs.get("tags") or {}
    return {
        "VpcId": vpc_id,
        "ServiceName": service_name,
        "VpcEndpointType": (endpoint_type or "Gateway").lower(),
        "SubnetIds": frozenset(kwargs.get("subnet_ids") or []),
        "SecurityGroupIds": frozenset(kwargs.get("security_group_ids") or []),
        "PrivateDnsEnabled": kwargs.get("private_dns_enabled"),
        "PolicyDocument": kwargs.get("policy_document"),
        "RouteTableIds": frozenset(kwargs.get("route_table_ids") or []),
        "TagSpecifications": frozenset(tags.items()) if isinstance(tags, dict) else repr(tags),
    }


def _create_vpc_endpoint(orig):
    def create_vpc_endpoint(self: EC2Backend, vpc_id: str, service_name: str, endpoint_type: str | None,
                            *args: Any, **kwargs: Any) -> VPCEndPoint:
        _purge(self)
        interface = (endpoint_type or "").lower() == "interface"
        if interface and not kwargs.get("security_group_ids"):
            default = self.get_default_security_group(vpc_id) if vpc_id in self.vpcs else None
            kwargs["security_group_ids"] = [default.id] if default else []
        token = kwargs.get("client_token")
        tokens = self.__dict__.setdefault("xapi_client_tokens", {})
        wanted = _request_fingerprint(vpc_id, service_name, endpoint_type, kwargs)
        if token and token in tokens:
            # The first request's result, with its current state, even when the
            # endpoint has been deleted since: a retry never creates another.
            fingerprint, first = tokens[token]
            if fingerprint != wanted:
                raise EC2ClientError(
                    "IdempotentParameterMismatch",
                    "The client token you have provided is associated with a resource with different parameters.",
                )
            return first
        if interface:
            self.get_vpc(vpc_id)
            _check_subnets(self, vpc_id, kwargs.get("subnet_ids") or [])
        for group_id in kwargs.get("security_group_ids") or []:
            _visible_group(self, group_id)
        endpoint = orig(self, vpc_id, service_name, endpoint_type, *args, **kwargs)
        endpoint.xapi_created = clock.now()
        consistency.mark(endpoint)
        if interface:
            for eni_id in endpoint.network_interface_ids:  # moto's, with IPs outside the subnet
                self.enis.pop(eni_id, None)
            endpoint.network_interface_ids = []
            endpoint.subnet_ids = list(endpoint.subnet_ids or [])
            _sync_enis(self, endpoint)
        if token:
            tokens[token] = (wanted, endpoint)
        return endpoint
    return create_vpc_endpoint


def _modify_vpc_endpoint(orig):
    def modify_vpc_endpoint(self: EC2Backend, vpc_id: str, policy_doc: str, add_subnets: list[str] | None,
                            remove_subnets: list[str] | None, *args: Any, **kwargs: Any) -> None:
        _purge(self)
        endpoint = self.describe_vpc_endpoints(vpc_end_point_ids=[vpc_id])[0]
        if _is_interface(endpoint):
            remaining = [s for s in endpoint.subnet_ids or [] if s not in (remove_subnets or [])]
            _check_subnets(self, endpoint.vpc_id, remaining + [s for s in add_subnets or [] if s not in remaining])
        for group_id in kwargs.get("add_security_groups") or []:
            _visible_group(self, group_id)
        orig(self, vpc_id, policy_doc, add_subnets, remove_subnets, *args, **kwargs)
        if _is_interface(endpoint):
            _sync_enis(self, endpoint)
    return modify_vpc_endpoint


def _describe_vpc_endpoints(orig):
    def describe_vpc_endpoints(self: EC2Backend, vpc_end_point_ids: list[str] | None = None,
                               filters: Any = None) -> list[VPCEndPoint]:
        _purge(self)
        for endpoint_id in vpc_end_point_ids or []:
            endpoint = self.vpc_end_points.get(endpoint_id)
            if endpoint is None or consistency.hidden(endpoint):
                raise InvalidVpcEndPointIdError(endpoint_id)
        return [e for e in orig(self, vpc_end_point_ids, filters) if not consistency.hidden(e)]
    return describe_vpc_endpoints


def _groups(self: VPCEndPoint) -> list[dict[str, str]]:
    """moto fails on a group that no longer exists (a deleted endpoint
    returned for its ClientToken may name one): keep its id only."""
    out = []
    for group_id in self.security_group_ids:
        group = self.ec2_backend.get_security_group_from_id(group_id)
        out.append({"GroupId": group_id, "GroupName": group.name} if group else {"GroupId": group_id})
    return out


def _delete_vpc_endpoints_response(orig):
    def delete_vpc_endpoints(self: VPCs) -> ActionResult:
        _purge(self.ec2_backend)
        ids = self._get_param("VpcEndpointIds", [])
        known = self.ec2_backend.vpc_end_points
        unknown = [i for i in ids if i not in known or consistency.hidden(known[i])]
        self.ec2_backend.delete_vpc_endpoints(vpce_ids=[i for i in ids if i not in unknown])
        return ActionResult({"Unsuccessful": [
            {"Error": {"Code": "InvalidVpcEndpoint.NotFound",
                       "Message": f"The VpcEndpoint Id '{i}' does not exist"},
             "ResourceId": i}
            for i in unknown
        ]})
    return delete_vpc_endpoints


def _delete_security_group(orig):
    def delete_security_group(self: EC2Backend, name: str | None = None, group_id: str | None = None) -> None:
        _purge(self)
        group = self.get_security_group_by_name_or_id(group_id or name)
        if consistency.hidden(group):
            raise InvalidSecurityGroupNotFoundError(group_id or name)
        if group is not None:
            in_use = any(group in eni.group_set for eni in self.enis.values()) or any(
                group.id in (ep.security_group_ids or []) for ep in self.vpc_end_points.values()
            )
            if in_use:
                raise DependencyViolationError(f"resource {group.id} has a dependent object")
        return orig(self, name=name, group_id=group_id)
    return delete_security_group


# Up to 255 characters (CreateSecurityGroup API reference, GroupDescription).
MAX_GROUP_DESCRIPTION = 255


def _create_security_group(orig):
    def create_security_group(self: EC2Backend, name: str, description: str, *args: Any, **kwargs: Any) -> Any:
        if description and len(description) > MAX_GROUP_DESCRIPTION:
            raise EC2ClientError(
                "InvalidParameterValue",
                "Invalid security group description. Valid descriptions are strings less than 256 characters "
                "from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*",
            )
        group = orig(self, name, description, *args, **kwargs)
        if not group.is_default:  # a VPC's default group comes with the VPC
            consistency.mark(group)
        return group
    return create_security_group


def _describe_security_groups(orig):
    def describe_security_groups(self: EC2Backend, group_ids: list[str] | None = None,
                                 groupnames: list[str] | None = None, filters: Any = None) -> list[Any]:
        for group_id in group_ids or []:
            _visible_group(self, group_id)
        for name in groupnames or []:
            group = self.get_security_group_from_name(name)
            if group is None or consistency.hidden(group):
                raise InvalidSecurityGroupNotFoundError(name)
        groups = orig(self, group_ids=group_ids, groupnames=groupnames, filters=filters)
        return [g for g in groups if not consistency.hidden(g)]
    return describe_security_groups


def _naming_group(orig):
    """Authorize/Revoke ingress/egress: the group (and source groups) must be visible."""
    def wrapper(self: EC2Backend, *args: Any, **kwargs: Any) -> Any:
        ref = kwargs.get("group_name_or_id", args[0] if args else None)
        group = self.get_security_group_by_name_or_id(ref, kwargs.get("vpc_id")) if ref else None
        if consistency.hidden(group):
            raise InvalidSecurityGroupNotFoundError(ref)
        for pair in kwargs.get("source_groups") or []:
            if isinstance(pair, dict) and pair.get("GroupId"):
                source = self.get_security_group_from_id(pair["GroupId"])
                if consistency.hidden(source):
                    raise InvalidSecurityGroupNotFoundError(pair["GroupId"])
        return orig(self, *args, **kwargs)
    return wrapper


# --- network interfaces ----------------------------------------------------------------

def _create_network_interface(orig):
    def create_network_interface(self: EC2Backend, *args: Any, **kwargs: Any) -> Any:
        eni = orig(self, *args, **kwargs)
        consistency.mark(eni)
        return eni
    return create_network_interface


def _get_all_network_interfaces(orig):
    def get_all_network_interfaces(self: EC2Backend, eni_ids: list[str] | None = None,
                                   filters: Any = None) -> list[Any]:
        for eni_id in eni_ids or []:
            eni = self.enis.get(eni_id)
            if eni is None or consistency.hidden(eni):
                raise InvalidNetworkInterfaceIdError(eni_id)
        return [e for e in orig(self, eni_ids, filters) if not consistency.hidden(e)]
    return get_all_network_interfaces


# --- tag limits --------------------------------------------------------------------------

# "Tag restrictions" (Tagging your Amazon EC2 resources): key up to 128,
# value up to 256 Unicode characters. CreateTags sends Tag.N.Key/Value,
# TagSpecifications send TagSpecification.N.Tag.M.Key/Value.
MAX_TAG_KEY, MAX_TAG_VALUE = 128, 256
_TAG_FIELD = re.compile(r"(?:^|\.)Tag\.\d+\.(Key|Value)$")


def _check_tags(querystring: dict[str, Any]) -> None:
    for name, values in querystring.items():
        match = _TAG_FIELD.search(name)
        if not match:
            continue
        for value in values if isinstance(values, list) else [values]:
            if match.group(1) == "Key" and len(value) > MAX_TAG_KEY:
                raise EC2ClientError("InvalidParameterValue",
                                     f"Tag key exceeds the maximum length of {MAX_TAG_KEY} characters")
            if match.group(1) == "Value" and len(value) > MAX_TAG_VALUE:
                raise EC2ClientError("InvalidParameterValue",
                                     f"Tag value exceeds the maximum length of {MAX_TAG_VALUE} characters")


def _call_action(orig):
    def call_action(self: EC2Response) -> Any:
        try:
            _check_tags(self.querystring)
        except ServiceException as exc:
            return self.serialized(ActionResult(exc))
        answer = orig(self)
        # Routes, peering, security groups and ENIs decide NLB target health.
        targethealth.after_call(self._get_action())
        return answer
    return call_action


def _own_tags(self: Any) -> list[dict[str, str]]:
    """moto's TaggedEC2Resource.get_tags, by the resource's id instead of a scan."""
    if not self.id:
        return []
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
    own = self.ec2_backend.tags.get(self.id, {})
    return [{"resource_id": self.id, "key": k, "value": v, "resource_type": kind} for k, v in own.items()]


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    TaggedEC2Resource.get_tags = _own_tags
    VPCEndPoint.state = property(_get_state, _set_state)
    EC2Backend.create_vpc_endpoint = _create_vpc_endpoint(EC2Backend.create_vpc_endpoint)
    EC2Backend.modify_vpc_endpoint = _modify_vpc_endpoint(EC2Backend.modify_vpc_endpoint)
    EC2Backend.describe_vpc_endpoints = _describe_vpc_endpoints(EC2Backend.describe_vpc_endpoints)
    EC2Backend.delete_security_group = _delete_security_group(EC2Backend.delete_security_group)
    VPCs.delete_vpc_endpoints = _delete_vpc_endpoints_response(VPCs.delete_vpc_endpoints)
    VPCEndPoint.groups = property(_groups)
    EC2Backend.create_security_group = _create_security_group(EC2Backend.create_security_group)
    EC2Backend.describe_security_groups = _describe_security_groups(EC2Backend.describe_security_groups)
    for name in ("authorize_security_group_ingress", "revoke_security_group_ingress",
                 "authorize_security_group_egress", "revoke_security_group_egress"):
        setattr(EC2Backend, name, _naming_group(getattr(EC2Backend, name)))
    EC2Backend.create_network_interface = _create_network_interface(EC2Backend.create_network_interface)
    EC2Backend.get_all_network_interfaces = _get_all_network_interfaces(EC2Backend.get_all_network_interfaces)
    EC2Response.call_action = _call_action(EC2Response.call_action)
