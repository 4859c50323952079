"""What a bench run cost the whole machine: CPU by process role, and Kafka records.

On two cores the broker, Redis, ClickHouse and the producing bench share the CPU with the
workers, so a lead's cost is all of it, not the worker's share alone: the machine's busy
time over the leads it processed bounds what any number of workers can reach
(`ceiling_leads_per_s`).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from infra.ops.lag import KafkaOffsets

_CLK_TCK = os.sysconf("SC_CLK_TCK")
# Role → what its command line contains (the services as `aiqleads up` or Debian run them).
SERVICES = (("kafka", "kafka.Kafka"), ("redis", "redis-server"), ("clickhouse", "clickhouse"))
ROLES = ("workers", "kafka", "redis", "clickhouse", "bench", "other")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds every core spent on anything but idling or waiting for I/O, so far."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def _role(pid: int, workers: Collection[int]) -> str | None:
    if pid in workers:
        return "workers"
    if pid == os.getpid():
        return "bench"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    for role, marker in SERVICES:
        if marker.encode() in command:
            return role
    return None


@dataclass(frozen=True)
class CpuSnapshot:
    by_role: dict[str, float]  # CPU seconds so far of the processes of each role
    machine: float  # busy CPU seconds of the whole machine so far


def cpu_snapshot(workers: Collection[int]) -> CpuSnapshot:
    by_role = dict.fromkeys(ROLES[:-1], 0.0)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            role = _role(int(entry), workers)
            if role is not None:
                by_role[role] += cpu_seconds(int(entry))
    return CpuSnapshot(by_role, machine_busy_seconds())


def cpu_us_per_lead(before: CpuSnapshot, after: CpuSnapshot, leads: int) -> dict[str, float]:
    """µs of CPU a lead by role between two snapshots, `other` (kernel threads, anything
    not named) and `machine`, the sum; empty without leads."""
    if leads <= 0:
        return {}
    used = {role: after.by_role[role] - before.by_role[role] for role in ROLES[:-1]}
    machine = after.machine - before.machine
    used["other"] = max(0.0, machine - sum(used.values()))
    return {**{role: round(1e6 * s / leads, 1) for role, s in used.items()},
            "machine": round(1e6 * machine / leads, 1)}


def ceiling_leads_per_s(cpu_per_lead: dict[str, float], cores: int | None = None) -> float:
    """Leads/s the machine's cores could process at that cost, were every core busy."""
    machine = cpu_per_lead.get("machine", 0.0)
    return (cores or os.cpu_count() or 1) * 1e6 / machine if machine else 0.0


def records_by_topic(bootstrap: str, prefix: str) -> dict[str, int]:
    """Records written so far to each topic named `prefix…` (its partitions' end offsets)."""
    offsets = KafkaOffsets(bootstrap)
    names = {name for name in offsets.admin.list_topics(timeout=offsets.timeout).topics
             if name.startswith(prefix)}
    counts = dict.fromkeys((name.removeprefix(prefix) for name in names), 0)
    for (topic, _), end in offsets.end_offsets(offsets.topic_partitions(names)).items():
        counts[topic.removeprefix(prefix)] += end
    return counts
