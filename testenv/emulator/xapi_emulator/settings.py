"""Runtime settings of the emulator: time scale, waits, quotas, faults.

One process-wide ``SETTINGS`` object, read by every patch and changed only
through :meth:`Settings.merge` (the control endpoint, env vars, CLI flags), so
a running emulator can be reconfigured without a restart.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from typing import Any

# Seconds at time_scale 1.0. Roughly AWS's order of magnitude, shortened so a
# demo does not wait minutes (AWS: endpoint ~1-2 min, NLB ~2-3 min, VPC link
# several minutes, deregistration delay 300 s).
DEFAULT_WAITS: dict[str, float] = {
    "vpc_endpoint_pending": 10.0,
    "vpc_endpoint_deleting": 5.0,
    "nlb_provisioning": 20.0,
    "vpc_link_pending": 30.0,
    "vpc_link_deleting": 5.0,
    "target_initial": 10.0,
    "target_draining": 10.0,
    # How long a new security group, VPC endpoint or network interface stays
    # invisible to other EC2 calls (AWS: "Eventual consistency in the Amazon
    # EC2 API", which gives no duration).
    "ec2_consistency": 2.0,
}

FAULT_SERVICES = ("ec2", "elasticloadbalancing", "apigateway", "sts")
FAULT_KINDS = ("error_rate", "throttle_rate", "drop_rate", "drop_after_rate")
# Per-service fault options next to the rates: ``operations`` (None = every
# operation, else a list of operation names) and ``limit`` (None = unlimited,
# else at most that many faults from the moment it is set).
FAULT_OPTIONS = ("operations", "limit")


class ConfigError(ValueError):
    """A setting the control endpoint refuses (answered with HTTP 400)."""


def _zero_faults() -> dict[str, dict[str, Any]]:
    return {svc: {**{k: 0.0 for k in FAULT_KINDS}, "operations": None, "limit": None} for svc in FAULT_SERVICES}


def _check_operations(svc: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(op, str) for op in value):
        raise ConfigError(f"faults.{svc}.operations must be null or a list of operation names")
    from .operations import known_operations

    known = known_operations(svc)
    unknown = [op for op in value if op not in known]
    if unknown:
        raise ConfigError(f"faults.{svc}.operations: unknown {svc} operation(s) {unknown}")
    return list(value)


def _check_latency(value: Any) -> dict[str, float]:
    """``{"service:Operation": seconds}``: each such answer is held that long (times the time
    scale) after AWS acted, as a slow CreateDeployment of a large API is."""
    if not isinstance(value, dict):
        raise ConfigError("latency must be an object of \"service:Operation\": seconds")
    from .operations import known_operations

    out: dict[str, float] = {}
    for name, secs in value.items():
        svc, _, op = str(name).partition(":")
        if svc not in FAULT_SERVICES or op not in known_operations(svc):
            raise ConfigError(f"latency: unknown operation {name!r} (service:Operation)")
        if not isinstance(secs, (int, float)) or isinstance(secs, bool) or secs < 0:
            raise ConfigError(f"latency {name!r} must be a number >= 0")
        out[name] = float(secs)
    return out


class Settings:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.time_scale = 1.0
        self.waits = dict(DEFAULT_WAITS)
        self.quotas = True
        self.faults = _zero_faults()
        # "service:Operation" -> seconds at time scale 1 an answer is held after AWS acted
        self.latency: dict[str, float] = {}
        # service -> how often ``limit`` was set; a new value restarts the budget
        self.fault_limit_generation = {svc: 0 for svc in FAULT_SERVICES}
        self._startup: dict[str, Any] = self.to_dict()
        self._listeners: list[Any] = []

    # -- reading ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "time_scale": self.time_scale,
            "waits": dict(self.waits),
            "quotas": self.quotas,
            "faults": copy.deepcopy(self.faults),
            "latency": dict(self.latency),
        }

    def wait(self, name: str) -> float:
        """Real seconds a named wait lasts now (configured value x time scale)."""
        return self.waits[name] * self.time_scale

    # -- changing --------------------------------------------------------
    def on_change(self, callback: Any) -> None:
        """Register ``callback(settings)``, run after every successful merge."""
        self._listeners.append(callback)

    def merge(self, patch: dict[str, Any]) -> dict[str, Any]:
        """Validate ``patch`` completely, then apply it (all or nothing)."""
        if not isinstance(patch, dict):
            raise ConfigError("config must be a JSON object")
        new = self.to_dict()
        limits_set: list[str] = []
        for key, value in patch.items():
            if key == "time_scale":
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                    raise ConfigError("time_scale must be a number > 0")
                new["time_scale"] = float(value)
            elif key == "waits":
                if not isinstance(value, dict):
                    raise ConfigError("waits must be an object")
                for name, secs in value.items():
                    if name not in DEFAULT_WAITS:
                        raise ConfigError(f"unknown wait {name!r}; known: {sorted(DEFAULT_WAITS)}")
                    if not isinstance(secs, (int, float)) or isinstance(secs, bool) or secs < 0:
                        raise ConfigError(f"wait {name!r} must be a number >= 0")
                    new["waits"][name] = float(secs)
            elif key == "quotas":
                if not isinstance(value, bool):
                    raise ConfigError("quotas must be true or false")
                new["quotas"] = value
            elif key == "faults":
                if not isinstance(value, dict):
                    raise ConfigError("faults must be an object")
                for svc, rates in value.items():
                    if svc not in FAULT_SERVICES:
                        raise ConfigError(f"unknown fault service {svc!r}; known: {list(FAULT_SERVICES)}")
                    if not isinstance(rates, dict):
                        raise ConfigError(f"faults.{svc} must be an object")
                    for kind, rate in rates.items():
                        if kind == "operations":
                            new["faults"][svc][kind] = _check_operations(svc, rate)
                            continue
                        if kind == "limit":
                            if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool) or rate < 0):
                                raise ConfigError(f"faults.{svc}.limit must be null or an integer >= 0")
                            new["faults"][svc][kind] = rate
                            limits_set.append(svc)
                            continue
                        if kind not in FAULT_KINDS:
                            raise ConfigError(
                                f"unknown fault setting {kind!r}; known: {list(FAULT_KINDS + FAULT_OPTIONS)}")
                        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
                            raise ConfigError(f"faults.{svc}.{kind} must be between 0 and 1")
                        new["faults"][svc][kind] = float(rate)
                    if sum(new["faults"][svc][k] for k in FAULT_KINDS) > 1.0 + 1e-9:
                        raise ConfigError(f"faults.{svc}: rates add up to more than 1")
            elif key == "latency":
                new["latency"] = _check_latency(value)
            else:
                raise ConfigError(f"unknown setting {key!r}")
        with self._lock:
            self.time_scale = new["time_scale"]
            self.waits = new["waits"]
            self.quotas = new["quotas"]
            self.faults = new["faults"]
            self.latency = new["latency"]
            for svc in limits_set:
                self.fault_limit_generation[svc] += 1
        for callback in self._listeners:
            callback(self)
        return self.to_dict()

    def mark_startup(self) -> None:
        """Remember the current values as what ``reset`` returns to."""
        self._startup = self.to_dict()

    def reset(self) -> dict[str, Any]:
        return self.merge(copy.deepcopy(self._startup))

    # -- env -------------------------------------------------------------
    def load_env(self, environ: dict[str, str] | None = None) -> None:
        """Apply ``XAPI_EMU_*`` environment variables.

        XAPI_EMU_TIME_SCALE=0.1, XAPI_EMU_QUOTAS=0|1,
        XAPI_EMU_WAIT_<NAME>=seconds (e.g. XAPI_EMU_WAIT_NLB_PROVISIONING=5),
        XAPI_EMU_CONFIG='<json merged like POST /_xapi/config>'.
        """
        env = os.environ if environ is None else environ
        patch: dict[str, Any] = {}
        if "XAPI_EMU_CONFIG" in env:
            patch = json.loads(env["XAPI_EMU_CONFIG"])
        if "XAPI_EMU_TIME_SCALE" in env:
            patch["time_scale"] = float(env["XAPI_EMU_TIME_SCALE"])
        if "XAPI_EMU_QUOTAS" in env:
            patch["quotas"] = env["XAPI_EMU_QUOTAS"].strip().lower() in ("1", "true", "on", "yes")
        for name in DEFAULT_WAITS:
            var = "XAPI_EMU_WAIT_" + name.upper()
            if var in env:
                patch.setdefault("waits", {})[name] = float(env[var])
        if patch:
            self.merge(patch)


SETTINGS = Settings()
