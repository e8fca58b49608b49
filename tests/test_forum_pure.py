"""Forum topics, pure parts: the closed-topic outcome, folding per topic, preview words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.chats import BadSetting
from bot.delivery.messages import group_messages
from bot.domain import Delivery, DeliveryKind, DeliveryState, PreviewMode
from bot.pipeline.outcomes import (
    Park,
    PlainFallback,
    SendBadContent,
    SendTopicGone,
    TopicFallback,
    decide_outcome,
    ends_chat,
)
from bot.topics import parse_preview

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_a_closed_topic_falls_back_to_the_general_topic() -> None:
    """A topic answer for a message sent into a topic: send again into the general topic, at
    once, with no attempt counted and the chat's later messages still sent."""
    outcome = decide_outcome(SendTopicGone("message thread not found"), 3, NOW, thread_id=7)
    assert outcome == TopicFallback(7, "topic gone: message thread not found")
    assert not ends_chat(outcome)


def test_a_topic_answer_without_a_topic_is_parked_not_looped() -> None:
    """The same answer for a message that went to no topic cannot be fixed by dropping one."""
    outcome = decide_outcome(SendTopicGone("TOPIC_CLOSED"), 0, NOW)
    assert isinstance(outcome, Park) and "TOPIC_CLOSED" in outcome.reason


def test_the_plain_text_fallback_is_unchanged_in_a_topic() -> None:
    """Bad HTML in a topic is still the plain-text fallback, then parked."""
    bad = SendBadContent("can't parse entities")
    assert decide_outcome(bad, 0, NOW, thread_id=7) == PlainFallback()
    assert isinstance(decide_outcome(bad, 0, NOW, plain=True, thread_id=7), Park)


def row(row_id: int, story: int | None, thread: int | None, kind: str = "article") -> Delivery:
    """An outbox row."""
    return Delivery(
        id=row_id,
        chat_id=-100,
        kind=DeliveryKind(kind),
        state=DeliveryState.CLAIMED,
        article_id=row_id if kind == "article" else None,
        story_id=story,
        thread_id=thread,
    )


def test_rows_of_one_story_fold_per_topic() -> None:
    """A story's rows for two topics are two messages; the same topic folds into one."""
    rows = [row(1, 9, 5), row(2, 9, 6), row(3, 9, 5), row(4, None, 5), row(5, 9, None)]
    messages = group_messages(rows, {})
    assert [m.ids for m in messages] == [[1, 3], [2], [4], [5]]
    assert [m.thread_id for m in messages] == [5, 6, 5, None]


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("below", PreviewMode.BELOW),
        (" ABOVE ", PreviewMode.ABOVE),
        ("off", PreviewMode.OFF),
        ("أعلى", PreviewMode.ABOVE),
        ("أسفل", PreviewMode.BELOW),
        ("إيقاف", PreviewMode.OFF),
    ],
)
def test_preview_words(text: str, mode: PreviewMode) -> None:
    """English and Arabic words for the preview setting."""
    assert parse_preview(text) is mode


@pytest.mark.parametrize("text", ["", "sideways", "x" * 5000, "<b>above</b>"])
def test_bad_preview_words(text: str) -> None:
    """Anything else is a BadSetting carrying a bounded copy of the value."""
    with pytest.raises(BadSetting) as info:
        parse_preview(text)
    assert info.value.key == "settings.invalid_preview"
    assert len(info.value.params["value"]) <= 32
