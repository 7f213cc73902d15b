"""Health of IP targets behind a Network Load Balancer.

AWS ("Health checks for Network Load Balancer target groups"): a newly
registered target must pass HealthyThresholdCount consecutive checks, one
every HealthCheckIntervalSeconds, before it is ``healthy``; a healthy target
that fails UnhealthyThresholdCount consecutive checks becomes ``unhealthy``
and needs HealthyThresholdCount passes to come back. A check passes when the
NLB can connect (network.py decides reachability).

There are no timers: the emulator records *when* a target's reachability
changed (after every EC2 or ELB call that can change it, and on every read)
and derives the state from those times and the group's current settings,
scaled by ``time_scale`` like every wait:

* checks start when the group is first used by a listener (or at
  registration, whichever is later);
* ``initial`` for max(interval x healthy threshold, ``target_initial``);
* then the verdict of the latest reachability period that lasted long enough
  to be confirmed: reachable for interval x healthy threshold -> ``healthy``,
  unreachable for interval x unhealthy threshold -> ``unhealthy``
  (Target.FailedHealthChecks, "Health checks failed": the reason the
  DescribeTargetHealth reference gives for NLBs).
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

from moto.elbv2.models import elbv2_backends

from . import clock, network
from .settings import SETTINGS

HEALTHY = ("healthy", None, None)
UNHEALTHY = ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
INITIAL = ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")

_MAX_PERIODS = 64


def load_balancers_by_group(backend: Any) -> dict[str, Any]:
    """Each target group's load balancer: the one whose listener forwards to it (an NLB group
    has one; the first found, as AWS allows no second)."""
    found: dict[str, Any] = {}
    for lb in backend.load_balancers.values():
        for listener in lb.listeners.values():
            for rule in listener.rules.values():
                for action in rule.actions:
                    for arn in backend._get_target_group_arns_from(action_data=action.data):
                        found.setdefault(arn, lb)
    return found


def load_balancer_using(backend: Any, tg_arn: str) -> Any | None:
    """The load balancer whose listener forwards to the group."""
    return load_balancers_by_group(backend).get(tg_arn)


def _port(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def check_port(tg: Any, entry: dict[str, Any]) -> int:
    traffic = _port(entry.get("Port"), _port(tg.port, 0))
    if tg.health_check_port in (None, "", "traffic-port"):
        return traffic
    return _port(tg.health_check_port, traffic)


def reachable(lb: Any, tg: Any, entry: dict[str, Any], enis: dict[str, list[Any]] | None) -> bool:
    return network.reached_eni(lb, entry["Id"], check_port(tg, entry), enis) is not None


def observe_group(
    backend: Any,
    tg: Any,
    lbs: dict[str, Any] | None = None,
    enis: dict[str, list[Any]] | None = None,
) -> Any | None:
    """Record reachability changes of the group's targets; returns its load balancer. ``lbs``
    and ``enis``: indexes of the current state, when many groups are observed at once."""
    lb = lbs.get(tg.arn) if lbs is not None else load_balancer_using(backend, tg.arn)
    now = clock.now()
    if lb is None:
        tg.__dict__["xapi_in_use_since"] = None
        return None
    if tg.__dict__.get("xapi_in_use_since") is None:
        tg.__dict__["xapi_in_use_since"] = now
    for entry in tg.targets.values():
        ok = reachable(lb, tg, entry, enis)
        periods = entry.setdefault("xapi_reach", [])
        if not periods or periods[-1][1] != ok:
            periods.append((now, ok))
            del periods[:-_MAX_PERIODS]
    return lb


def observe_all() -> None:
    # Indexed once per call: this runs after every write, over every group of every account.
    enis = network.enis_by_ip()
    for _account, _region, backend in elbv2_backends.iter_backends():
        lbs = load_balancers_by_group(backend)
        for tg in list(backend.target_groups.values()):
            if tg.target_type == "ip":
                observe_group(backend, tg, lbs, enis)


def after_call(action: str | None) -> None:
    """Run after EC2/ELB calls: anything but a read may change reachability."""
    if not action or action.startswith(("Describe", "Get")):
        return
    try:
        observe_all()
    except Exception:  # health bookkeeping must never break the call itself
        traceback.print_exc(file=sys.stderr)


def _seconds(tg: Any, count_attr: str) -> float:
    interval = _port(tg.health_check_interval_seconds, 30)
    count = _port(getattr(tg, count_attr), 5 if count_attr == "healthy_threshold_count" else 2)
    return interval * count * SETTINGS.time_scale


def state(tg: Any, entry: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """initial / healthy / unhealthy for a registered target of a group in use."""
    now = clock.now()
    start = max(entry.get("xapi_registered") or now, tg.__dict__.get("xapi_in_use_since") or now)
    up, down = _seconds(tg, "healthy_threshold_count"), _seconds(tg, "unhealthy_threshold_count")
    first = max(up, SETTINGS.wait("target_initial"))
    periods = list(entry.get("xapi_reach") or [])
    # The period in effect when checks started begins then; earlier ones never counted.
    while len(periods) > 1 and periods[1][0] <= start:
        periods.pop(0)
    if not periods:
        return INITIAL
    periods[0] = (start, periods[0][1])
    verdict = INITIAL
    for i, (since, ok) in enumerate(periods):
        confirmed = start + first if i == 0 else max(since + (up if ok else down), start + first)
        until = periods[i + 1][0] if i + 1 < len(periods) else float("inf")
        if confirmed <= now and confirmed < until:
            verdict = HEALTHY if ok else UNHEALTHY
    return verdict
