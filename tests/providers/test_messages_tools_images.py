"""Messages with tool calls, tool results and image parts (issue 14): accepted, text for the
signals, sent to the server unchanged (Message.wire)."""

from __future__ import annotations

import pytest

from guardrail.providers import normalize_messages
from guardrail.signals.verbalized import INLINE_TEMPLATE, inline_messages

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def test_tool_turns_round_trip() -> None:
    given = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"},
    ]
    msgs = normalize_messages(given)
    assert [m.content for m in msgs] == ["Weather in Paris?", "", "18 C, sunny"]
    assert [m.wire() for m in msgs] == given


def test_image_parts_are_kept_and_their_text_is_the_content() -> None:
    given = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE]}]
    (m,) = normalize_messages(given)
    assert m.content == "What is this?"  # what text signals read
    assert m.wire() == given[0]  # what the server gets


def test_changed_text_replaces_the_text_parts_and_keeps_the_image() -> None:
    given = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE]}]
    # the inline confidence instruction is appended to the text (dicts from model_dump)
    changed = normalize_messages(
        inline_messages([m.model_dump() for m in normalize_messages(given)])
    )
    wire = changed[-1].wire()
    assert wire["content"][0] == IMAGE
    assert wire["content"][1]["text"] == f"What is this?\n\n{INLINE_TEMPLATE}"


def test_all_text_parts_are_still_joined_into_a_string() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    (m,) = normalize_messages([{"role": "user", "content": parts}])
    assert m.wire() == {"role": "user", "content": "a\nb"}


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "user", "content": [{"image_url": {"url": "x"}}]},  # a part without a type
        {"role": "user", "content": [{"type": "text"}]},  # a text part without text
        {"role": "user", "content": None},  # None outside an assistant tool-call turn
        {"role": "assistant", "content": None, "tool_calls": "f"},  # tool_calls not a list
        {"role": "user", "content": []},
    ],
)
def test_malformed_messages_are_value_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="message 0"):
        normalize_messages([bad])
