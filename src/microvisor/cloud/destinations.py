"""Where the service may connect on a device's behalf (HTTP requests, MQTT brokers), and at which address.

A device names a host; the service resolves it once and connects to that very address (no second lookup
that a hostile DNS could answer differently). Refused unless the server allows it:
- an address that is not globally routable (loopback, private, link-local, …): `allow_private`;
- a host the account's allow-list leaves out: the account config `ALLOW_KEY`, a comma-separated list of
  host names ("api.example.com"), wildcards ("*.example.com") and either with ":port"; no such config
  means any public host.
`resolve` maps "host:port" to an address first, as curl's --resolve does (for tests and demos; empty by
default).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from dataclasses import dataclass, field

ALLOW_KEY = "microvisor-destinations"  # the account config holding the allow-list


class DestinationRefused(Exception):
    """The service will not connect there; the message says why."""


class Unresolvable(DestinationRefused):
    """The host name does not resolve."""


@dataclass(frozen=True)
class Destinations:
    resolve: dict[tuple[str, int], str] = field(default_factory=dict)  # (host, port) -> address
    allow_private: bool = False

    @staticmethod
    def parse_resolve(entries: tuple[str, ...] | list[str]) -> dict[tuple[str, int], str]:
        """"HOST:PORT:ADDRESS" entries as a map; ValueError naming a bad one."""
        found = {}
        for entry in entries:
            host, _, rest = entry.partition(":")
            port, _, address = rest.partition(":")
            try:
                ipaddress.ip_address(address.strip("[]"))
                if not host or not port.isdigit() or not 0 < int(port) < 65536:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{entry!r} is not HOST:PORT:ADDRESS") from None
            found[(host.lower(), int(port))] = address.strip("[]")
        return found

    def address(self, host: str, port: int, allow_list: str | None) -> str:
        """The address to connect to for host:port, or DestinationRefused."""
        host = host.lower().rstrip(".")
        if not host or len(host) > 253:
            raise DestinationRefused("the destination has no host name")
        if allow_list and not allowed(host, port, allow_list):
            raise DestinationRefused(f"{host}:{port} is not in the account's allowed destinations")
        address = self.resolve.get((host, port))
        if address is None:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                raise Unresolvable(f"{host} does not resolve") from None
            address = str(infos[0][4][0])
        ip = ipaddress.ip_address(address)
        if not ip.is_global and not self.allow_private:
            raise DestinationRefused(f"{host} is at {address}, a private or loopback address")
        return address


def allowed(host: str, port: int, allow_list: str) -> bool:
    """Whether host:port matches an entry of a comma-separated allow-list."""
    for entry in (item.strip().lower() for item in allow_list.split(",")):
        pattern, _, only_port = entry.partition(":")
        if pattern and fnmatch.fnmatchcase(host, pattern) and (not only_port or only_port == str(port)):
            return True
    return False
