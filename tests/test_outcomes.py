"""The pure delivery decisions: a failed send's outcome, and who a new article goes to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import (
    Article,
    Chat,
    DeliveryMode,
    DeliveryState,
    Follow,
    FollowKind,
)
from bot.pipeline.fanout import choose_follows, live_chats, plan_fanout
from bot.pipeline.outcomes import (
    Block,
    ComposeFailed,
    Park,
    Pause,
    PlainFallback,
    Readdress,
    Retry,
    RetryPolicy,
    Scope,
    SendBadContent,
    SendError,
    SendForbidden,
    SendMigrated,
    SendRetryAfter,
    SendTransient,
    SendUnauthorized,
    SendUnexpected,
    decide_outcome,
    ends_chat,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_retry_after_holds_the_rest_of_the_chat_without_an_attempt() -> None:
    """A 429 puts this and the chat's later rows back until the wait ends, pausing the chat."""
    outcome = decide_outcome(SendRetryAfter(7), 3, NOW)
    assert outcome == Retry(
        NOW + timedelta(seconds=7),
        "retry after 7s (chat)",
        counted=False,
        scope=Scope.REST,
        pause=Pause.CHAT,
    )
    assert ends_chat(outcome)
    shared = decide_outcome(SendRetryAfter(2, is_global=True), 0, NOW)
    assert isinstance(shared, Retry) and shared.pause is Pause.GLOBAL
    negative = decide_outcome(SendRetryAfter(-5), 0, NOW)
    assert isinstance(negative, Retry) and negative.at == NOW


def test_forbidden_blocks_the_chat() -> None:
    """403 or a vanished chat: block it and skip all it is owed."""
    outcome = decide_outcome(SendForbidden("bot was blocked by the user"), 0, NOW)
    assert outcome == Block("blocked: bot was blocked by the user")
    assert ends_chat(outcome)


def test_bad_content_falls_back_to_plain_text_once() -> None:
    """The first 400 sends plain text; a 400 on the plain text parks the message."""
    error = SendBadContent("can't parse entities")
    assert decide_outcome(error, 0, NOW) == PlainFallback()
    parked = decide_outcome(error, 0, NOW, plain=True)
    assert parked == Park(NOW, "bad content: can't parse entities")
    assert not ends_chat(parked)


def test_transient_faults_back_off_then_park() -> None:
    """Attempts are counted, waits double up to the cap, the last attempt parks."""
    policy = RetryPolicy(max_attempts=4, backoff_base=2.0, backoff_cap=5.0)
    waits = []
    for attempts in range(3):
        outcome = decide_outcome(SendTransient("timed out"), attempts, NOW, policy=policy)
        assert isinstance(outcome, Retry) and outcome.counted and outcome.scope is Scope.MESSAGE
        assert outcome.reason == "transient: timed out" and outcome.pause is None
        assert not ends_chat(outcome)
        waits.append((outcome.at - NOW).total_seconds())
    assert waits == [2.0, 4.0, 5.0]
    last = decide_outcome(SendTransient("timed out"), 3, NOW, policy=policy)
    assert last == Park(NOW, "transient: timed out")
    # an untyped send error is treated as transient
    assert isinstance(decide_outcome(SendError("odd"), 0, NOW), Retry)


def test_a_migrated_chat_is_readdressed_at_once() -> None:
    """ChatMigrated moves the chat and all it is owed, due now, with no attempt counted."""
    outcome = decide_outcome(SendMigrated(-1005), 4, NOW)
    assert outcome == Readdress(-1005, NOW, "migrated to -1005")
    assert ends_chat(outcome)


def test_every_other_failure_is_a_counted_backed_off_attempt() -> None:
    """Unexpected errors, composer errors and a rejected token back off and park in the end."""
    policy = RetryPolicy(max_attempts=3, backoff_base=2.0)
    for error, prefix in [
        (SendUnexpected("Conflict: terminated"), "unexpected: "),
        (ComposeFailed("KeyError: 7"), "compose failed: "),
        (SendUnauthorized("Unauthorized"), "unauthorized: "),
    ]:
        first = decide_outcome(error, 0, NOW, policy=policy)
        assert isinstance(first, Retry) and first.counted and first.scope is Scope.MESSAGE
        assert first.at == NOW + timedelta(seconds=2) and first.reason.startswith(prefix)
        assert first.pause is (Pause.GLOBAL if isinstance(error, SendUnauthorized) else None)
        assert isinstance(decide_outcome(error, 2, NOW, policy=policy), Park)


def _follow(
    follow_id: int,
    chat_id: int,
    kind: FollowKind = FollowKind.STORY,
    mode: DeliveryMode = DeliveryMode.INSTANT,
    muted: bool = False,
) -> Follow:
    """A follow of story 1 (or a keyword follow)."""
    story = 1 if kind is FollowKind.STORY else None
    terms = () if kind is FollowKind.STORY else ("port",)
    return Follow(follow_id, chat_id, kind, story_id=story, terms=terms, mode=mode, muted=muted)


def _chat(chat_id: int, *, paused: bool = False, blocked: bool = False) -> Chat:
    """A chat with default settings."""
    return Chat(chat_id, paused=paused, blocked=blocked)


def test_choose_follows_prefers_instant_story_follows() -> None:
    """A story follow beats a keyword follow; digest-only, muted follows and chats that
    muted the story get nothing."""
    follows = [
        _follow(5, 1, FollowKind.KEYWORD),
        _follow(6, 1),
        _follow(7, 2, FollowKind.KEYWORD),
        _follow(8, 3, mode=DeliveryMode.DIGEST),
        _follow(9, 4, muted=True),
        _follow(10, 5, FollowKind.KEYWORD),
    ]
    chosen = choose_follows(follows, muted_chats={5})
    assert {c: f.id for c, f in chosen.items()} == {1: 6, 2: 7}


def test_plan_fanout_rows_and_syndicated_copies() -> None:
    """Paused, blocked and unknown chats get no row; a copy joins a pending original's
    story, and is skipped where the original was already delivered."""
    chosen = {c: _follow(c, c) for c in (1, 2, 3, 4, 5, 6)}
    chats = {
        1: _chat(1),
        2: _chat(2),
        3: _chat(3),
        4: _chat(4, paused=True),
        5: _chat(5, blocked=True),
    }
    live = live_chats(chosen, chats)
    assert live == [1, 2, 3]
    copy = Article(50, None, "https://x.test/copy", "copy", story_id=9, duplicate_of=40)
    originals = {1: (DeliveryState.PENDING, 4), 2: (DeliveryState.SENT, 4)}
    rows = plan_fanout(copy, chosen, live, originals)
    assert [(r.chat_id, r.story_id, r.state, r.note, r.follow_id) for r in rows] == [
        (1, 4, DeliveryState.PENDING, None, 1),
        (2, 9, DeliveryState.SKIPPED, "duplicate", 2),
        (3, 9, DeliveryState.PENDING, None, 3),
    ]
    assert all(r.article_id == 50 for r in rows)
