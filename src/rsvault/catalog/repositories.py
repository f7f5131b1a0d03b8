"""All catalog queries live here; services call these inside their unit of work."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from rsvault.catalog.models import JobRow, VaultRow


class VaultRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, name: str) -> VaultRow | None:
        return self.session.get(VaultRow, name)

    def all(self) -> Sequence[VaultRow]:
        return self.session.scalars(select(VaultRow).order_by(VaultRow.name)).all()

    def add(self, row: VaultRow) -> None:
        self.session.add(row)

    def delete(self, row: VaultRow) -> None:
        self.session.delete(row)


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, name: str) -> JobRow | None:
        return self.session.get(JobRow, name)

    def add(self, row: JobRow) -> None:
        self.session.add(row)

    def for_vault(self, vault_name: str) -> Sequence[JobRow]:
        query = select(JobRow).where(JobRow.vault_name == vault_name).order_by(JobRow.start_time)
        return self.session.scalars(query).all()
