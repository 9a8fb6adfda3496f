"""Server-side request forgery guard for the live fetch of ``POST /v1/predict``.

Rules (refused → :class:`UrlNotAllowed`, which the app answers with 400 ``url_not_allowed``):

- only ``http`` and ``https``;
- the host is parsed the way browsers parse it: a host whose last label is a number is an IPv4 address in any of
  the decimal / octal / hex / short forms (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``);
- names are resolved, and *every* address they resolve to must be global: loopback, private, link-local (incl.
  169.254.169.254), CGNAT 100.64/10, unspecified, multicast, reserved, IPv4-mapped IPv6 and 6to4/Teredo wrapping
  a non-global IPv4 address are refused;
- the check returns the address it approved, and the fetcher connects to that address (pinning), so a second DNS
  answer cannot point the connection elsewhere. Every redirect hop is checked again.

``allow_private`` lifts the address rules (intranets, tests); ``allow_networks`` allows named CIDR ranges only.

Behind a proxy (``[serve] proxy`` or ``[crawl] proxy``) the same rules hold: names are resolved and checked here,
and the proxy is asked for a ``CONNECT IP:port`` tunnel to the approved *address* (for http as for https; the name
travels inside the tunnel, in ``Host`` and TLS SNI), never given a name it could resolve differently. The proxy
must allow CONNECT to the sites' ports (Squid allows only 443 by default: add 80 to ``SSL_ports``). A name that
does not resolve here is a ``dns_error``, unless ``[serve] proxy_resolves = true`` says only the proxy can resolve
names: such names are then handed to the proxy as names (``GET http://name/…``, ``CONNECT name:443``) unchecked,
and the proxy is responsible for refusing private addresses (a name that *does* resolve here is still refused
when any of its addresses is non-global). With ``allow_private`` and a proxy, names go to the proxy as they are
(there is nothing left to check; the proxy resolves them).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from siteclass.errors import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UrlNotAllowed(InputError):
    """The URL (or a redirect hop) points somewhere the server must not connect to."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"{detail}: {url}")
        self.url = url
        self.detail = detail


class ResolutionError(OSError):
    """The host name did not resolve (the site's status becomes ``dns_error``)."""


@dataclass(frozen=True)
class Target:
    """An approved hop: connect to ``ip``:``port`` and speak to ``host``."""

    url: str
    scheme: str
    host: str
    port: int
    ip: str | None  # None only when the proxy resolves the name (proxy_resolves, or allow_private)
    path: str  # path + query, at least "/"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


# ----------------------------------------------------------------------------------------------- host parsing
def _ipv4_number(part: str) -> int | None:
    """One WHATWG IPv4 part (decimal, 0-octal, 0x-hex) → int, or None when it is not a number."""
    if part == "":
        return None
    base = 10
    if part[:2].lower() == "0x":
        part, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, base = part[1:], 8
    if part == "":
        return 0
    try:
        return int(part, base)
    except ValueError:
        return None


def parse_ipv4_host(host: str, url: str = "") -> ipaddress.IPv4Address | None:
    """The IPv4 address a host stands for in any browser-accepted form, or None when the host is a name.

    A host whose last label is numeric must be a valid IPv4 address (the WHATWG URL rule); otherwise it is
    refused rather than resolved, so no resolver gets to interpret it differently.
    """
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]
    last = labels[-1] if labels else ""
    hexdigits = set("0123456789abcdefABCDEF")
    ends_in_number = last.isdigit() or (last[:2].lower() == "0x" and set(last[2:]) <= hexdigits)
    if not ends_in_number:
        return None
    numbers = [_ipv4_number(p) for p in labels]
    if len(numbers) > 4 or any(n is None for n in numbers):
        raise UrlNotAllowed(url or host, f"host {host!r} is neither a host name nor a valid IPv4 address")
    nums = [int(n) for n in numbers if n is not None]
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 256 ** (5 - len(nums)):
        raise UrlNotAllowed(url or host, f"host {host!r} is not a valid IPv4 address")
    value = nums[-1]
    for i, n in enumerate(nums[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def address_problem(ip: IPAddress) -> str | None:
    """Why *ip* must not be contacted from the server, or None when it is a global unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"{ip} is an IPv4-mapped IPv6 address"
        for embedded in (ip.sixtofour, ip.teredo[1] if ip.teredo else None):
            if embedded is not None and address_problem(embedded):
                return f"{ip} wraps the non-global IPv4 address {embedded}"
        if ip.is_site_local:
            return f"{ip} is a site-local address"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("carrier-grade NAT", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-global", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return f"{ip} is a {name} address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ResolutionError(f"{host} does not resolve: {exc.strerror}") from exc
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0]).split("%", 1)[0]
        if addr not in seen:
            seen.append(addr)
    return seen


# ----------------------------------------------------------------------------------------------- guard
class UrlGuard:
    """Checks every hop before a connection; see the module docstring."""

    def __init__(
        self,
        allow_private: bool = False,
        allow_networks: Sequence[str] = (),
        resolver: Resolver | None = None,
        dns_timeout_s: float = 10.0,
        proxied: bool = False,
        proxy_resolves: bool = False,
    ) -> None:
        self.allow_private = allow_private
        self.allow_networks = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
        self.resolver: Resolver = resolver or system_resolver
        self.dns_timeout_s = dns_timeout_s
        self.proxied = proxied
        self.proxy_resolves = proxied and proxy_resolves

    @classmethod
    def from_settings(cls, serve: object, crawl: object, resolver: Resolver | None = None) -> UrlGuard:
        return cls(
            allow_private=bool(getattr(serve, "allow_private", False)),
            allow_networks=list(getattr(serve, "allow_networks", []) or []),
            resolver=resolver,
            dns_timeout_s=float(getattr(crawl, "dns_timeout_s", 10.0)),
            proxied=bool(getattr(serve, "proxy", None) or getattr(crawl, "proxy", None)),
            proxy_resolves=bool(getattr(serve, "proxy_resolves", False)),
        )

    def _allowed(self, ip: IPAddress) -> str | None:
        if self.allow_private or any(ip in net for net in self.allow_networks):
            return None
        return address_problem(ip)

    def _parse(self, url: str) -> tuple[str, str, int, str, IPAddress | None]:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UrlNotAllowed(url, f"invalid URL ({exc})") from exc
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise UrlNotAllowed(url, f"scheme {scheme or '(none)'!r} is not allowed; only http and https")
        if parts.username or parts.password:
            raise UrlNotAllowed(url, "credentials in URLs are not allowed")
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise UrlNotAllowed(url, "the URL has no host")
        if not host.isascii():  # internationalised name → the ASCII form DNS, Host and SNI use
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise UrlNotAllowed(url, f"host {host!r} is not a valid host name") from exc
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        literal: IPAddress | None
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = parse_ipv4_host(host, url)
        if literal is not None:
            problem = self._allowed(literal)
            if problem:
                raise UrlNotAllowed(url, f"address not allowed ({problem})")
        return scheme, host, port or (443 if scheme == "https" else 80), path, literal

    def precheck(self, url: str) -> None:
        """The checks that need no DNS (scheme, credentials, IP literals in every form); raises UrlNotAllowed."""
        self._parse(url)

    async def check(self, url: str, pins: dict[str, list[str]] | None = None) -> Target:
        """Approve *url* (one hop) and return where to connect, or raise UrlNotAllowed / ResolutionError.

        *pins* (host → addresses) holds the answers already checked during one site fetch: a host is resolved
        once per fetch and every later hop to it connects to the same checked address.
        """
        scheme, host, port, path, literal = self._parse(url)
        if literal is not None:
            return Target(url, scheme, str(literal), port, str(literal), path)
        if pins is not None and host in pins:
            return Target(url, scheme, host, port, pins[host][0], path)
        if self.proxied and self.allow_private:  # nothing to check: the proxy resolves the name
            return Target(url, scheme, host, port, None, path)
        try:
            async with asyncio.timeout(self.dns_timeout_s):
                addresses = await self.resolver(host, port)
        except (ResolutionError, TimeoutError) as exc:
            if self.proxy_resolves:  # the operator says only the proxy can resolve names; it filters them
                return Target(url, scheme, host, port, None, path)
            reason = str(exc) if isinstance(exc, ResolutionError) else (
                f"{host} did not resolve within {self.dns_timeout_s:g} s")
            if self.proxied:
                reason += (" (the proxy is sent the checked address, so names must resolve here; set [serve]"
                           " proxy_resolves = true if only the proxy can resolve them: the proxy must then refuse"
                           " private addresses itself)")
            raise ResolutionError(reason) from exc
        if not addresses:
            raise ResolutionError(f"{host} resolved to no address")
        ips = [ipaddress.ip_address(a) for a in addresses]
        for ip in ips:
            problem = self._allowed(ip)
            if problem:
                raise UrlNotAllowed(url, f"{host} resolves to a non-public address ({problem})")
        if self.proxy_resolves:  # checked here as a second line of defence; the proxy's own answer is used
            return Target(url, scheme, host, port, None, path)
        if pins is not None:
            pins[host] = [str(ip) for ip in ips]
        return Target(url, scheme, host, port, str(ips[0]), path)
