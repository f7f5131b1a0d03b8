"""rsvault scheduler run [--once]."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from rsvault.cli.render import show_one
from rsvault.cli.session import OutputFormat, OutputOption, PassphraseFileOption, begin
from rsvault.services.scheduler import Scheduler

app = typer.Typer(help="Run scheduled backups and retention.", no_args_is_help=True)


@app.command()
def run(
    once: Annotated[
        bool, typer.Option(help="One pass: start what is due, wait for it, apply retention.")
    ] = False,
    workers: Annotated[int, typer.Option(help="Backups this process runs at once, at most.")] = 4,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Fire due backups per policy and expire recovery points; runs until stopped.

    SIGTERM or Ctrl-C stops it: running backups are cancelled (nothing half-written stays)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    scheduler = Scheduler(begin(output, passphrase_file), workers=workers)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signo, _frame: stop.set())
    try:
        if once:
            report = scheduler.tick(wait=True)
            show_one(report)
            if report.errors:
                raise typer.Exit(1)
        else:
            scheduler.run_forever(stop.is_set, stop.wait)
    except KeyboardInterrupt:
        stop.set()
    finally:
        if stop.is_set():
            scheduler.cancel_running()
        scheduler.close()
