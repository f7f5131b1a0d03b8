"""Progress events as shells see them (the engine produces them)."""

from rsvault.engine.progress import Progress, ProgressSink, ignore_progress

__all__ = ["Progress", "ProgressSink", "ignore_progress"]
