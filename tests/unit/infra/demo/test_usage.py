"""The bench's account of the machine's CPU: by role from /proc, per lead, and the ceiling."""

from __future__ import annotations

import subprocess
import sys
import time

from infra.demo.usage import (
    ROLES,
    CpuSnapshot,
    ceiling_leads_per_s,
    cpu_snapshot,
    cpu_us_per_lead,
)


def _snapshot(machine: float, **by_role: float) -> CpuSnapshot:
    return CpuSnapshot({role: by_role.get(role, 0.0) for role in ROLES[:-1]}, machine)


def test_cost_per_lead_names_every_role_and_puts_the_unnamed_rest_in_other() -> None:
    before = _snapshot(100.0, workers=10.0, kafka=5.0)
    after = _snapshot(103.0, workers=12.0, kafka=5.5, redis=0.25, bench=0.05)
    cost = cpu_us_per_lead(before, after, 5_000)
    assert cost == {"workers": 400.0, "kafka": 100.0, "redis": 50.0, "clickhouse": 0.0,
                    "bench": 10.0, "other": 40.0, "machine": 600.0}


def test_no_leads_no_cost_and_no_ceiling() -> None:
    assert cpu_us_per_lead(_snapshot(1.0), _snapshot(2.0), 0) == {}
    assert ceiling_leads_per_s({}) == 0.0


def test_the_ceiling_is_every_core_busy_at_that_cost() -> None:
    assert ceiling_leads_per_s({"machine": 500.0}, cores=2) == 4_000.0


def test_a_snapshot_charges_the_workers_and_the_bench_their_own_cpu() -> None:
    spin = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    worker = subprocess.Popen([sys.executable, "-c", spin + "\ntime.sleep(30)"])
    try:
        before = cpu_snapshot([worker.pid])
        end = time.process_time() + 0.2
        while time.process_time() < end:
            pass
        time.sleep(1.0)  # the worker's spin is done by now
        after = cpu_snapshot([worker.pid])
    finally:
        worker.kill()
        worker.wait()
    used = {role: after.by_role[role] - before.by_role[role] for role in ROLES[:-1]}
    assert used["bench"] >= 0.15
    assert after.by_role["workers"] >= 0.25
    assert after.machine - before.machine >= used["bench"] + used["workers"] - 0.05
