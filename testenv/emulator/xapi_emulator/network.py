"""Whether a Network Load Balancer can reach an IP target.

The operator registers the provider endpoint's ENI addresses in a consumer
target group; traffic only flows if the two VPCs are connected and the
endpoint's security groups let the NLB in. The emulator decides that from the
EC2 state of every account, the way the VPC documentation describes it:

* some ENI (in any account) holds the address;
* outside the NLB's VPC: the route table of every NLB subnet (its explicit
  association, else the VPC's main table) sends the address, by longest
  prefix, over an *active* VPC peering connection between the NLB's VPC and
  the ENI's VPC, and the ENI subnet's table sends every NLB subnet CIDR back
  over the same peering connection ("Update your route tables for a VPC
  peering connection");
* the ENI's security groups allow inbound TCP on the port from every NLB
  subnet's CIDR (an IPv4 range that contains it; a group reference counts
  only for one of the NLB's own groups in the same account);
* an NLB with security groups must allow outbound TCP to the address.

Not evaluated: network ACLs, prefix lists, Transit Gateways, IPv6.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable

from moto.ec2.models import ec2_backends

Network = ipaddress.IPv4Network


def _net(cidr: str | None) -> Network | None:
    try:
        return ipaddress.IPv4Network(cidr) if cidr else None
    except ValueError:
        return None


def enis_by_ip() -> dict[str, list[Any]]:
    """Every ENI of every account and region, by each address it holds."""
    index: dict[str, list[Any]] = {}
    for _account, _region, backend in ec2_backends.iter_backends():
        for eni in list(getattr(backend, "enis", {}).values()):
            addresses = {a.get("PrivateIpAddress") for a in eni.private_ip_addresses if isinstance(a, dict)}
            addresses.add(eni.private_ip_address)
            for ip in addresses:
                if ip:
                    index.setdefault(ip, []).append(eni)
    return index


def enis_with_ip(ip: str) -> list[Any]:
    """Every ENI of every account and region that holds ``ip``."""
    return enis_by_ip().get(ip, [])


def route_table_of(subnet: Any) -> Any | None:
    """The subnet's explicitly associated route table, else its VPC's main one."""
    tables = list(subnet.ec2_backend.route_tables.values())
    for table in tables:
        if subnet.id in table._associations.values():
            return table
    return next((t for t in tables if t.vpc_id == subnet.vpc_id and t.main_association_id is not None), None)


def _best_route(table: Any, destination: Network) -> Any | None:
    """Longest-prefix route whose destination contains ``destination``."""
    best, best_len = None, -1
    for route in table.routes if table is not None else []:
        net = _net(route.destination_cidr_block)
        if net is not None and destination.subnet_of(net) and net.prefixlen > best_len:
            best, best_len = route, net.prefixlen
    return best


def _peering_between(route: Any, vpc_a: str, vpc_b: str) -> Any | None:
    pcx = getattr(route, "vpc_pcx", None) if route is not None else None
    if pcx is None or pcx.status.get("Code") != "active":
        return None
    return pcx if {pcx.vpc.id, pcx.peer_vpc.id} == {vpc_a, vpc_b} else None


def routed(lb_subnets: list[Any], eni: Any) -> bool:
    """Both directions routed over one active peering connection."""
    target = ipaddress.IPv4Network(f"{eni.private_ip_address}/32")
    back_table = route_table_of(eni.subnet)
    for subnet in lb_subnets:
        out = _peering_between(_best_route(route_table_of(subnet), target), subnet.vpc_id, eni.subnet.vpc_id)
        if out is None:
            return False
        back = _best_route(back_table, _net(subnet.cidr_block))
        if getattr(back, "vpc_pcx", None) is not out:
            return False
    return True


def _covers_port(rule: Any, port: int) -> bool:
    if rule.ip_protocol == "-1":
        return True
    if rule.ip_protocol not in ("tcp", "6"):
        return False
    return rule.from_port is not None and rule.from_port <= port <= rule.to_port


def _rule_admits(rule: Any, source: Network, port: int, own_groups: set[str]) -> bool:
    if not _covers_port(rule, port):
        return False
    net = _net((rule.ip_range or {}).get("CidrIp"))
    if net is not None and source.subnet_of(net):
        return True
    group = (rule.source_group or {}).get("GroupId")
    return bool(group) and group in own_groups


def ingress_allows(eni: Any, sources: Iterable[Network], port: int, own_groups: set[str]) -> bool:
    """Every source CIDR is let in on ``port`` by one of the ENI's groups."""
    rules = [r for g in eni.group_set for r in g.ingress_rules]
    return all(any(_rule_admits(r, src, port, own_groups) for r in rules) for src in sources)


def _egress_allows(lb: Any, ip: str, port: int) -> bool:
    backend = lb.subnets[0].ec2_backend if lb.subnets else None
    if backend is None:
        return False
    target = ipaddress.IPv4Network(f"{ip}/32")
    for group_id in lb.security_groups:
        group = backend.get_security_group_from_id(group_id)
        for rule in group.egress_rules if group else []:
            net = _net((rule.ip_range or {}).get("CidrIp"))
            if _covers_port(rule, port) and net is not None and target.subnet_of(net):
                return True
    return False


def reached_eni(lb: Any, ip: str, port: int, enis: dict[str, list[Any]] | None = None) -> Any | None:
    """The ENI a TCP connection from ``lb`` to ``ip:port`` arrives at, or None. ``enis``: an
    index from :func:`enis_by_ip` for many such questions about one state."""
    subnets = list(lb.subnets or [])
    if not subnets:
        return None
    sources = [n for n in (_net(s.cidr_block) for s in subnets) if n is not None]
    lb_account = subnets[0].ec2_backend.account_id
    # Group references only count within the NLB's own account.
    for eni in enis.get(ip, []) if enis is not None else enis_with_ip(ip):
        if eni.subnet is None:
            continue
        same_vpc = eni.subnet.vpc_id == lb.vpc_id
        if not same_vpc and not routed(subnets, eni):
            continue
        own = set(lb.security_groups or []) if eni.ec2_backend.account_id == lb_account else set()
        if not ingress_allows(eni, sources, port, own):
            continue
        if lb.security_groups and not _egress_allows(lb, ip, port):
            continue
        return eni
    return None
