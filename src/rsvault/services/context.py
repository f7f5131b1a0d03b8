"""What every service call needs: where state lives, the catalog, the clock, the passphrase."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rsvault.catalog.database import Catalog, sqlite_url
from rsvault.core.clock import SYSTEM_CLOCK, Clock
from rsvault.core.home import default_home
from rsvault.core.passphrase import passphrase_in
from rsvault.errors import Code, RsvaultError
from rsvault.vault.keys import KdfParams

PassphraseSource = Callable[[], str | None]


def passphrase_from_environment() -> str | None:
    return passphrase_in(os.environ)


@dataclass
class ServiceContext:
    home: Path
    passphrase_source: PassphraseSource = passphrase_from_environment
    clock: Clock = SYSTEM_CLOCK
    kdf: KdfParams = field(default_factory=KdfParams)
    database_url: str | None = None
    _catalog: Catalog | None = None

    @classmethod
    def from_environment(cls, passphrase_source: PassphraseSource | None = None) -> ServiceContext:
        return cls(
            home=default_home(),
            passphrase_source=passphrase_source or passphrase_from_environment,
            database_url=os.environ.get("RSVAULT_DATABASE_URL"),
        )

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._catalog = Catalog(self.database_url or sqlite_url(self.home))
        return self._catalog

    def passphrase(self) -> str:
        value = self.passphrase_source()
        if not value:
            raise RsvaultError(Code.PASSPHRASE_MISSING)
        return value

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
