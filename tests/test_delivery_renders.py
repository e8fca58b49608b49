"""Identical pushes are rendered once (`bot.pushes.PushComposer`, issue #11): a fan-out's
chats that share the inputs of a render share the render; any differing input renders anew."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import pushes
from bot.domain import Article, Chat, Delivery, DeliveryKind, DeliveryState, PreviewMode
from bot.presentation.message import Rendered
from bot.pushes import CONTEXT_TTL_S, PushComposer


class NoRelated:
    """A story service with no related headlines (so composing reads no database)."""

    async def related(self, article: Article, limit: int) -> list[Article]:
        """Nothing related."""
        return []


def article(n: int, title: str = "Port strike enters its second day") -> Article:
    """An article of no story."""
    return Article(
        id=n,
        source_id=None,
        url=f"https://news.test/{n}",
        title=title,
        published_at=datetime(2026, 5, 14, 12, 5, tzinfo=UTC),
        summary=("Dock workers stayed out.",),
    )


def row(n: int, chat_id: int, article_id: int) -> Delivery:
    """An article row owed to a chat."""
    return Delivery(n, chat_id, DeliveryKind.ARTICLE, DeliveryState.CLAIMED, article_id=article_id)


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The headlines `render_push` was called for, in order."""
    seen: list[str] = []
    real = pushes.render_push

    def counted(lang: str, tz: str, item: Article, *args: object, **kwargs: object) -> Rendered:
        seen.append(item.title)
        return real(lang, tz, item, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pushes, "render_push", counted)
    return seen


async def test_chats_with_the_same_settings_share_one_render(renders: list[str]) -> None:
    """A thousand chats owed the same article with the same settings: one render, and each
    gets the same message."""
    composer = PushComposer(db=None, stories=NoRelated())  # type: ignore[arg-type]
    items = [article(1)]
    first = await composer.compose(Chat(id=1), [row(1, 1, 1)], items)
    for chat_id in range(2, 1001):
        again = await composer.compose(Chat(id=chat_id), [row(chat_id, chat_id, 1)], items)
        assert again == first
    assert renders == ["Port strike enters its second day"]


async def test_a_different_input_renders_anew(
    renders: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Language, timezone, preview setting, the article's content and a re-read context each
    give their own render, and each render is what composing alone would give."""
    now = [1000.0]
    monkeypatch.setattr(pushes.time, "monotonic", lambda: now[0])
    composer = PushComposer(db=None, stories=NoRelated())  # type: ignore[arg-type]
    chats = [
        Chat(id=1),
        Chat(id=2, language="ar"),
        Chat(id=3, timezone="Asia/Riyadh"),
        Chat(id=4, preview=PreviewMode.OFF),
    ]
    got = [await composer.compose(c, [row(c.id, c.id, 1)], [article(1)]) for c in chats]
    alone = [
        await PushComposer(db=None, stories=NoRelated()).compose(  # type: ignore[arg-type]
            c, [row(c.id, c.id, 1)], [article(1)]
        )
        for c in chats
    ]
    assert got == alone
    again = [await composer.compose(c, [row(c.id, c.id, 1)], [article(1)]) for c in chats]
    assert again == got
    assert len({(r.text, r.link) for r in got}) == 4
    assert "15:05" in got[2].text and "12:05" in got[0].text
    edited = await composer.compose(Chat(id=5), [row(5, 5, 1)], [article(1, "Port strike ends")])
    assert "Port strike ends" in edited.text
    now[0] += CONTEXT_TTL_S
    await composer.compose(Chat(id=6), [row(6, 6, 1)], [article(1)])
    assert len(renders) == 4 + 4 + 1 + 1


async def test_renders_of_expired_contexts_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Renders are keyed by when their context was read; once it has expired they can never
    be asked for again, and the next context read drops them (they do not wait for 512)."""
    now = [1000.0]
    monkeypatch.setattr(pushes.time, "monotonic", lambda: now[0])
    composer = PushComposer(db=None, stories=NoRelated())  # type: ignore[arg-type]
    for n in range(1, 6):
        await composer.compose(Chat(id=n), [row(n, n, n)], [article(n)])
    assert composer.renders_kept == 5
    now[0] += CONTEXT_TTL_S
    await composer.compose(Chat(id=9), [row(9, 9, 9)], [article(9)])
    assert composer.renders_kept == 1
