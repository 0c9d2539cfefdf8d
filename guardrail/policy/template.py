"""Message templates: ``"Information through {knowledge_cutoff}; agreement {consistency:.0%}"``.

Placeholders are ``{name}`` or ``{name:spec}`` with a Python format spec (``.0%``, ``.2f``);
``{{`` and ``}}`` write literal braces. Conversions (``!r``), attribute and index access are not
allowed: a template is data, never code.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from guardrail.policy.limits import MAX_FORMAT_WIDTH

_FORMATTER = string.Formatter()
_SPEC_NUMBER = re.compile(r"[0-9]+")


class Placeholder(BaseModel):
    """``{name:spec}`` found in a template; ``offset`` is its index in the decoded text."""

    model_config = ConfigDict(frozen=True)

    name: str
    spec: str
    offset: int


class TemplateError(ValueError):
    """A malformed template; ``offset`` is the index in the decoded text where it goes wrong."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


Part = str | Placeholder


def parse_template(text: str) -> list[Part]:
    """Split ``text`` into literal strings and placeholders.

    Raises :class:`TemplateError` for unbalanced braces, conversions (``{x!r}``), attribute or
    index access (``{x.y}``, ``{x[0]}``) and empty names (``{}``).
    """
    parts: list[Part] = []
    pos = 0
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as err:
        raise TemplateError(f"malformed placeholder: {err}", _first_bad_brace(text)) from None
    for literal, field, spec, conversion in parsed:
        if literal:
            parts.append(literal)
        pos = _advance(text, pos, literal)
        if field is None:
            continue
        start = pos
        if conversion is not None:
            raise TemplateError(
                f"conversion '!{conversion}' is not allowed in a placeholder", start
            )
        if not field.isidentifier():
            what = "an empty placeholder '{}'" if not field else f"'{{{field}}}' is not a name"
            raise TemplateError(f"{what}: placeholders are {{name}} or {{name:spec}}", start)
        spec = spec or ""
        if "{" in spec:
            raise TemplateError("nested placeholders are not allowed in a format spec", start)
        parts.append(Placeholder(name=field, spec=spec, offset=start))
        pos = text.index("}", start + 1 + len(field)) + 1
    return parts


def _advance(text: str, pos: int, literal: str) -> int:
    """Index in ``text`` after the literal part ``literal`` (which has ``{{``/``}}`` collapsed)."""
    i = pos
    for ch in literal:
        i += 2 if ch in "{}" and text[i : i + 2] in ("{{", "}}") else 1
    return i


def _first_bad_brace(text: str) -> int:
    i = 0
    depth_start = -1
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i : i + 2] in ("{{", "}}"):
            i += 2
            continue
        if ch == "{":
            if depth_start >= 0:
                return depth_start
            depth_start = i
        elif ch == "}":
            if depth_start < 0:
                return i
            depth_start = -1
        i += 1
    return max(depth_start, 0)


def spec_too_wide(spec: str) -> str | None:
    """Why ``spec`` would build an oversized string (a width or precision above
    :data:`~guardrail.policy.limits.MAX_FORMAT_WIDTH`), or None. Linear in ``len(spec)``."""
    for m in _SPEC_NUMBER.finditer(spec):
        digits = m.group().lstrip("0")
        if len(digits) > 3 or (digits and int(digits) > MAX_FORMAT_WIDTH):
            return (
                f"width or precision {m.group()[:12]}{'...' if len(m.group()) > 12 else ''} "
                f"is over the limit of {MAX_FORMAT_WIDTH}"
            )
    return None


def check_spec(spec: str, sample: object) -> str | None:
    """None when ``format(sample, spec)`` works, else the error text (a spec over the width
    limit is refused without formatting anything)."""
    too_wide = spec_too_wide(spec)
    if too_wide is not None:
        return too_wide
    try:
        format(sample, spec)
    except (ValueError, TypeError) as err:
        return str(err)
    return None


def render(parts: list[Part], lookup: Callable[[str], object]) -> str:
    """Render parsed ``parts``; ``lookup(name)`` gives a placeholder's value (None -> ``unknown``).

    A value that does not fit its spec (a string under ``.0%``), or a spec over the width limit,
    is written with ``str()``; rendering never raises.
    """
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = lookup(part.name)
        if value is None:
            out.append("unknown")
            continue
        if spec_too_wide(part.spec) is not None:
            out.append(str(value))
            continue
        try:
            out.append(format(value, part.spec))
        except (ValueError, TypeError):
            out.append(str(value))
    return "".join(out)
