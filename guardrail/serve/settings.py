"""Settings of ``guardrail serve``: one pydantic model, read from CLI flags or the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["ENV_PREFIX", "ServeSettings"]

#: Environment variables read by :meth:`ServeSettings.from_env` start with this prefix.
ENV_PREFIX = "GUARDRAIL_SERVE_"


class ServeSettings(BaseModel):
    """Configuration of the guarding proxy.

    Attributes:
        upstream: base URL of the OpenAI-compatible upstream including the version
            (``http://127.0.0.1:8080/v1``); ``None``: the embedded local model (extra ``local``).
        upstream_api_key: key sent upstream when the client sends none (config instead of
            pass-through). Never logged, never stored.
        policies: a directory of ``*.guard`` files or one file; each policy is a domain.
            ``None`` (default): the CLI's resolution, ``$GUARDRAIL_POLICIES``, then
            ``./policies``, then the policies bundled with guardrail.
        default_domain: domain used when a request names none (``None``: the only policy when
            there is one, else the request is refused with 400).
        store: review store URL (``sqlite:///path.db``, ``postgresql://...``, ``memory:``);
            ``None``: ``$GUARDRAIL_REVIEW_STORE`` or the user data directory's ``review.db``.
        token: when set, every ``/v1/*`` request needs ``Authorization: Bearer <token>``; the
            upstream key then comes from ``X-Upstream-Authorization`` or ``upstream_api_key``.
        model: default model name when a request's ``model`` is empty.
        live_domains: domains whose ``stream=True`` requests stream ``live`` whatever their
            policy's ``stream`` setting says (an operator override, ``--live``); every other
            domain streams as its policy says (``stream hold|live``; default ``hold`` for
            policies that can review or abstain). Environment: comma-separated.
        timeout: whole-guard timeout per request, seconds (> 0).
        upstream_timeout: per-HTTP-attempt timeout to the upstream, seconds (> 0).
        max_retries: upstream retries after the first attempt (>= 0).
        spot_check: queue the policies' ``spot_check`` share of non-review answers.
        hold_reviews: withhold answers sent to review (the default) instead of showing them.
        eager_samples: start the policy's samples with the answer call
            (:class:`~guardrail.Guard` ``eager_samples``): a guarded answer waits about one
            upstream call instead of two, at the price of the sample call also being sent when
            the plan then finds it unnecessary.
        max_keys: distinct upstream keys whose connection pools are kept (LRU, >= 1).
        max_request_bytes: largest request body accepted (bytes, >= 1024; larger: 413).
    """

    model_config = ConfigDict(frozen=True)

    upstream: str | None = None
    upstream_api_key: SecretStr | None = None
    policies: Path | None = None
    default_domain: str | None = None
    store: str | None = None
    token: SecretStr | None = None
    model: str | None = None
    live_domains: tuple[str, ...] = ()
    timeout: float = Field(default=120.0, gt=0)
    upstream_timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    spot_check: bool = True
    hold_reviews: bool = True
    eager_samples: bool = True
    max_keys: int = Field(default=64, ge=1)
    max_request_bytes: int = Field(default=4_000_000, ge=1024)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeSettings:
        """Settings from ``GUARDRAIL_SERVE_<FIELD>`` variables (``GUARDRAIL_SERVE_UPSTREAM``,
        ``GUARDRAIL_SERVE_TOKEN``, ...); unset ones keep their defaults. This is how
        ``guardrail serve --workers N`` hands the settings to each worker process.

        Raises:
            pydantic.ValidationError: a value of the wrong type or out of range.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            name: env[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if ENV_PREFIX + name.upper() in env
        }
        live = values.get("live_domains")
        if isinstance(live, str):
            values["live_domains"] = tuple(d.strip() for d in live.split(",") if d.strip())
        return cls.model_validate(values)

    def to_env(self) -> dict[str, str]:
        """The inverse of :meth:`from_env` (secrets included: for child processes only)."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, tuple):
                value = ",".join(value)
            out[ENV_PREFIX + name.upper()] = str(value)
        return out
