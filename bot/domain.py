"""Domain language of Akhbar: frozen dataclasses that cross every layer boundary.

No ORM object ever leaves `storage/`; repositories return these instead.
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

Clock = Callable[[], datetime]
DIGEST_WINDOW = timedelta(hours=24)  # what a daily digest covers


def utc_now() -> datetime:
    """The real clock: the current aware UTC time."""
    return datetime.now(UTC)


SUPPORTED_LANGUAGES = ("en", "ar")


def normalize_lang(lang: str | None) -> str:
    """Map any value to a supported interface language (unknown → English)."""
    return lang if lang in SUPPORTED_LANGUAGES else "en"


def pick_language(telegram_language_code: str | None, default: str = "en") -> str:
    """Choose the interface language from Telegram's IETF code ("ar", "ar-EG", "en-US")."""
    fallback = normalize_lang(default)
    if not telegram_language_code:
        return fallback
    primary = telegram_language_code.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in SUPPORTED_LANGUAGES else fallback


class SourceKind(enum.StrEnum):
    """What a source URL serves."""

    UNKNOWN = "unknown"
    FEED = "feed"
    PAGE = "page"


class ChatType(enum.StrEnum):
    """Telegram chat types we serve."""

    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"


class FollowKind(enum.StrEnum):
    """What a follow points at."""

    STORY = "story"
    KEYWORD = "keyword"


class DeliveryMode(enum.StrEnum):
    """How a follow delivers: each article at once, or only in the daily digest."""

    INSTANT = "instant"
    DIGEST = "digest"


class QuietMode(enum.StrEnum):
    """What happens to pushes that fall in quiet hours."""

    HOLD = "hold"  # send when quiet hours end
    DIGEST = "digest"  # fold into the next digest instead


class MuteKind(enum.StrEnum):
    """What a mute hides: articles matching a word query, or one source's articles."""

    WORD = "word"
    SOURCE = "source"


class PreviewMode(enum.StrEnum):
    """Where a push shows its article's link preview (the chat's setting)."""

    BELOW = "below"
    ABOVE = "above"
    OFF = "off"


class DeliveryKind(enum.StrEnum):
    """What an outbox row carries."""

    ARTICLE = "article"
    DIGEST = "digest"


class DeliveryState(enum.StrEnum):
    """Life cycle of an outbox row."""

    PENDING = "pending"  # owed, waiting for next_attempt_at
    CLAIMED = "claimed"  # a worker holds it until claim_until
    SENT = "sent"  # delivered (message_id recorded)
    FOLDED = "folded"  # delivered inside another row's message (folded_into_id)
    SKIPPED = "skipped"  # not sent on purpose (muted, digest-only, chat blocked...)
    FAILED = "failed"  # parked after too many errors; retryable by an operator


@dataclass(frozen=True, slots=True)
class Source:
    """A news source: a feed or a page we poll."""

    id: int
    name: str
    url: str
    kind: SourceKind = SourceKind.UNKNOWN
    lang: str | None = None
    poll_seconds: int = 300
    enabled: bool = True
    paused: bool = False
    fetch_full_pages: int = 0  # how many summary-only items per poll may fetch their page
    etag: str | None = None
    last_modified: str | None = None
    next_poll_at: datetime | None = None
    last_polled_at: datetime | None = None
    error_count: int = 0
    last_error: str | None = None
    created_at: datetime | None = None
    name_auto: bool = False  # the name is the host until the feed's own title is known
    last_success_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """One stored news article."""

    id: int
    source_id: int | None
    url: str  # canonical URL
    title: str
    lede: str = ""
    text: str = ""
    lang: str = "en"
    guid: str | None = None
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    content_hash: str | None = None
    fingerprint: int | None = None  # 64-bit SimHash of the matching form (signed)
    story_id: int | None = None
    duplicate_of: int | None = None  # the original this syndicated copy repeats
    image_caption: str | None = None
    source_name: str | None = None  # filled by queries that join sources
    image_url: str | None = None  # the lead image, when the feed or page gives one
    summary: tuple[str, ...] = ()  # extractive summary sentences, if computed


@dataclass(frozen=True, slots=True)
class ArticleDraft:
    """An article as ingest normalised it, before it has an id (storage maps it to a row)."""

    url: str  # canonical URL
    title: str
    lede: str = ""
    text: str = ""
    lang: str = "en"
    guid: str | None = None
    source_id: int | None = None
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    content_hash: str | None = None
    fingerprint: int | None = None
    image_caption: str | None = None
    image_url: str | None = None
    summary: Sequence[str] = ()
    search_text: str = ""
    duplicate_of: int | None = None
    fanned_out: bool = False
    story_id: int | None = None  # set on insert only; an update keeps the stored story
    # The leading sentences of `text` that the story clusterer reads (None: all of it), so
    # a megabyte-long text is not analysed again where the stories are assigned.
    cluster_text: str | None = None


@dataclass(frozen=True, slots=True)
class Story:
    """A detected story topic: a cluster of articles about one event."""

    id: int
    label: str
    article_count: int = 0
    source_count: int = 0
    languages: tuple[str, ...] = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    closed: bool = False


@dataclass(frozen=True, slots=True)
class Chat:
    """A Telegram chat (private, group or channel) we serve, with its settings."""

    id: int  # Telegram chat id
    type: ChatType = ChatType.PRIVATE
    title: str | None = None
    language: str = "en"
    timezone: str = "UTC"
    digest_time: time = time(8, 0)
    quiet_start: time | None = None
    quiet_end: time | None = None
    quiet_mode: QuietMode = QuietMode.HOLD
    empty_digest: bool = False  # send a digest even when there is nothing new
    paused: bool = False  # /stop
    blocked: bool = False  # Telegram said 403
    last_digest_on: date | None = None  # local date of the last digest sent
    created_at: datetime | None = None
    news_langs: str | None = (
        None  # "ar", "en" or "both"; None: the default (see bot.pipeline.newslangs)
    )
    is_forum: bool = False  # a supergroup organised in forum topics
    digest_thread_id: int | None = None  # the forum topic digests go to (None: general)
    preview: PreviewMode = PreviewMode.BELOW  # the article's link preview on pushes
    managed_by: int | None = None  # a connected channel: the admin who connected it


@dataclass(frozen=True, slots=True)
class Follow:
    """A chat's subscription to a story or a keyword query."""

    id: int
    chat_id: int
    kind: FollowKind
    story_id: int | None = None
    query: str | None = None  # the keyword text as the user typed it
    terms: tuple[str, ...] = ()  # matching-form terms of the query (all must match)
    mode: DeliveryMode = DeliveryMode.INSTANT
    muted: bool = False
    created_at: datetime | None = None
    thread_id: int | None = None  # the forum topic the follow was made in


@dataclass(frozen=True, slots=True)
class Mute:
    """A chat's mute: articles matching all of `terms`, or from `source_id`, are not shown."""

    id: int
    chat_id: int
    kind: MuteKind
    query: str | None = None  # the words as the user typed them
    terms: tuple[str, ...] = ()  # matching-form terms (all must match, as for keyword follows)
    source_id: int | None = None
    source_name: str | None = None  # filled by queries that join sources
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row: a message owed to a chat."""

    id: int
    chat_id: int
    kind: DeliveryKind
    state: DeliveryState
    article_id: int | None = None
    story_id: int | None = None
    follow_id: int | None = None
    digest_on: date | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    claimed_by: str | None = None
    claim_until: datetime | None = None
    message_id: int | None = None
    folded_into_id: int | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None
    thread_id: int | None = None  # forum topic to send into (None: the chat itself)


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """An outbox row to enqueue (ids and timestamps are filled by the database)."""

    chat_id: int
    kind: DeliveryKind = DeliveryKind.ARTICLE
    article_id: int | None = None
    story_id: int | None = None
    follow_id: int | None = None
    digest_on: date | None = None
    state: DeliveryState = DeliveryState.PENDING
    next_attempt_at: datetime | None = None
    note: str | None = None  # stored in last_error (why a row was enqueued as skipped)
    thread_id: int | None = None  # forum topic to send into


@dataclass(frozen=True, slots=True)
class OperatorNotice:
    """Something the operator should know (a paused source, a failing delivery)."""

    id: int
    text: str
    source_id: int | None = None
    created_at: datetime | None = None
    seen: bool = False


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: an article and its relevance score."""

    article: Article
    score: float


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of search results grouped by story."""

    query: str
    groups: tuple[tuple[Story | None, tuple[Article, ...]], ...]
    page: int
    has_more: bool
    total_hint: int = 0


@dataclass(frozen=True, slots=True)
class Stats:
    """Operational figures for /stats and `akhbar status`."""

    sources_total: int = 0
    sources_paused: int = 0
    sources_failing: int = 0
    articles_total: int = 0
    stories_total: int = 0
    chats_total: int = 0
    chats_blocked: int = 0
    follows_total: int = 0
    queue: dict[str, int] = field(default_factory=dict)  # delivery state -> count
    sent_last_hour: int = 0
    failed_last_hour: int = 0
