"""Store failures as the codes a user sees, translated at the vault's edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rsvault.errors import Code, RsvaultError
from rsvault.storage import (
    BlobStore,
    StoreError,
    StoreFullError,
    StoreNotFoundError,
    StorePermissionError,
)


def as_rsvault_error(store: BlobStore, exc: StoreError) -> RsvaultError:
    if isinstance(exc, StoreFullError):
        return RsvaultError(Code.NOT_ENOUGH_SPACE, location=store.location, detail=exc.reason)
    if isinstance(exc, StorePermissionError):
        return RsvaultError(
            Code.VAULT_LOCATION_UNUSABLE, location=store.location, reason=exc.reason
        )
    if isinstance(exc, StoreNotFoundError):
        return RsvaultError(Code.STORE_OBJECT_MISSING, object=exc.name)
    return RsvaultError(Code.STORE_UNAVAILABLE, store=store.location, reason=str(exc))


@contextmanager
def translated(store: BlobStore) -> Iterator[None]:
    try:
        yield
    except StoreError as exc:
        raise as_rsvault_error(store, exc) from exc
