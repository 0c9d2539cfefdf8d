"""Resource limits of the policy language (``docs/security.md``, ``docs/policy-language.md``).

A policy file is configuration, but it may come from a less trusted place than the code (a shared
repository, a tenant's upload). These limits keep :func:`~guardrail.policy.load_policy` and
``guardrail check`` linear in the file size and bounded in memory; each is reported as an ordinary
:class:`~guardrail.policy.PolicyError` diagnostic with a position. Every bundled policy is far
below all of them (the largest is under 6 KB, 4 placeholders per message, nesting depth 2).
"""

from __future__ import annotations

#: Largest policy file, in bytes of UTF-8 (``policy-too-large``).
MAX_POLICY_BYTES = 256 * 1024
#: Longest string literal, in decoded characters (``string-too-long``).
MAX_STRING_CHARS = 4096
#: Most placeholders in one message (``too-many-placeholders``).
MAX_PLACEHOLDERS = 32
#: Largest width or precision in a placeholder's format spec (``format-too-wide``): the notice is
#: built on every evaluation, so ``{consistency:>1000000000}`` would be a 1 GB string each time.
MAX_FORMAT_WIDTH = 100
#: Longest number literal, in characters (``number-too-long``).
MAX_NUMBER_CHARS = 32
#: Deepest nesting of parentheses, ``not`` and unary ``-`` in a condition (``too-complex``).
MAX_NESTING = 32
#: Most diagnostics reported for one file; the rest are summarised in one ``too-many-errors``.
MAX_DIAGNOSTICS = 100
