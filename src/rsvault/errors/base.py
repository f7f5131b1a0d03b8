"""The base exception: a stable code, parameters for its message, and texts from the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field

from rsvault.errors.catalog import DEFAULT_LANGUAGE, lookup
from rsvault.errors.codes import Code


@dataclass(frozen=True)
class ErrorReport:
    """What a user reads: the code, the message, causes in the order worth checking, actions."""

    code: str
    message: str
    causes: tuple[str, ...]
    actions: tuple[str, ...]
    azure_id: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "code": self.code,
            "message": self.message,
            "causes": list(self.causes),
            "actions": list(self.actions),
        }
        if self.azure_id:
            out["azureId"] = self.azure_id
        if self.detail:
            out["detail"] = self.detail
        return out


class RsvaultError(Exception):
    """Every failure a user can see. The code is the type; the catalog holds the words."""

    def __init__(self, code: Code, /, *, detail: str | None = None, **params: object) -> None:
        self.code = code
        self.params = params
        self.detail = detail
        super().__init__(self.report().message)

    def report(self, language: str = DEFAULT_LANGUAGE) -> ErrorReport:
        entry = lookup(self.code)
        return ErrorReport(
            code=self.code.value,
            message=entry.render_message(language, self.params),
            causes=entry.causes_in(language),
            actions=entry.actions_in(language),
            azure_id=entry.azure_id,
            detail=self.detail,
        )


@dataclass(frozen=True)
class JobWarning:
    """A problem with one item (a file that could not be read) that lets the job go on."""

    code: Code
    path: str
    params: dict[str, object] = field(default_factory=dict)

    def message(self, language: str = DEFAULT_LANGUAGE) -> str:
        return lookup(self.code).render_message(language, {"path": self.path, **self.params})
