"""The base of every typed document that crosses a boundary, and its one parser.

Execution inputs, state payloads, run documents, SQS messages and sidecars are all
frozen pydantic models that forbid unknown fields; `parse_document` turns any
validation failure into one typed `SeislessError` that names each bad field, so no
caller ever shows a pydantic traceback.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from seisless.errors import ConfigError, SeislessError


class Document(BaseModel):
    """A frozen document that refuses fields it does not know (typos fail loudly) and
    numbers that are not finite (NaN and infinity are never a valid setting)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


DocumentT = TypeVar("DocumentT", bound=BaseModel)


def describe_errors(err: ValidationError, *, skip: int = 0, root: str = "document") -> str:
    """`field.path: message; ...` for every problem; `skip` drops leading path parts
    (a wrapper's own field name)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'][skip:]) or root}: {e['msg']}"
                     for e in err.errors())


def parse_document(model: type[DocumentT], data: Any, where: str, *,
                   error: type[SeislessError] = ConfigError) -> DocumentT:
    """Validate `data` as `model`; an `error` naming `where` and each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise error(f"{where} is invalid: {describe_errors(err)}") from None
