"""What a benchmark run measured, in a form the report and the JSON dump both read."""

from __future__ import annotations

from dataclasses import dataclass, field

from dataset import Mutation, Summary, TreeStats

PHASES = ("full", "unchanged", "incremental", "restore")
PHASE_TITLES = {
    "full": "Full backup",
    "unchanged": "Unchanged second backup",
    "incremental": "Backup after changing ~5% of the files",
    "restore": "Full restore of the latest backup",
}
MB = 1_000_000
MIB = 1024 * 1024


@dataclass
class Run:
    """One timed run of a phase."""

    wall_s: float
    cpu_s: float
    peak_rss: int
    peak_rss_single: int
    peak_resident: int


@dataclass
class PhaseResult:
    status: str = "skipped"  # ok | failed | skipped
    dataset_bytes: int = 0
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_rss: int | None = None
    peak_rss_single: int | None = None
    peak_resident: int | None = None  # each page of the process tree once (see measure)
    repo_bytes: int | None = None
    state_bytes: int | None = None
    verified: str | None = None
    note: str = ""
    error: str = ""
    runs: list[Run] = field(default_factory=list)

    def add_run(self, run: Run) -> None:
        """Record a timed run. A phase run more than once (the restore) reports the mean of
        its times and the largest of its peaks."""
        self.runs.append(run)
        runs = self.runs
        self.wall_s = sum(r.wall_s for r in runs) / len(runs)
        self.cpu_s = sum(r.cpu_s for r in runs) / len(runs)
        self.peak_rss = max(r.peak_rss for r in runs)
        self.peak_rss_single = max(r.peak_rss_single for r in runs)
        self.peak_resident = max(r.peak_resident for r in runs)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def mb_per_s(self) -> float | None:
        if not self.ok or self.wall_s is None or self.wall_s <= 0:
            return None
        return self.dataset_bytes / MB / self.wall_s


@dataclass
class RunRecord:
    size_gb: float
    seed: int
    mutate_seed: int
    tools: list[str]
    machine: dict[str, str]
    versions: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    cache_mode: str = ""
    dataset: Summary | None = None
    pristine: TreeStats | None = None
    mutated: TreeStats | None = None
    mutation: Mutation | None = None
    build_s: float = 0.0
    settle_s: float = 0.0  # waited before the restores (see run.FREED_INODES_SETTLE_S)
    reused: bool = False
    setup_errors: dict[str, str] = field(default_factory=dict)
    results: dict[str, dict[str, PhaseResult]] = field(default_factory=dict)

    def result(self, tool: str, phase: str) -> PhaseResult:
        return self.results.setdefault(tool, {}).setdefault(phase, PhaseResult())

    def all_ok(self, tool: str) -> bool:
        return all(self.result(tool, phase).ok for phase in PHASES)
