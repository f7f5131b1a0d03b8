"""rsvault job list|show|stop|wait."""

from __future__ import annotations

from typing import Annotated

import typer

from rsvault.cli.advice import print_advice
from rsvault.cli.options import VaultNameOption, end_of_day, parse_day
from rsvault.cli.render import show_list, show_one
from rsvault.cli.session import (
    CURRENT,
    LanguageOption,
    OutputFormat,
    OutputOption,
    begin,
    language,
)
from rsvault.services import jobs
from rsvault.services.states import JobStatus, Operation

app = typer.Typer(help="Jobs: every operation, to watch and cancel.", no_args_is_help=True)

JobNameOption = Annotated[str, typer.Option("--name", "-n", help="Job name.")]
_COLUMNS = ["name", "operation", "status", "item", "startTime", "duration", "errorCode"]
# `job wait` tells scripts how the job ended, in the same numbers every command uses.
_EXIT_BY_STATUS = {
    JobStatus.COMPLETED: 0,
    JobStatus.COMPLETED_WITH_WARNINGS: 3,
    JobStatus.FAILED: 1,
    JobStatus.CANCELLED: 130,
}


@app.command("list")
def list_(
    vault_name: VaultNameOption,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this status.")] = None,
    operation: Annotated[Operation | None, typer.Option(help="Only this operation.")] = None,
    start_date: Annotated[
        str | None, typer.Option(help="From this day (DD-MM-YYYY; default 7 days ago).")
    ] = None,
    end_date: Annotated[str | None, typer.Option(help="Up to this day, included.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List jobs, newest first."""
    wanted = jobs.JobFilter(
        status=status.value if status else None,
        operation=operation.value if operation else None,
        start=parse_day(start_date, "--start-date") if start_date else None,
        end=end_of_day(end_date, "--end-date") if end_date else None,
    )
    show_list(jobs.list_jobs(begin(output), vault_name, wanted), _COLUMNS)


@app.command()
def show(
    vault_name: VaultNameOption,
    name: JobNameOption,
    lang: LanguageOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show a job with its sub-tasks; a failed or warned job also says what to do."""
    view = jobs.show_job(begin(output, lang=lang), vault_name, name, language())
    show_one(view, skip=("advice",))
    if CURRENT.output is OutputFormat.TABLE:
        print_advice(view.advice)


@app.command()
def stop(
    vault_name: VaultNameOption, name: JobNameOption, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Cancel a running Backup or Restore job."""
    show_one(jobs.stop_job(begin(output), vault_name, name))


@app.command()
def wait(
    vault_name: VaultNameOption,
    name: JobNameOption,
    timeout: Annotated[
        float | None, typer.Option(help="Give up after this many seconds (the job goes on).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Wait for a job to end; the exit code says how it ended."""
    view = jobs.wait_job(begin(output), vault_name, name, timeout)
    show_one(view)
    raise typer.Exit(_EXIT_BY_STATUS.get(JobStatus(view.status), 1))
