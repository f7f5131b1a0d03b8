"""Options many commands share, and the date formats `az backup` users type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from rsvault.errors import Code, RsvaultError

VaultNameOption = Annotated[str, typer.Option("--vault-name", "-v", help="Vault name.")]
ItemNameOption = Annotated[str, typer.Option("--item-name", "-i", help="Protected item name.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

_FORMATS = ("%d-%m-%Y", "%Y-%m-%d")


def parse_day(value: str, option: str) -> datetime:
    """A calendar day as midnight UTC: DD-MM-YYYY like `az backup`, or YYYY-MM-DD."""
    for fmt in _FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument=option, reason="a date as DD-MM-YYYY or YYYY-MM-DD"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def end_of_day(value: str, option: str) -> datetime:
    """The end of the given day when only a date is given: the whole day is included."""
    moment = parse_day(value, option)
    only_date = moment == moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment + timedelta(days=1) - timedelta(microseconds=1) if only_date else moment
