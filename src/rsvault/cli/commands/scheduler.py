"""rsvault scheduler run [--once]."""

from __future__ import annotations

import logging
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
    """Fire due backups per policy and expire recovery points; runs until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    scheduler = Scheduler(begin(output, passphrase_file), workers=workers)
    try:
        if once:
            report = scheduler.tick(wait=True)
            show_one(report)
            if report.errors:
                raise typer.Exit(1)
        else:
            scheduler.run_forever()
    finally:
        scheduler.close()
