"""Elastic Load Balancing v2 rules for NLBs and IP target groups.

* NLB ARNs read ``loadbalancer/net/...`` (moto writes ``app`` for every type).
* A new load balancer is ``provisioning`` for ``nlb_provisioning`` seconds,
  then ``active`` (moto flips it on the first Describe).
* Names are unique per account and region. CreateLoadBalancer and
  CreateTargetGroup are idempotent the AWS way: the same name with the same
  settings returns the existing resource; different settings fail with
  DuplicateLoadBalancerName / DuplicateTargetGroupName.
* RegisterTargets on an ``ip`` group: an address outside every subnet of the
  group's VPC needs an AvailabilityZone (``all``), an address inside one must
  not use ``all`` (AWS's two ValidationError messages). An address outside
  the VPC must be private: RFC 1918 or 100.64.0.0/10 ("Target groups for
  your Network Load Balancers", IP addresses). The zone is kept and
  DescribeTargetHealth returns it.
* Tag keys <= 128 and values <= 256 characters on every call that takes
  Tags (ValidationError, "Tag restrictions").
* DescribeTargetHealth for ``ip`` groups: ``unused`` while no listener
  forwards to the group, then ``initial`` / ``healthy`` / ``unhealthy`` from
  the group's health-check settings and whether the NLB can reach the
  target (targethealth.py, network.py); a deregistered target is
  ``draining`` for ``target_draining`` seconds and then no longer listed.
* DeleteLoadBalancer is refused (ResourceInUse) while an API Gateway VPC link
  that is not FAILED (including one still DELETING) targets it.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult

from moto.elbv2.exceptions import (
    ELBClientError,
    DuplicateLoadBalancerName,
    DuplicateTargetGroupName,
    ResourceInUseError,
    TargetGroupNotFoundError,
)
from moto.elbv2.models import ELBv2Backend, FakeLoadBalancer, FakeTargetGroup
from moto.elbv2.responses import ELBV2Response

from . import clock, targethealth, vpclink


# --- load balancer state --------------------------------------------------------------

def _get_lb_state(self: FakeLoadBalancer) -> str:
    stored = self.__dict__.get("xapi_state", "provisioning")
    if stored == "provisioning" and clock.elapsed(self.__dict__.get("xapi_created"), "nlb_provisioning"):
        return "active"
    return stored


def _set_lb_state(self: FakeLoadBalancer, value: str) -> None:
    self.__dict__["xapi_state"] = value


def _lb_init(orig):
    def __init__(self: FakeLoadBalancer, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        self.xapi_created = clock.now()
    return __init__


# --- uniqueness / idempotency ------------------------------------------------------------

def _lb_settings(lb: FakeLoadBalancer) -> tuple:
    return (
        lb.type, lb.scheme or "internet-facing", frozenset(s.id for s in lb.subnets),
        frozenset(lb.security_groups or []), lb.ip_address_type or "ipv4",
    )


def _create_load_balancer(orig):
    def create_load_balancer(self: ELBv2Backend, name: str, security_groups: list[str], subnet_ids: list[str],
                             subnet_mappings: list[dict[str, str]] | None = None,
                             scheme: str = "internet-facing", loadbalancer_type: str | None = None,
                             ip_address_type: str = "ipv4", tags: Any = None) -> FakeLoadBalancer:
        existing = next((lb for lb in self.load_balancers.values() if lb.name == name), None)
        if existing is not None:
            wanted = (
                loadbalancer_type or "application", scheme or "internet-facing",
                frozenset(list(subnet_ids or []) + [m["SubnetId"] for m in subnet_mappings or []]),
                frozenset(security_groups or []), ip_address_type or "ipv4",
            )
            if wanted == _lb_settings(existing):
                return existing
            raise DuplicateLoadBalancerName(
                f"A load balancer with the same name '{name}' exists, but with different settings"
            )
        lb = orig(self, name, security_groups, subnet_ids, subnet_mappings, scheme,
                  loadbalancer_type, ip_address_type, tags)
        _fix_arn(self, lb)
        return lb
    return create_load_balancer


def _fix_arn(backend: ELBv2Backend, lb: FakeLoadBalancer) -> None:
    """moto names every load balancer ``loadbalancer/app/...``; AWS uses
    ``loadbalancer/net/...`` for NLBs (and API Gateway checks for it)."""
    old = lb.arn
    prefix = {"network": "net", "gateway": "gwy"}.get(lb.type)
    if prefix is None or ":loadbalancer/app/" not in old:
        return
    new = old.replace(":loadbalancer/app/", f":loadbalancer/{prefix}/", 1)
    backend.load_balancers = OrderedDict((new if k == old else k, v) for k, v in backend.load_balancers.items())
    lb.arn = new
    backend.tagging_service.copy_tags(old, new)
    backend.tagging_service.delete_all_tags_for_resource(old)


# kwarg of create_target_group -> attribute of FakeTargetGroup
_TG_SETTINGS = {
    "vpc_id": "vpc_id",
    "protocol": "protocol",
    "port": "port",
    "target_type": "target_type",
    "healthcheck_protocol": "health_check_protocol",
    "healthcheck_port": "health_check_port",
    "healthcheck_path": "health_check_path",
    "healthcheck_interval_seconds": "health_check_interval_seconds",
    "healthcheck_timeout_seconds": "health_check_timeout_seconds",
    "healthy_threshold_count": "healthy_threshold_count",
    "unhealthy_threshold_count": "unhealthy_threshold_count",
    "ip_address_type": "ip_address_type",
}


def _create_target_group(orig):
    def create_target_group(self: ELBv2Backend, name: str, **kwargs: Any) -> FakeTargetGroup:
        existing = next((tg for tg in self.target_groups.values() if tg.name == name), None)
        if existing is None:
            return orig(self, name, **kwargs)
        for kwarg, attr in _TG_SETTINGS.items():
            given = kwargs.get(kwarg)
            if given is not None and str(given) != str(getattr(existing, attr, None)):
                raise DuplicateTargetGroupName(
                    f"A target group with the same name '{name}' exists, but with different settings"
                )
        return existing
    return create_target_group


# --- targets --------------------------------------------------------------------------------

def _validation(message: str) -> ELBClientError:
    return ELBClientError("ValidationError", message)


# Outside the VPC's subnets only these ranges may be registered.
_OUTSIDE_ALLOWED = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                        "100.64.0.0/10")]


def _check_ip_targets(backend: ELBv2Backend, tg: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    subnets = [s for s in backend.ec2_backend.describe_subnets() if s.vpc_id == tg.vpc_id]
    for target in targets:
        ip, zone = target["Id"], target.get("AvailabilityZone")
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError:
            raise _validation(f"The IP address '{ip}' is not a valid IPv4 address")
        home = next((s for s in subnets if addr in ipaddress.IPv4Network(s.cidr_block)), None)
        if home is None and not zone:
            raise _validation(f"The Availability Zone is required for IP address '{ip}' because it is not in the VPC")
        if home is None and not any(addr in net for net in _OUTSIDE_ALLOWED):
            raise _validation(
                f"The IP address '{ip}' is not in the VPC and not in a private range: an IP target outside "
                "the VPC must be in 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"
            )
        if home is not None and zone == "all":
            raise _validation(
                f"The IP address '{ip}' is within the VPC, and cannot have its Availability Zone "
                f"overridden to 'all' from '{home.availability_zone}'"
            )


def _register_targets(orig):
    def register_targets(self: ELBv2Backend, target_group_arn: str, instances: list[Any]) -> None:
        tg = self.target_groups.get(target_group_arn)
        if tg is not None and tg.target_type == "ip":
            _check_ip_targets(self, tg, instances)
        orig(self, target_group_arn, instances)
        if tg is not None:
            for target in instances:
                entry = tg.targets[target["Id"]]
                entry.setdefault("xapi_registered", clock.now())
                if target.get("AvailabilityZone"):
                    entry["AvailabilityZone"] = target["AvailabilityZone"]
    return register_targets


def _deregister(orig):
    def deregister(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
        orig(self, targets)
        for target in targets:
            self.deregistered_targets[target["Id"]]["xapi_draining_since"] = clock.now()
    return deregister


def _health(tg: FakeTargetGroup, in_use: bool, target_id: str, port: Any) -> dict[str, Any]:
    registered = tg.targets.get(target_id)
    deregistered = tg.deregistered_targets.get(target_id)
    entry = registered or deregistered or {"Id": target_id, "Port": port or tg.port}
    described = {"Id": entry["Id"], "Port": int(entry.get("Port") or tg.port)}
    if entry.get("AvailabilityZone"):
        described["AvailabilityZone"] = entry["AvailabilityZone"]
    if registered is not None:
        if not in_use:
            state = ("unused", "Target.NotInUse",
                     "Target group is not configured to receive traffic from the load balancer")
        else:
            state = targethealth.state(tg, registered)
    elif deregistered is not None and not _drained(deregistered):
        state = ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
    else:
        state = ("unused", "Target.NotRegistered", "Target is not registered to the target group")
    health = {"State": state[0]}
    if state[1]:
        health.update(Reason=state[1], Description=state[2])
    hc_port = tg.health_check_port
    if hc_port in (None, "traffic-port"):
        hc_port = str(described["Port"])
    return {"Target": described, "HealthCheckPort": hc_port, "TargetHealth": health}


def _drained(entry: dict[str, Any]) -> bool:
    return clock.elapsed(entry.get("xapi_draining_since"), "target_draining")


def _describe_target_health(orig):
    def describe_target_health(self: ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]) -> Any:
        tg = self.target_groups.get(target_group_arn)
        if tg is None:
            raise TargetGroupNotFoundError()
        if tg.target_type != "ip":
            return orig(self, target_group_arn, targets)
        if not targets:
            targets = list(tg.targets.values()) + [
                t for t in tg.deregistered_targets.values() if not _drained(t)
            ]
        # Health is read now: first record what the network looks like now.
        in_use = targethealth.observe_group(self, tg) is not None
        return [_health(tg, in_use, t["Id"], t.get("Port")) for t in targets]
    return describe_target_health


# --- deletion order ----------------------------------------------------------------------------

def _delete_load_balancer(orig):
    def delete_load_balancer(self: ELBv2Backend, arn: str) -> None:
        if arn in self.load_balancers and vpclink.links_targeting(self.account_id, self.region_name, arn):
            raise ResourceInUseError(
                f"Load balancer '{arn}' cannot be deleted because it is currently associated with another service"
            )
        return orig(self, arn)
    return delete_load_balancer


# --- tag limits ------------------------------------------------------------------------------

# "Tag restrictions": key up to 128, value up to 256 Unicode characters.
_TAG_LIMITS = {"Key": 128, "Value": 256}
_TAG_FIELD = re.compile(r"^Tags\.member\.(\d+)\.(Key|Value)$")


def _check_tags(querystring: dict[str, Any]) -> None:
    for name, values in querystring.items():
        match = _TAG_FIELD.match(name)
        if not match:
            continue
        index, part = match.groups()
        limit = _TAG_LIMITS[part]
        for value in values if isinstance(values, list) else [values]:
            if len(value) > limit:
                raise _validation(
                    f"1 validation error detected: Value '{value}' at 'tags.{index}.member.{part.lower()}' "
                    f"failed to satisfy constraint: Member must have length less than or equal to {limit}"
                )


def _call_action(orig):
    def call_action(self: ELBV2Response) -> Any:
        try:
            _check_tags(self.querystring)
        except ServiceException as exc:
            return self.serialized(ActionResult(exc))
        answer = orig(self)
        # Listeners, registrations and health-check settings change target health.
        targethealth.after_call(self._get_action())
        return answer
    return call_action


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    FakeLoadBalancer.__init__ = _lb_init(FakeLoadBalancer.__init__)
    FakeLoadBalancer.state = property(_get_lb_state, _set_lb_state)
    FakeLoadBalancer.activate = lambda self: None
    ELBv2Backend.create_load_balancer = _create_load_balancer(ELBv2Backend.create_load_balancer)
    ELBv2Backend.create_target_group = _create_target_group(ELBv2Backend.create_target_group)
    ELBv2Backend.register_targets = _register_targets(ELBv2Backend.register_targets)
    ELBv2Backend.describe_target_health = _describe_target_health(ELBv2Backend.describe_target_health)
    ELBv2Backend.delete_load_balancer = _delete_load_balancer(ELBv2Backend.delete_load_balancer)
    FakeTargetGroup.deregister = _deregister(FakeTargetGroup.deregister)
    ELBV2Response.call_action = _call_action(ELBV2Response.call_action)
