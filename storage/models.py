"""SQLAlchemy 2 typed models. Only `storage/` sees these; repositories map them to domain objects."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: identical on SQLite and PostgreSQL."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to naive UTC (naive values are taken as UTC)."""
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to a stored naive value."""
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Current aware UTC time."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime, date: Date, time: Time}


class SourceRow(Base):
    """A polled news source and its fetch state."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="unknown")
    lang: Mapped[str | None] = mapped_column(String(8))
    poll_seconds: Mapped[int] = mapped_column(Integer, default=300)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    fetch_full_pages: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(Text)  # any length a server sends (revision 0003)
    last_modified: Mapped[str | None] = mapped_column(Text)
    next_poll_at: Mapped[datetime | None] = mapped_column(index=True)
    last_polled_at: Mapped[datetime | None]
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claim_until: Mapped[datetime | None]
    meta: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # True while `name` is a stand-in (the host): the feed's own title replaces it (revision 0007).
    name_auto: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_success_at: Mapped[datetime | None]  # the last fetch that worked (revision 0007)


class StoryRow(Base):
    """A story topic; `state` holds the clusterer's persisted state for an active story."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(Text, default="")
    article_count: Mapped[int] = mapped_column(Integer, default=0)
    source_count: Mapped[int] = mapped_column(Integer, default=0)
    languages: Mapped[str] = mapped_column(String(32), default="")
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[dict[str, Any] | None]


class ArticleRow(Base):
    """A stored article; `search_text` is its matching form for full-text search.

    On PostgreSQL the table also holds `search_tsv`, the stored generated tsvector of
    `search_text` (revision 0002), left unmapped: the database fills it in, only
    `storage.repos.search` reads it, and `storage.fts` keeps it out of autogenerate.
    """

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("source_id", "guid"),
        Index("ix_articles_story_id_published_at", "story_id", "published_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    guid: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(Text, default="")
    lede: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    lang: Mapped[str] = mapped_column(String(8), default="en")
    published_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    image_caption: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)  # sentences joined by "\n"
    search_text: Mapped[str] = mapped_column(Text, default="")
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    meta: Mapped[dict[str, Any] | None]
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # int8 vector (revision 0005)
    image_url: Mapped[str | None] = mapped_column(Text)  # the lead image (revision 0007)


class ChatRow(Base):
    """A Telegram chat and its settings."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(16), default="private")
    title: Mapped[str | None] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    digest_time: Mapped[time] = mapped_column(default=time(8, 0))
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]
    quiet_mode: Mapped[str] = mapped_column(String(16), default="hold")
    empty_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_digest_on: Mapped[date | None]
    next_digest_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    news_langs: Mapped[str | None] = mapped_column(String(8))  # ar / en / both (revision 0005)
    # The process that alone may send to the chat until `paced_until` (revision 0006).
    paced_by: Mapped[str | None] = mapped_column(String(100))
    paced_until: Mapped[datetime | None]
    # Revision 0007: forum groups, link previews, channels.
    is_forum: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    digest_thread_id: Mapped[int | None] = mapped_column(BigInteger)  # forum topic for digests
    preview: Mapped[str | None] = mapped_column(String(8))  # below / above / off (None: below)
    managed_by: Mapped[int | None] = mapped_column(BigInteger, index=True)  # a channel's admin


class FollowRow(Base):
    """A chat's follow of a story or a keyword query."""

    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("chat_id", "story_id"),
        UniqueConstraint("chat_id", "terms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), index=True
    )
    query: Mapped[str | None] = mapped_column(String(500))
    terms: Mapped[str | None] = mapped_column(String(1000))  # space-separated matching terms
    mode: Mapped[str] = mapped_column(String(16), default="instant")
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)  # forum topic (revision 0007)


class MuteRow(Base):
    """A chat's mute of a word query or of a source (revision 0007)."""

    __tablename__ = "mutes"
    __table_args__ = (
        UniqueConstraint("chat_id", "terms"),
        UniqueConstraint("chat_id", "source_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # word / source
    query: Mapped[str | None] = mapped_column(String(500))  # as the user typed it
    terms: Mapped[str | None] = mapped_column(String(1000))  # space-separated matching terms
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryRow(Base):
    """The outbox: one message owed to a chat. Unique per chat and article, per chat and digest day."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("chat_id", "article_id"),
        UniqueConstraint("chat_id", "digest_on"),
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_deliveries_chat_id_state", "chat_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="article")
    state: Mapped[str] = mapped_column(String(16), default="pending")
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    story_id: Mapped[int | None] = mapped_column(Integer)
    follow_id: Mapped[int | None] = mapped_column(Integer)
    digest_on: Mapped[date | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claim_until: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    folded_into_id: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)  # forum topic (revision 0007)


class StoryLinkRow(Base):
    """Two stories (lower id first) reporting one event in two languages (revision 0005)."""

    __tablename__ = "story_links"

    story_a: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    story_b: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    score: Mapped[float] = mapped_column(Float)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallbackTokenRow(Base):
    """Long callback payloads (a search query) kept server-side behind a short integer token."""

    __tablename__ = "callback_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeRow(Base):
    """An operator notice (paused source, parked deliveries)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    seen: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeaseRow(Base):
    """A named lease (e.g. the long-polling receiver) held by one process until it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class SendBudgetRow(Base):
    """A send budget's clock: its next free send slot, in epoch seconds (revision 0006)."""

    __tablename__ = "send_budget"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_free: Mapped[float] = mapped_column(Float)


class AppStateRow(Base):
    """A named value the bot keeps for itself across restarts and processes (revision 0004),
    e.g. the generated webhook secret, so every process answers Telegram with the same one."""

    __tablename__ = "app_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
