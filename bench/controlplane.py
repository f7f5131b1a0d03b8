#!/usr/bin/env python3
"""Control-plane benchmark: a catalog with 10,000 protected items and a year of history.

Builds the catalog the way a year of running would leave it (the recovery points the policy
keeps, plus the ones that expire today; one backup job per item per day), on SQLite and on a
private PostgreSQL server, then times the two calls the issue sets targets for:

- one scheduler tick's planning (`plan_tick`: due items within the caps, expiring points,
  items to purge), target under 1 s;
- `job list` of the last 24 hours for one vault (`list_jobs`), target under 200 ms.

Each is run several times after one warm-up and the median is reported. Writes its section of
docs/benchmarks.md (between the control-plane markers). Run with ``make bench-control-plane``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sections
from sqlalchemy import insert, select, text

from rsvault.catalog.database import Catalog, sqlite_url
from rsvault.catalog.models import (
    ContainerRow,
    ItemRow,
    JobRow,
    PolicyRow,
    RecoveryPointRow,
    VaultRow,
)
from rsvault.core.clock import ManualClock
from rsvault.policy import Expiry, PointFacts, expiry_of, next_runs, parse_policy
from rsvault.services.context import ServiceContext
from rsvault.services.jobs import JobFilter, list_jobs
from rsvault.services.scheduler import plan_tick

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))
from support.pgserver import PostgresServer  # noqa: E402

NOW = datetime(2026, 11, 21, 2, 30, tzinfo=UTC)  # half an hour after the daily run
POLICY = {
    "policyType": "Standard",
    "schedule": {"frequency": "Daily", "time": "02:00", "timeZone": "UTC"},
    "instantRpRetentionDays": 2,
    "retention": {
        "daily": {"days": 30},
        "weekly": {"weeks": 12, "weekdays": ["Sunday"]},
        "monthly": {"months": 12, "daysOfMonth": [1]},
        "yearly": {"years": 1, "monthsOfYear": ["January"], "daysOfMonth": [1]},
    },
}
BATCH = 20_000


@dataclass(frozen=True)
class Shape:
    vaults: int
    items_per_vault: int
    containers_per_vault: int
    days: int
    job_days: int
    due_share: float  # items whose next run has come

    @property
    def items(self) -> int:
        return self.vaults * self.items_per_vault


@dataclass
class Timing:
    backend: str
    build_seconds: float
    rows: dict[str, int]
    tick_median: float
    tick_runs: list[float]
    tick_due: int
    tick_expiring: int
    jobs_median: float
    jobs_runs: list[float]
    jobs_listed: int


def kept_timeline(days: int) -> tuple[list[datetime], list[tuple[datetime, Expiry]]]:
    """The scheduled instants of a year and their expiries under the policy: computed once,
    since every item on the policy has the same timeline."""
    policy = parse_policy(POLICY, "bench")
    start = NOW - timedelta(days=days)
    runs = next_runs(policy.schedule, start, days)
    points = [PointFacts(f"p{n}", t) for n, t in enumerate(runs)]
    expiries = expiry_of(policy, points)
    # keep what a daily retention run would have left: alive now, or expiring during today
    keep = [
        (p.time, expiries[p.name])
        for p in points
        if expiries[p.name].at is None or expiries[p.name].at > NOW - timedelta(days=1)
    ]
    return runs, keep


def batched(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def build(catalog: Catalog, shape: Shape) -> dict[str, int]:
    runs, kept = kept_timeline(shape.days)
    counts = {"vaults": 0, "items": 0, "recovery_points": 0, "jobs": 0}
    with catalog.engine.begin() as db:
        for v in range(shape.vaults):
            vault = f"vault{v:02d}"
            db.execute(
                insert(VaultRow),
                [
                    dict(
                        name=vault,
                        vault_id=f"{v:064x}",
                        store_kind="local",
                        location=f"/x/{v}",
                        created=NOW - timedelta(days=400),
                        soft_delete_days=14,
                        max_concurrent_backups=4,
                    )
                ],
            )
            policy_id = db.execute(
                insert(PolicyRow).returning(PolicyRow.id),
                [
                    dict(
                        vault_name=vault,
                        name="daily",
                        policy_type="Standard",
                        document=POLICY,
                        created=NOW,
                        modified=NOW,
                    )
                ],
            ).scalar_one()
            container_ids = (
                db.execute(
                    insert(ContainerRow).returning(ContainerRow.id),
                    [
                        dict(
                            vault_name=vault,
                            name=f"host{v}-{c}",
                            kind="Server",
                            registered=NOW,
                            max_concurrent_backups=2,
                        )
                        for c in range(shape.containers_per_vault)
                    ],
                )
                .scalars()
                .all()
            )
            counts["vaults"] += 1
            counts["items"] += _items(db, shape, vault, policy_id, container_ids)
        item_ids = list(db.execute(select(ItemRow.id, ItemRow.vault_name, ItemRow.name)).all())
        for batch in batched(_points(item_ids, kept)):
            db.execute(insert(RecoveryPointRow), batch)
            counts["recovery_points"] += len(batch)
        for batch in batched(_jobs(item_ids, runs[-shape.job_days :])):
            db.execute(insert(JobRow), batch)
            counts["jobs"] += len(batch)
    return counts


def _items(db: Any, shape: Shape, vault: str, policy_id: int, containers: list[int]) -> int:
    due = int(shape.items_per_vault * shape.due_share)
    rows = [
        dict(
            vault_name=vault,
            container_id=containers[n % len(containers)],
            name=f"item{n:05d}",
            kind="files",
            source={"paths": [f"/srv/{n}"], "excludes": []},
            policy_id=policy_id,
            protection_state="Protected",
            delete_state="NotDeleted",
            next_run=NOW - timedelta(minutes=1) if n < due else NOW + timedelta(days=1),
            last_backup_time=NOW - timedelta(days=1),
            last_backup_status="Completed",
            created=NOW - timedelta(days=400),
        )
        for n in range(shape.items_per_vault)
    ]
    db.execute(insert(ItemRow), rows)
    return len(rows)


def _points(items: list[Any], kept: list[tuple[datetime, Expiry]]) -> Iterator[dict[str, Any]]:
    for item_id, vault, name in items:
        for moment, expiry in kept:
            yield dict(
                vault_name=vault,
                item_id=item_id,
                name=f"{name}-{moment:%Y%m%d}",
                time=moment,
                kind="Scheduled",
                tier="Vault",
                consistency="FileSystemConsistent",
                size=1 << 30,
                stored=1 << 24,
                files=10_000,
                expiry=expiry.at,
                expiry_reasons=",".join(expiry.reasons),
                source={},
            )


def _jobs(items: list[Any], runs: list[datetime]) -> Iterator[dict[str, Any]]:
    for item_id, vault, name in items:
        for moment in runs:
            yield dict(
                name=f"{item_id:06x}{moment:%y%m%d}",
                vault_name=vault,
                operation="Backup",
                status="Completed",
                item=name,
                item_id=item_id,
                trigger="Scheduled",
                start_time=moment,
                end_time=moment + timedelta(minutes=5),
                cancel_requested=False,
                bytes_read=1 << 24,
                bytes_transferred=1 << 22,
                bytes_stored=1 << 21,
                stats={},
                warnings=[],
            )


def timed(call: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    call()  # warm-up: connection pool, statement caches
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        runs.append(time.perf_counter() - started)
    return runs, result


def measure(backend: str, url: str, shape: Shape, repeat: int) -> Timing:
    catalog = Catalog(url)
    started = time.perf_counter()
    rows = build(catalog, shape)
    if catalog.engine.dialect.name == "postgresql":
        with catalog.engine.connect() as db:  # what autovacuum would have done after a year
            db.execute(text("ANALYZE"))
            db.commit()
    build_seconds = time.perf_counter() - started
    catalog.close()
    ctx = ServiceContext(home=Path(tempfile.mkdtemp()), database_url=url, clock=ManualClock(NOW))
    tick_runs, plan = timed(lambda: plan_tick(ctx, NOW), repeat)
    window = JobFilter(start=NOW - timedelta(hours=24))
    jobs_runs, listed = timed(lambda: list_jobs(ctx, "vault00", window), repeat)
    ctx.close()
    return Timing(
        backend=backend,
        build_seconds=build_seconds,
        rows=rows,
        tick_median=statistics.median(tick_runs),
        tick_runs=tick_runs,
        tick_due=len(plan.due),
        tick_expiring=sum(len(v) for v in plan.expiring.values()),
        jobs_median=statistics.median(jobs_runs),
        jobs_runs=jobs_runs,
        jobs_listed=len(listed),
    )


def render(timings: list[Timing], shape: Shape) -> str:
    lines = [
        "## Control plane",
        "",
        "Generated by `make bench-control-plane` (`bench/controlplane.py`). A catalog shaped",
        f"like a year of running: {shape.items:,} protected items ({shape.vaults} vaults of",
        f"{shape.items_per_vault:,}, {shape.containers_per_vault} containers each, one daily",
        "policy with daily 30 d, weekly 12 w, monthly 12 m and yearly 1 y retention), the recovery",
        "points that policy keeps after a year plus those expiring today, and one backup job per",
        f"item per day for {shape.job_days} days. {shape.due_share:.0%} of the items are due.",
        "Times are the median of the runs after one warm-up, of the service call (no process",
        "start-up). Targets: tick under 1 s, job list of the last 24 h under 200 ms.",
        "",
        "| Backend | Rows (items / recovery points / jobs) | Build | Scheduler tick"
        " | Due / expiring | Job list, 24 h | Jobs listed |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in timings:
        lines.append(
            f"| {t.backend} | {t.rows['items']:,} / {t.rows['recovery_points']:,} / "
            f"{t.rows['jobs']:,} | {t.build_seconds:.0f} s | {t.tick_median * 1000:.0f} ms "
            f"({_verdict(t.tick_median, 1.0)}) | {t.tick_due:,} / {t.tick_expiring:,} | "
            f"{t.jobs_median * 1000:.0f} ms ({_verdict(t.jobs_median, 0.2)}) | {t.jobs_listed:,} |"
        )
    return "\n".join(lines) + "\n"


def _verdict(seconds: float, target: float) -> str:
    return "met" if seconds < target else "NOT met"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--vaults", type=int, default=10)
    parser.add_argument("--items-per-vault", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--job-days", type=int, default=None, help="job history (default: --days)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    shape = Shape(
        args.vaults,
        args.items_per_vault,
        10,
        args.days,
        args.job_days or args.days,
        due_share=0.05,
    )
    timings = []
    with tempfile.TemporaryDirectory(prefix="rsvault-cp-") as scratch:
        if "sqlite" in args.backends:
            print("sqlite: building and measuring...", flush=True)
            timings.append(measure("SQLite", sqlite_url(Path(scratch)), shape, args.repeat))
        if "postgresql" in args.backends:
            print("postgresql: building and measuring...", flush=True)
            with PostgresServer() as server:
                url = server.create_database("bench")
                timings.append(measure("PostgreSQL", url, shape, args.repeat))
    body = render(timings, shape)
    print(body)
    sections.write_section(args.out, "control-plane", body)


if __name__ == "__main__":
    main()
