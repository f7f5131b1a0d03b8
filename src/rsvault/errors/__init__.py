"""Error codes, the one base exception, and the catalog of texts in en, zh-CN and zh-TW.

RsvaultError            code + parameters; texts come from the catalog
  (every failure a user can see is one of these; no subclass tree: the code is the type)
JobWarning              not an exception: a per-item problem that lets a job go on
"""

from rsvault.errors.base import ErrorReport, JobWarning, RsvaultError
from rsvault.errors.catalog import LANGUAGES, CatalogEntry, catalog, lookup, operations
from rsvault.errors.codes import Code

__all__ = [
    "LANGUAGES",
    "CatalogEntry",
    "Code",
    "ErrorReport",
    "JobWarning",
    "RsvaultError",
    "catalog",
    "lookup",
    "operations",
]
