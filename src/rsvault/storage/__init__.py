"""Byte stores: named blobs, nothing about formats. Behaviour is added by wrapping."""

from rsvault.storage.errors import (
    StoreError,
    StoreFullError,
    StoreNotFoundError,
    StorePermissionError,
)
from rsvault.storage.faulty import FaultyStore
from rsvault.storage.local import LocalStore
from rsvault.storage.memory import MemoryStore
from rsvault.storage.protocol import BlobInfo, BlobStore, BlobUpload, FileStore

__all__ = [
    "BlobInfo",
    "BlobStore",
    "BlobUpload",
    "FaultyStore",
    "FileStore",
    "LocalStore",
    "MemoryStore",
    "StoreError",
    "StoreFullError",
    "StoreNotFoundError",
    "StorePermissionError",
]
