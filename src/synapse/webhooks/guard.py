"""The SSRF guard: a webhook URL may only reach public addresses (unless the settings allow
private ones). Checked when a hook is made and again right before each POST, which then
connects to the very address that was checked (DNS may have changed in between)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from synapse.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SCHEMES = {"http": 80, "https": 443}
MAX_URL = 2000


@dataclass(frozen=True)
class Target:
    """A URL taken apart, with the address the POST must connect to."""

    scheme: str
    host: str  # as written (a name, or an address without brackets)
    port: int
    path: str  # path and query
    username: str | None
    password: str | None
    address: IPAddress

    def connect_url(self) -> str:
        """The URL with the checked address in place of the name (Host and SNI keep the name)."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


def refusal(address: IPAddress) -> str | None:
    """Why an address may not be reached by a webhook, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return refusal(address.ipv4_mapped)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not globally reachable", not address.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def redacted(url: str) -> str:
    """The URL without its credentials, for logs, listings and errors."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    if parts.username is None and parts.password is None:
        return url
    netloc = "***@" + parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc))


def parse(url: str) -> SplitResult:
    """The URL's parts, or InvalidInput saying what is wrong with it."""
    if len(url) > MAX_URL:
        raise InvalidInput(f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as exc:
        raise InvalidInput(f"not a valid URL: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise InvalidInput("the URL must start with http:// or https://")
    if not parts.hostname:
        raise InvalidInput("the URL has no host")
    if parts.fragment:
        raise InvalidInput("the URL may not have a #fragment")
    return parts


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host name resolves to (an address resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.split("%", 1)[0])]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # unknown name, bad label, NUL byte
        raise InvalidInput(f"the host {host!r} cannot be resolved: {exc}") from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise InvalidInput(f"the host {host!r} resolves to no address")
    return found


def check(url: str, *, allow_private: bool) -> Target:
    """Resolve the URL's host and refuse it when any of its addresses is not public.

    Every address must pass, not just the first: a name that answers both a public and a
    private address would otherwise reach the private one on a later connection.
    """
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or SCHEMES[parts.scheme]
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            why = refusal(address)
            if why:
                raise InvalidInput(
                    f"the URL's host {host} resolves to {address}, a {why} address; webhooks "
                    "only reach public addresses (SYNAPSE_WEBHOOK_ALLOW_PRIVATE=true allows "
                    "private ones)"
                )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port,
        path=path,
        username=parts.username,
        password=parts.password,
        address=addresses[0],
    )
