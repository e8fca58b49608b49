"""Pure fan-out decisions: which chats get an article, and the outbox row each one gets.

The delivery service reads the follows, chats and earlier deliveries; these functions
decide, on plain data:

- `choose_follows`: per chat, the follow a push is attributed to (an instant story follow
  first, else any instant one). Digest-only follows create no instant row (the digest
  covers them), and neither do muted follows or chats that muted the article's story.
- `without_chats`: the choice less the chats whose mutes hide the article (they get no
  row, as chats that muted the story get none; `bot.pipeline.mutes` decides which).
- `live_chats`: the chosen chats that exist and are neither paused nor blocked.
- `plan_fanout`: one row per live chat. A syndicated copy (``duplicate_of`` set) is
  enqueued as SKIPPED ("duplicate") for chats that already got the original; for chats
  whose original is still pending it takes the original's story, so both go in one
  message ("also: Source B"). Chats that never got the original get the copy as a push.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bot.domain import (
    Article,
    Chat,
    DeliveryKind,
    DeliveryMode,
    DeliveryState,
    Follow,
    FollowKind,
    NewDelivery,
)

# The state and story of the original's delivery to a chat, for a syndicated copy.
Original = tuple[DeliveryState, int | None]


def attributed_follow(follows: Sequence[Follow]) -> Follow | None:
    """The follow a push is attributed to: an instant story follow first, else any instant one."""
    instant = [f for f in follows if f.mode == DeliveryMode.INSTANT and not f.muted]
    instant.sort(key=lambda f: (f.kind != FollowKind.STORY, f.id))
    return instant[0] if instant else None


def choose_follows(follows: Iterable[Follow], muted_chats: set[int]) -> dict[int, Follow]:
    """Per chat owed an instant push, the follow it is attributed to (muted chats left out)."""
    by_chat: dict[int, list[Follow]] = {}
    for follow in follows:
        if follow.chat_id not in muted_chats:
            by_chat.setdefault(follow.chat_id, []).append(follow)
    return {c: f for c, fs in by_chat.items() if (f := attributed_follow(fs)) is not None}


def without_chats(chosen: Mapping[int, Follow], hidden: set[int]) -> dict[int, Follow]:
    """The chosen follows of every chat not in `hidden` (chats whose mutes hide the article)."""
    return {c: f for c, f in chosen.items() if c not in hidden}


def live_chats(chosen: Iterable[int], chats: Mapping[int, Chat]) -> list[int]:
    """The chats that exist and are neither paused nor blocked, in the order given."""
    return [c for c in chosen if c in chats and not chats[c].paused and not chats[c].blocked]


def fanout_row(article: Article, follow: Follow, original: Original | None) -> NewDelivery:
    """The outbox row for one chat (a copy of something already delivered is skipped)."""
    story_id = article.story_id
    state, note = DeliveryState.PENDING, None
    if original is not None:
        orig_state, orig_story = original
        if orig_state in (DeliveryState.PENDING, DeliveryState.CLAIMED):
            story_id = orig_story if orig_story is not None else story_id
        else:
            state, note = DeliveryState.SKIPPED, "duplicate"
    return NewDelivery(
        chat_id=follow.chat_id,
        kind=DeliveryKind.ARTICLE,
        article_id=article.id,
        story_id=story_id,
        follow_id=follow.id,
        state=state,
        note=note,
        thread_id=follow.thread_id,
    )


def plan_fanout(
    article: Article,
    chosen: Mapping[int, Follow],
    live: Sequence[int],
    originals: Mapping[int, Original],
) -> list[NewDelivery]:
    """The rows one article owes: one per live chat, each attributed to its chosen follow."""
    return [fanout_row(article, chosen[c], originals.get(c)) for c in live]
