"""Who the client is when a reverse proxy of ours stands between it and us.

Behind a proxy every TCP peer is the proxy, so per-source throttling would lock out everyone at once (or no one).
When the peer is a trusted proxy (``XOPS_TRUSTED_PROXIES``: IPs/CIDRs, none by default), the header the proxies
set (``XOPS_TRUSTED_PROXY_HEADER``: ``X-Forwarded-For``, or RFC 7239 ``Forwarded``) is walked from the right:
each hop a trusted proxy vouches for is skipped, and the first address that is not a trusted proxy is the client.
Entries left of it were written by the client itself and are never believed. A peer that is not trusted is the
client whatever its headers say. A malformed entry met on the walk ends it at the peer; nothing here raises on
request input. Only the chosen header is read: a proxy passes the other one through from the client unchanged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_HOPS = 32  # a longer chain of trusted hops is not a deployment, it is someone probing: the peer it is


class ProxyHeader(StrEnum):
    X_FORWARDED_FOR = "x-forwarded-for"
    FORWARDED = "forwarded"


class ProxySettings(Protocol):
    @property
    def trusted_proxies(self) -> str: ...

    @property
    def trusted_proxy_header(self) -> str: ...


def parse_address(text: str) -> IPAddress | None:
    """``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``, ``[2001:db8::1]:80`` (zone dropped, IPv4-mapped → IPv4);
    anything else → None."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1 :] if end > 0 else ""
        if end < 0 or (rest and not _is_port(rest)):
            return None
        host = text[1:end]
    elif text.count(":") == 1:
        host, port = text.split(":")
        if not _is_port(":" + port):
            return None
    else:
        host = text
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_port(text: str) -> bool:
    return text.startswith(":") and 0 < len(text) <= 6 and text[1:].isascii() and text[1:].isdigit()


def _split_outside_quotes(text: str, separator: str) -> list[str] | None:
    """Split on ``separator`` where it is not inside a quoted-string; None when a quote never closes."""
    parts: list[str] = []
    start, quoted, escaped = 0, False, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == separator and not quoted:
            parts.append(text[start:i])
            start = i + 1
    if quoted:
        return None
    parts.append(text[start:])
    return parts


def _forwarded_for(element: str) -> str | None:
    """The ``for=`` value of one RFC 7239 forwarded-element (unquoted), or None when it has none or is malformed."""
    pairs = _split_outside_quotes(element, ";")
    for pair in pairs or ():
        name, eq, value = pair.partition("=")
        if not eq:
            return None
        if name.strip().lower() != "for":
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return value
    return None


def _hops(header: ProxyHeader, values: Iterable[str]) -> list[str | None]:
    """The header's hops, left (first client) to right (last proxy); None for an element that cannot be read."""
    hops: list[str | None] = []
    for value in values:
        if header is ProxyHeader.X_FORWARDED_FOR:
            hops.extend(v.strip().strip('"') for v in value.split(",") if v.strip())
            continue
        elements = _split_outside_quotes(value, ",")
        if elements is None:  # an unclosed quote: which commas separate hops is unknowable
            hops.append(None)
            continue
        hops.extend(_forwarded_for(e) for e in elements if e.strip())
    return hops


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[IPNetwork, ...] = ()
    header: ProxyHeader = ProxyHeader.X_FORWARDED_FOR

    @classmethod
    def parse(cls, text: str, header: str | ProxyHeader = ProxyHeader.X_FORWARDED_FOR) -> TrustedProxies:
        """``"10.0.0.5, 127.0.0.1, 192.168.0.0/16, ::1"``. A bad entry is a configuration error (ValueError)."""
        networks: list[IPNetwork] = []
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(
                    f"XOPS_TRUSTED_PROXIES: {item!r} is not an IP address or network (CIDR)"
                ) from None
        try:
            chosen = ProxyHeader(str(header).strip().lower())
        except ValueError:
            raise ValueError(
                f"XOPS_TRUSTED_PROXY_HEADER: {header!r} is neither x-forwarded-for nor forwarded"
            ) from None
        return cls(tuple(networks), chosen)

    @classmethod
    def from_settings(cls, settings: ProxySettings) -> TrustedProxies:
        return cls.parse(settings.trusted_proxies, settings.trusted_proxy_header)

    @property
    def enabled(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def client(self, peer: str | None, values: Sequence[str]) -> str:
        """The client's address: ``peer`` is the TCP peer's address, ``values`` the lines of the proxy header in
        the order received. Canonical text (``2001:db8::1``, IPv4-mapped as IPv4) whenever a header is used."""
        peer_text = peer or "?"
        peer_ip = parse_address(peer_text) if peer else None
        if peer_ip is None or not self.trusts(peer_ip) or not values:
            return peer_text
        client: IPAddress = peer_ip
        for steps, hop in enumerate(reversed(_hops(self.header, values))):
            address = parse_address(hop) if hop is not None and steps < MAX_HOPS else None
            if address is None:
                return peer_text
            client = address
            if not self.trusts(address):
                break
        return str(client)  # the first untrusted hop; else the leftmost (every hop was one of our proxies)
