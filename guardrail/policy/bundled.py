"""Where the bundled policies (``policies/*.guard``) are found."""

from __future__ import annotations

import os
from pathlib import Path

from guardrail.policy.errors import PolicyError, Source
from guardrail.policy.loader import POLICY_SUFFIX

_REPO_POLICIES = Path(__file__).resolve().parent.parent.parent / "policies"
# Where a (non-editable) wheel carries them: see [tool.hatch.build.targets.wheel.force-include].
_WHEEL_POLICIES = Path(__file__).resolve().parent.parent / "_policies"


def bundled_policies_dir() -> Path | None:
    """The first existing of ``$GUARDRAIL_POLICIES``, ``./policies``, the checkout's
    ``policies/`` folder and the copy inside an installed wheel; None when there is none."""
    candidates = []
    env = os.environ.get("GUARDRAIL_POLICIES")
    if env:
        candidates.append(Path(env))
    candidates += [Path.cwd() / "policies", _REPO_POLICIES, _WHEEL_POLICIES]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def resolve_policy_path(name_or_path: str) -> Path:
    """A path to a policy file given a path or a bundled policy name (``medical``).

    Raises :class:`PolicyError` (code ``file-not-found``) when neither exists."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    folder = bundled_policies_dir()
    if folder is not None and "/" not in name_or_path and "\\" not in name_or_path:
        candidate = folder / (name_or_path.removesuffix(POLICY_SUFFIX) + POLICY_SUFFIX)
        if candidate.is_file():
            return candidate
    names = sorted(f.stem for f in folder.glob(f"*{POLICY_SUFFIX}")) if folder else []
    from guardrail.policy.ast import Span

    hint = f"bundled policies: {', '.join(names)}" if names else None
    raise PolicyError(
        [
            Source("", name_or_path).diagnostic(
                "file-not-found",
                f"no policy file or bundled policy named '{name_or_path}'",
                Span(line=1, column=1, end_line=1, end_column=2),
                hint=hint,
            )
        ]
    )
