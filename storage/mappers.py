"""Row ↔ domain conversions: the only place ORM objects turn into dataclasses and back."""

from __future__ import annotations

from typing import Any

from bot import domain as d
from bot.pipeline.storable import (
    storable_key,
    storable_key_optional,
    storable_optional,
    storable_text,
)
from storage import models as m


def to_source(row: m.SourceRow) -> d.Source:
    """Map a source row."""
    return d.Source(
        id=row.id,
        name=row.name,
        url=row.url,
        kind=d.SourceKind(row.kind),
        lang=row.lang,
        poll_seconds=row.poll_seconds,
        enabled=row.enabled,
        paused=row.paused,
        fetch_full_pages=row.fetch_full_pages,
        etag=row.etag,
        last_modified=row.last_modified,
        next_poll_at=row.next_poll_at,
        last_polled_at=row.last_polled_at,
        error_count=row.error_count,
        last_error=row.last_error,
        created_at=row.created_at,
        name_auto=row.name_auto,
        last_success_at=row.last_success_at,
    )


def to_article(
    row: m.ArticleRow, source_name: str | None = None, *, with_text: bool = True
) -> d.Article:
    """Map an article row (optionally with its source's name; the body left empty when it
    was not read)."""
    return d.Article(
        id=row.id,
        source_id=row.source_id,
        url=row.url,
        title=row.title,
        lede=row.lede,
        text=row.text if with_text else "",
        lang=row.lang,
        guid=row.guid,
        published_at=row.published_at,
        fetched_at=row.fetched_at,
        content_hash=row.content_hash,
        fingerprint=row.fingerprint,
        story_id=row.story_id,
        duplicate_of=row.duplicate_of,
        image_caption=row.image_caption,
        source_name=source_name,
        image_url=row.image_url,
        summary=tuple(s for s in (row.summary or "").split("\n") if s),
    )


def article_columns(draft: d.ArticleDraft) -> dict[str, Any]:
    """The stored form of a draft's content columns (storable on every engine).

    No NUL or lone surrogate in any text, identity keys bounded (see
    `bot.pipeline.storable`), the summary's sentences joined by newlines. Times and the
    story are left to the caller (an insert defaults them, an update keeps them).
    """
    return {
        "url": storable_key(draft.url),
        "title": storable_text(draft.title),
        "lede": storable_text(draft.lede),
        "text": storable_text(draft.text),
        "lang": storable_text(draft.lang),
        "guid": storable_key_optional(draft.guid),
        "source_id": draft.source_id,
        "content_hash": storable_optional(draft.content_hash),
        "fingerprint": draft.fingerprint,
        "duplicate_of": draft.duplicate_of,
        "image_caption": storable_optional(draft.image_caption),
        "image_url": storable_optional(draft.image_url),
        "summary": "\n".join(storable_text(s).replace("\n", " ") for s in draft.summary),
        "search_text": storable_text(draft.search_text),
        "fanned_out": draft.fanned_out,
    }


def to_story(row: m.StoryRow) -> d.Story:
    """Map a story row."""
    return d.Story(
        id=row.id,
        label=row.label,
        article_count=row.article_count,
        source_count=row.source_count,
        languages=tuple(x for x in row.languages.split(",") if x),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        closed=row.closed,
    )


def to_chat(row: m.ChatRow) -> d.Chat:
    """Map a chat row."""
    return d.Chat(
        id=row.id,
        type=d.ChatType(row.type),
        title=row.title,
        language=row.language,
        timezone=row.timezone,
        digest_time=row.digest_time,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        quiet_mode=d.QuietMode(row.quiet_mode),
        empty_digest=row.empty_digest,
        paused=row.paused,
        blocked=row.blocked,
        last_digest_on=row.last_digest_on,
        created_at=row.created_at,
        news_langs=row.news_langs,
        is_forum=row.is_forum,
        digest_thread_id=row.digest_thread_id,
        preview=d.PreviewMode(row.preview or d.PreviewMode.BELOW),
        managed_by=row.managed_by,
    )


def to_follow(row: m.FollowRow) -> d.Follow:
    """Map a follow row."""
    return d.Follow(
        id=row.id,
        chat_id=row.chat_id,
        kind=d.FollowKind(row.kind),
        story_id=row.story_id,
        query=row.query,
        terms=tuple((row.terms or "").split()),
        mode=d.DeliveryMode(row.mode),
        muted=row.muted,
        created_at=row.created_at,
        thread_id=row.thread_id,
    )


def to_delivery(row: m.DeliveryRow) -> d.Delivery:
    """Map an outbox row."""
    return d.Delivery(
        id=row.id,
        chat_id=row.chat_id,
        kind=d.DeliveryKind(row.kind),
        state=d.DeliveryState(row.state),
        article_id=row.article_id,
        story_id=row.story_id,
        follow_id=row.follow_id,
        digest_on=row.digest_on,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        claimed_by=row.claimed_by,
        claim_until=row.claim_until,
        message_id=row.message_id,
        folded_into_id=row.folded_into_id,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
        thread_id=row.thread_id,
    )


def to_mute(row: m.MuteRow, source_name: str | None = None) -> d.Mute:
    """Map a mute row (optionally with its source's name)."""
    return d.Mute(
        id=row.id,
        chat_id=row.chat_id,
        kind=d.MuteKind(row.kind),
        query=row.query,
        terms=tuple((row.terms or "").split()),
        source_id=row.source_id,
        source_name=source_name,
        created_at=row.created_at,
    )


def to_notice(row: m.NoticeRow) -> d.OperatorNotice:
    """Map a notice row."""
    return d.OperatorNotice(
        id=row.id, text=row.text, source_id=row.source_id, created_at=row.created_at, seen=row.seen
    )
