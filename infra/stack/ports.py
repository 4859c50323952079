"""Addresses and ports of the services on this machine.

`port_open` reads the kernel's socket table for loopback addresses instead of connecting: a
probe connection that sends nothing makes some servers (ClickHouse) log a warning and some
clients (clickhouse-driver) log a traceback.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from pathlib import Path

_TCP_LISTEN = "0A"  # the socket state column of /proc/net/tcp
_LOWEST_FREE_PORT = 10_000
_DEFAULT_EPHEMERAL_LOW = 32_768  # Linux's default ip_local_port_range starts here


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


def free_port(pair: bool = False) -> int:
    """A loopback port nothing listens on, for a service or test started next.

    With `pair`, port + 1 is free too (Kafka's controller and ClickHouse's HTTP port live
    there). The port comes from below the kernel's ephemeral range: a port the kernel hands
    out for `bind(0)` can be taken by any outgoing connection before the service binds it
    (a ClickHouse start in CI once failed that way on its HTTP port).
    """
    high = _ephemeral_low() - 2
    listening = _listening_ports() or set()
    for _ in range(500):
        port = random.randint(_LOWEST_FREE_PORT, high)
        wanted = (port, port + 1) if pair else (port,)
        if not listening.intersection(wanted) and all(map(_bindable, wanted)):
            return port
    raise RuntimeError(f"no free loopback port {'pair ' if pair else ''}below {high}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_LOW
    return max(low, _LOWEST_FREE_PORT + 100)


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
