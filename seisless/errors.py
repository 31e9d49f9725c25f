"""Every error seisless raises on purpose, in one hierarchy.

Callers (CLI, Lambda handlers, Batch entrypoints, the state machine's Fail states) catch
`SeislessError` and show `str(err)`: the message says what is wrong, where, and what to
do about it. The class name is the machine-readable error code (it becomes the Step
Functions error name), so names are part of the public contract.
"""

from __future__ import annotations


class SeislessError(Exception):
    """Base of every expected, user-facing failure."""

    exit_code = 2

    @property
    def code(self) -> str:
        return type(self).__name__


class ConfigError(SeislessError):
    """An option, argument or input document is invalid."""


class SourceError(SeislessError):
    """An input object cannot be found or read (missing file or S3 object, no access)."""


class SegyError(SeislessError):
    """Base of errors about SEG-Y content."""


class SegyFormatError(SegyError):
    """The bytes are not a well-formed SEG-Y file (or not one we can trust)."""


class TruncatedSegyError(SegyFormatError):
    """The file is shorter than its headers say: cut short, or a wrong sample count."""


class HeaderValueError(SegyFormatError):
    """A header holds a value that cannot be right (absurd count, unknown code)."""


class UnsupportedSegyError(SegyFormatError):
    """Valid SEG-Y that seisless deliberately does not decode (format 4, variable-length)."""


class ImagingError(SeislessError):
    """An imaging input is inconsistent: shapes, units, positions outside the model,
    or a time axis that cannot be sampled."""


class LocalCloudError(SeislessError):
    """The local cloud cannot start, deploy or run something (see the message for why)."""


class PortInUseError(LocalCloudError):
    """The local cloud's port is taken by another program."""


class WorkflowFailedError(SeislessError):
    """A scan execution ended FAILED; `error` and `cause` are its Fail state's."""

    def __init__(self, message: str, *, error: str = "", cause: str = "") -> None:
        super().__init__(message)
        self.error = error
        self.cause = cause


class WorkflowTimeoutError(SeislessError):
    """The client stopped waiting for an execution; the execution itself goes on."""


class ReductionError(SeislessError):
    """Gradient reduction inputs are inconsistent (a child's shape, dtype, .npy header or
    membership does not match the tree): retrying cannot help, so the message is poison."""


class ForgedMessageError(ReductionError):
    """A reduction message disagrees with the run's stored state: its tree is not the one
    the run's shot list and config define, its node lies outside that tree, or its run
    and iteration were never planned. It comes from a bug, a stale attempt or a sender
    that should not be trusted; acting on it could resume the workflow with part of a
    gradient, so it is poison (DLQ) and nothing is written or resumed."""
