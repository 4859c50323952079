"""Addresses and ports of the services on this machine.

`port_open` reads the kernel's socket table for loopback addresses instead of connecting: a
probe connection that sends nothing makes some servers (ClickHouse) log a warning and some
clients (clickhouse-driver) log a traceback.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

_TCP_LISTEN = "0A"  # the socket state column of /proc/net/tcp


def is_loopback(host: str) -> bool:
    """True for hosts the local stack can serve (it only ever starts services on this machine).

    >>> [is_loopback(h) for h in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "kafka")]
    [True, True, True, True, False]
    """
    if host.lower() in ("localhost", ""):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def bind_host(host: str) -> str:
    """The address a local service listens on for clients configured with `host`.

    `localhost` becomes 127.0.0.1 so what a service advertises never depends on how the
    resolver orders ::1 and 127.0.0.1.
    """
    return "127.0.0.1" if host.lower() in ("localhost", "0.0.0.0", "") else host


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    if is_loopback(host):
        listening = _listening_ports()
        if listening is not None:
            return port in listening
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _listening_ports() -> set[int] | None:
    """Ports with a TCP listener reachable over loopback, from /proc; None without /proc."""
    ports: set[int] = set()
    tables = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        tables += 1
        for row in rows:
            fields = row.split()
            address, _, port = fields[1].partition(":")
            if fields[3] == _TCP_LISTEN and _serves_loopback(_decode_address(address)):
                ports.add(int(port, 16))
    return ports if tables else None


def _decode_address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # /proc/net/tcp{,6} print an address as 32-bit words, each in host (little-endian) order.
    raw = bytes.fromhex(hex_address)
    return ipaddress.ip_address(b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4)))


def _serves_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified
