"""guardrail._safety: text every encoder accepts; secrets out of messages (issue 12)."""

from __future__ import annotations

from guardrail._safety import REDACTED, Redactor, clean_text, redact_url, url_secrets


def test_clean_text_replaces_nul_and_lone_surrogates_only() -> None:
    assert clean_text("a\x00b\ud800c\udfffd") == "a\ufffdb\ufffdc\ufffdd"
    ok = "caf\u00e9 \U0001f600 ok"  # a real astral character is one code point, not a surrogate
    assert clean_text(ok) is ok
    assert clean_text("a\ud800b").encode("utf-8") == b"a\xef\xbf\xbdb"


def test_redact_url() -> None:
    assert redact_url("postgresql://app:s3cret@db:5432/g") == "postgresql://app:***@db:5432/g"
    assert redact_url("https://KEY123@x.example/v1") == "https://***@x.example/v1"
    assert (
        redact_url("https://x/v1?api-version=2024-06-01&api_key=sk-1")
        == "https://x/v1?api-version=2024-06-01&api_key=***"
    )
    assert redact_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"


def test_url_secrets_and_redactor() -> None:
    secrets = url_secrets("https://u:pw-1234@x/v1?api-version=1&key=k-5678")
    assert secrets == ["pw-1234", "k-5678"]
    r = Redactor([*secrets, None, "abc"])  # None ignored; "abc" too short to hide
    assert r("got pw-1234 and k-5678 and abc") == f"got {REDACTED} and {REDACTED} and abc"
