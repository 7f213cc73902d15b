"""API Gateway control-plane quotas, per account and region.

AWS publishes fixed (non-adjustable) limits: 10 requests/s with a burst of 40
across all control-plane calls, and stricter ones for a few operations
("Amazon API Gateway quotas", table "API Gateway quotas for creating,
deploying and managing an API"). Each
is a token bucket; a request needs a token from the account-wide bucket and,
for the listed operations, from the operation's bucket. Refill periods are
multiplied by the time scale, like every wait in the emulator. A refused
request gets AWS's 429 TooManyRequestsException with a Retry-After header.
"""

from __future__ import annotations

import math
import threading
from typing import Callable, Iterable

from . import clock
from .errors import error_response
from .request_info import RequestInfo
from .settings import SETTINGS

# name -> (tokens per period, period seconds at time scale 1, burst)
GLOBAL_QUOTA = (10, 1.0, 40)
OPERATION_QUOTAS = {
    "CreateDeployment": (1, 5.0, 1),
    "CreateRestApi": (1, 3.0, 1),
    "DeleteRestApi": (1, 30.0, 1),
    # "5 requests every 2 seconds": five at once, then refilled over 2 s.
    "GetResources": (5, 2.0, 5),
    "CreateResource": (5, 1.0, 5),
    "DeleteResource": (5, 1.0, 5),
}


class TokenBucket:
    def __init__(self, tokens: int, period: float, burst: int) -> None:
        self.rate = tokens / period  # tokens per second at time scale 1
        self.burst = burst
        self.level = float(burst)
        self.updated = clock.now()

    def take(self) -> float:
        """Take one token; return 0 on success, else seconds until one is due."""
        rate = self.rate / SETTINGS.time_scale
        t = clock.now()
        self.level = min(self.burst, self.level + (t - self.updated) * rate)
        self.updated = t
        if self.level >= 1:
            self.level -= 1
            return 0.0
        return (1 - self.level) / rate


_buckets: dict[tuple[str, str, str], TokenBucket] = {}
_lock = threading.Lock()


def reset() -> None:
    with _lock:
        _buckets.clear()


def _bucket(account: str, region: str, name: str, spec: tuple[int, float, int]) -> TokenBucket:
    key = (account, region, name)
    if key not in _buckets:
        _buckets[key] = TokenBucket(*spec)
    return _buckets[key]


def check(info: RequestInfo, start_response: Callable) -> Iterable[bytes] | None:
    if info.service != "apigateway" or not SETTINGS.quotas:
        return None
    account = info.account
    with _lock:
        wait = _bucket(account, info.region, "*", GLOBAL_QUOTA).take()
        if not wait and info.operation in OPERATION_QUOTAS:
            wait = _bucket(account, info.region, info.operation, OPERATION_QUOTAS[info.operation]).take()
    if not wait:
        return None
    return error_response(
        start_response, "apigateway", 429, "TooManyRequestsException", "Too Many Requests",
        {"Retry-After": str(max(1, math.ceil(wait)))},
    )


_last_scale = [SETTINGS.time_scale]


def _on_settings_change(settings: object) -> None:
    """A new time scale changes every refill rate: start from full buckets."""
    if SETTINGS.time_scale != _last_scale[0]:
        _last_scale[0] = SETTINGS.time_scale
        reset()


SETTINGS.on_change(_on_settings_change)
