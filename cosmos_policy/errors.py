"""Errors meant for people.

A :class:`UserError` is a mistake the user can fix (a bad path, an unknown embodiment, a
malformed YAML file). The CLI prints its message on one line and exits with status 2; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message says what is wrong and how to fix it."""


class ConfigError(UserError):
    """A configuration file or value does not fit its schema.

    The message names the file, the field and what was expected.
    """

    def __init__(self, source: str, field: str, expected: str, got: object = None) -> None:
        self.source, self.field, self.expected = source, field, expected
        detail = f", got {got!r}" if got is not None else ""
        super().__init__(f"{source}: field '{field}': expected {expected}{detail}")


class SpecError(UserError):
    """An observation, action or message does not fit its spec."""


class UnknownNameError(UserError):
    """A name looked up in a registry does not exist; the message lists the valid ones."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        super().__init__(f"unknown {kind} '{name}'; valid: {', '.join(sorted(valid)) or '(none)'}")
