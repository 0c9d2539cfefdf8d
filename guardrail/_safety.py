"""Small shared defences: text every encoder and database accepts, secrets kept out of messages.

* :func:`clean_text` replaces the code points that break UTF-8 encoders and PostgreSQL ``text``
  columns (lone UTF-16 surrogates U+D800..U+DFFF, which JSON's ``\\ud800`` escape can produce, and
  NUL) with U+FFFD REPLACEMENT CHARACTER, the Unicode Standard's substitute for an ill-formed code
  unit (Unicode 15, section 3.9, "U+FFFD Substitution of Maximal Subparts").
* :func:`redact_url` shows a URL without its password and without query values that may be
  credentials (``?api_key=...``); :class:`Redactor` removes known secret strings from any text.

See ``docs/security.md`` for where these are applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

__all__ = ["REDACTED", "Redactor", "clean_text", "redact_url", "url_secrets"]

REDACTED = "***"
_UNSAFE = re.compile("[\x00\ud800-\udfff]")
# query parameters known to carry no secret (Azure OpenAI's API version); every other value is
# treated as a possible credential when shown
_PUBLIC_QUERY_KEYS = frozenset({"api-version", "api_version"})


def clean_text(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (same length; O(len)).

    Args:
        text: any ``str`` (for example a model reply decoded from JSON).

    Returns:
        A string that encodes to UTF-8 and fits a PostgreSQL ``text`` column; ``text`` itself when
        nothing needed replacing.
    """
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub("\ufffd", text)


def url_secrets(url: str) -> list[str]:
    """The secret parts of ``url``: the userinfo password (and user name when a password is
    absent, as in ``https://KEY@host``) and every query value except ``api-version``."""
    try:
        parts = urlsplit(url)
        password, username = parts.password, parts.username
    except ValueError:
        return []
    out = [password] if password else ([username] if username else [])
    out += [v for k, v in parse_qsl(parts.query) if k.lower() not in _PUBLIC_QUERY_KEYS and v]
    return [s for s in out if s]


def redact_url(url: str) -> str:
    """``url`` as safe to print: ``user:***@host``, secret query values as ``***``.

    Examples:
        >>> redact_url("postgresql://app:s3cret@db:5432/guard?sslmode=require")
        'postgresql://app:***@db:5432/guard?sslmode=***'
        >>> redact_url("https://x.example/v1?api-version=2024-06-01&api_key=sk-1")
        'https://x.example/v1?api-version=2024-06-01&api_key=***'
    """
    try:
        parts = urlsplit(url)
        password, username, host = parts.password, parts.username, parts.hostname
        port = parts.port
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if username is not None or password is not None:
        user = (username or "") if password else REDACTED
        cred = f"{user}:{REDACTED}" if password else user
        hostport = (f"[{host}]" if host and ":" in host else (host or "")) + (
            f":{port}" if port is not None else ""
        )
        netloc = f"{cred}@{hostport}"
    query = "&".join(
        f"{k}={v if k.lower() in _PUBLIC_QUERY_KEYS else REDACTED}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class Redactor:
    """Replaces known secret strings (API keys, URL passwords) in text with ``***``.

    Secrets shorter than 4 characters are ignored (they would garble ordinary text and are not
    worth hiding). Matching is plain substring replacement, longest secret first.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, REDACTED)
        return text
