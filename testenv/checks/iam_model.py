"""What AWS permissions the operator's code needs, derived from `src/` (used by test_iam_policies.py).

1. `src/aws/{ec2,elbv2,apigateway,lambda}.rs`: each wrapper method (`fn name`) and the SDK
   fluent calls it makes (`self.client.<op>()` or `self.client().<op>()`, also through
   `self.<helper>()`), with what
   the call chain sends (tags, a resource policy).
2. `src/**/*.rs` outside `src/aws`: where each wrapper method is called and for which side
   (`sides.provider` / `sides.consumer`, a `let` that binds one, or the module's side below).
3. `src/aws/mod.rs` and `src/aws/assume.rs`: the STS fluent calls, made by the operator's own
   identity (sts:AssumeRole, and sts:TagSession when its chain sets tags).

Operation names come from botocore's service models: a snake_case call no model knows fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import botocore.session

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
POLICY_DIR = REPO / "docs" / "iam"

# Rust wrapper file -> (botocore service model, IAM action prefix).
SERVICES = {
    "ec2": ("ec2", "ec2"),
    "elbv2": ("elbv2", "elasticloadbalancing"),
    "apigateway": ("apigateway", "apigateway"),
    "lambda": ("lambda", "lambda"),
}
STS = ("sts", "sts")

# Side of the `side: &Side` parameter (and of client parameters such as probe.rs's `apigw`) in
# each reconcile module. The code does not say it mechanically: `Side` is one type for both;
# src/reconcile/mod.rs passes `&sides.provider` / `&sides.consumer` to each module's entry points,
# and `MODULE_SIDE_CALLERS` below checks this table against those calls.
MODULE_SIDE = {
    "reconcile/endpoint.rs": {"provider"},  # endpoint::step(&sides.provider, …)
    "reconcile/private_api.rs": {"provider"},  # private_api::…(&sides.provider, …)
    "reconcile/routes.rs": {"provider"},  # routes::retire(&sides.provider, …), release(p, …)
    "reconcile/load_balancer.rs": {"consumer"},  # load_balancer::ensure(&sides.consumer, …)
    "reconcile/vpc_link.rs": {"consumer"},  # vpc_link::step(&sides.consumer, …)
    "reconcile/regional_api.rs": {"consumer"},  # regional_api::…(&sides.consumer, …)
    "reconcile/probe.rs": {"consumer"},  # probe::run(&sides.consumer.clients.apigateway, …)
    # owned_rest_api / delete_extra_rest_apis / delete_rest_api_copies: called by
    # private_api.rs (provider) and regional_api.rs (consumer).
    "reconcile/mod.rs": {"provider", "consumer"},
}


def snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


@lru_cache(maxsize=None)
def service_model(name: str):
    return botocore.session.get_session().get_service_model(name)


@lru_cache(maxsize=None)
def operations_by_snake(service: str) -> dict[str, str]:
    return {snake(op): op for op in service_model(service).operation_names}


def http_of(service: str, op: str) -> tuple[str, str]:
    """(HTTP method, request URI without query) of an operation."""
    http = service_model(service).operation_model(op).http
    return http["method"], http["requestUri"].split("?")[0]


def apigateway_path(uri: str) -> str:
    """A request URI as a sample path: `{ids}` become `ID` (policies are matched against it)."""
    return re.sub(r"\{[^}]+\}", "ID", uri)


@dataclass
class Call:
    """One SDK operation call and what its fluent chain sends."""

    service: str  # key of SERVICES, or "sts"
    op: str  # botocore operation name
    sends_tags: bool = False
    sends_policy: bool = False


@dataclass
class Method:
    name: str
    calls: list[Call] = field(default_factory=list)
    helpers: set[str] = field(default_factory=set)


FN_RE = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?(?:async\s+)?fn\s+(\w+)", re.M)
# `.client.<op>()`, or `.client().<op>()` for a client built on first use.
SDK_CALL_RE = re.compile(r"\.\s*client\s*(?:\(\s*\))?\s*\.\s*([a-z_0-9]+)\s*\(\s*\)")
SELF_CALL_RE = re.compile(r"\bself\s*\.\s*([a-z_0-9]+)\s*\(")


def _chain(body: str, start: int) -> str:
    """The fluent chain from `start` to its `.send()` (or the end of the statement)."""
    end = body.find(".send()", start)
    semi = body.find(";", start)
    if end < 0 or (0 <= semi < end):
        end = semi if semi >= 0 else len(body)
    return body[start:end]


def parse_wrapper(path: Path, service: str) -> dict[str, Method]:
    text = path.read_text()
    text = text.split("#[cfg(test)]")[0]
    model = SERVICES[service][0]
    known = operations_by_snake(model)
    marks = list(FN_RE.finditer(text))
    methods: dict[str, Method] = {}
    for i, m in enumerate(marks):
        body = text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        meth = methods.setdefault(m.group(1), Method(m.group(1)))
        for c in SDK_CALL_RE.finditer(body):
            name = c.group(1)
            if name not in known:
                raise AssertionError(
                    f"{path}: `{name}()` is no operation of botocore's "
                    f"{model} model"
                )
            chain = _chain(body, c.end())
            meth.calls.append(
                Call(
                    service,
                    known[name],
                    sends_tags=bool(re.search(r"\.(set_)?(tags|tag_specifications)\s*\(", chain)),
                    sends_policy=bool(re.search(r"\.(set_)?policy\s*\(", chain)),
                )
            )
        meth.helpers |= {h for h in SELF_CALL_RE.findall(body) if h != m.group(1)}
    return methods


def resolved_calls(methods: dict[str, Method], name: str, seen=None) -> list[Call]:
    seen = seen or set()
    if name in seen or name not in methods:
        return []
    seen.add(name)
    out = list(methods[name].calls)
    for h in methods[name].helpers:
        out += resolved_calls(methods, h, seen)
    return out


@lru_cache(maxsize=None)
def wrappers() -> dict[str, dict[str, list[Call]]]:
    """service -> wrapper method -> SDK calls (only methods that call AWS)."""
    out = {}
    for service in SERVICES:
        methods = parse_wrapper(SRC / "aws" / f"{service}.rs", service)
        out[service] = {
            n: calls for n in methods if (calls := resolved_calls(methods, n))
        }
    return out


def _rust_files():
    for p in sorted(SRC.rglob("*.rs")):
        rel = p.relative_to(SRC).as_posix()
        if not rel.startswith("aws/"):
            yield rel, p.read_text().split("#[cfg(test)]")[0]


LET_RE = re.compile(r"\blet\s+(\w+)\s*=\s*&?\s*([\w\s.]+?)\s*;")
ROOT_RE = re.compile(r"([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*)*)\s*$")


WRAPPER_TYPES = {"ec2": "Ec2", "elbv2": "Elbv2", "apigateway": "ApiGateway", "lambda": "Lambda"}


def _resolve(root: str, chain: str, lets: dict[str, str], depth=0) -> tuple[str, list[str]]:
    """The root and chain of a receiver after `let` bindings (`let c = &sides.consumer;`)."""
    words = [w for w in re.split(r"\s*\.\s*", chain.strip(" .")) if w]
    if root in lets and depth < 5:
        m = ROOT_RE.search(lets[root])
        if m:
            return _resolve(m.group(1), m.group(2) + "." + ".".join(words), lets, depth + 1)
    return root, words


def _sides_of(root: str, words: list[str], module: str) -> set[str]:
    if root == "sides" and words and words[0] in ("provider", "consumer"):
        return {words[0]}
    if module not in MODULE_SIDE:
        raise AssertionError(f"src/{module}: calls AWS wrappers; add it to MODULE_SIDE")
    return MODULE_SIDE[module]


@dataclass
class Needed:
    """What one side calls: SDK calls (with where they are called from)."""

    calls: list[tuple[Call, str]] = field(default_factory=list)


def side_calls() -> dict[str, list[tuple[Call, str]]]:
    """side -> [(call, 'module: wrapper')] for provider and consumer."""
    by_name: dict[str, tuple[str, list[Call]]] = {}
    for service, meths in wrappers().items():
        for n, calls in meths.items():
            if n in by_name:
                raise AssertionError(f"wrapper method `{n}` in two services: resolve by receiver")
            by_name[n] = (service, calls)
    call_re = re.compile(r"\.\s*(" + "|".join(map(re.escape, by_name)) + r")\s*\(")
    out: dict[str, list] = {"provider": [], "consumer": []}
    for module, text in _rust_files():
        lets = {m.group(1): m.group(2) for m in LET_RE.finditer(text)}
        for m in call_re.finditer(text):
            before = text[: m.start()]
            cut = max(before.rfind(c) for c in ";{}(,")
            frag = before[cut + 1 :]
            r = ROOT_RE.search(frag)
            if not r:
                continue
            service, calls = by_name[m.group(1)]
            root, words = _resolve(r.group(1), r.group(2), lets)
            # Only receivers that are a wrapper client: `….clients.<service>` or a parameter
            # of the wrapper's type (probe.rs: `apigw: &ApiGateway`).
            typed = re.search(rf"\b{re.escape(root)}\s*:\s*&\s*(\w+::)*{WRAPPER_TYPES[service]}\b", text)
            if not (words[-2:] == ["clients", service] or typed):
                continue
            sides = _sides_of(root, words, module)
            args = text[m.end() : m.end() + 400].split(".await")[0]
            for side in sides:
                for c in calls:
                    c2 = Call(**vars(c))
                    # `create_rest_api(name, type, vpces, policy, …)`: a `Some(policy)` argument.
                    if c.op == "CreateRestApi" and "Some(" not in args:
                        c2.sends_policy = False
                    out[side].append((c2, f"src/{module}: {m.group(1)}"))
    return out


def module_side_callers() -> dict[str, set[str]]:
    """module -> sides src/reconcile/mod.rs and cleanup.rs pass it (`module::f(&sides.X` / `(p`)."""
    text = (SRC / "reconcile" / "mod.rs").read_text() + (SRC / "reconcile" / "cleanup.rs").read_text()
    out: dict[str, set[str]] = {}
    for mod, arg in re.findall(r"\b(\w+)::\w+\(\s*&?\s*((?:sides\s*\.\s*\w+)|\w+)", text):
        side = {"sides.provider": "provider", "p": "provider", "sides.consumer": "consumer", "c": "consumer"}.get(
            re.sub(r"\s", "", arg)
        )
        if side and (SRC / "reconcile" / f"{mod}.rs").exists():
            out.setdefault(f"reconcile/{mod}.rs", set()).add(side)
    return out


def patches_policy(module_texts=None) -> set[str]:
    """Sides whose modules patch a REST API's `/policy` (UpdateRestApi → UpdateRestApiPolicy)."""
    sides = set()
    for module, text in _rust_files():
        if re.search(r'replace\(\s*"/policy"', text):
            sides |= MODULE_SIDE.get(module, {"provider", "consumer"})
    return sides


def operator_calls() -> list[Call]:
    """STS calls of the operator's own credentials: fluent calls on an STS client in
    src/aws/mod.rs (the caller's identity) and src/aws/assume.rs (the sessions)."""
    known = operations_by_snake("sts")
    out = []
    for name in ("mod.rs", "assume.rs"):
        text = (SRC / "aws" / name).read_text().split("#[cfg(test)]")[0]
        for m in re.finditer(r"\bsts\s*\.\s*([a-z_]+)\s*\(\s*\)", text):
            if m.group(1) not in known:
                raise AssertionError(f"src/aws/{name}: `{m.group(1)}()` is no operation of botocore's sts model")
            chain = _chain(text, m.end())
            out.append(Call("sts", known[m.group(1)], sends_tags=bool(re.search(r"\.(set_)?tags\s*\(", chain))))
    return out


# --- policies ---------------------------------------------------------------------------------

PLACEHOLDERS = {
    "OPERATOR_ACCOUNT": "111111111111",
    "PROVIDER_ACCOUNT": "222222222222",
    "CONSUMER_ACCOUNT": "333333333333",
    "EXTERNAL_ID": "external-id",
    "TEAM_NAMESPACE": "team",
}


def load_policy(name: str, text: str | None = None) -> dict:
    text = text if text is not None else (POLICY_DIR / name).read_text()
    for k, v in PLACEHOLDERS.items():
        text = text.replace(k, v)
    return json.loads(text)


def as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def glob_match(pattern: str, value: str, case: bool = True) -> bool:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, 0 if case else re.I) is not None
