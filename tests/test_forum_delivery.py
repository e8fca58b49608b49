"""Forum topics in the delivery worker: pushes go into the follow's topic, digests into the
digest topic, and a closed topic falls back to the general topic with one notice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from bot.delivery import DeliveryWorker, FanOut
from bot.domain import Chat, ChatType, Delivery, DeliveryKind, DeliveryState, NewDelivery
from bot.pipeline.outcomes import SendTopicGone
from bot.presentation.message import NO_PREVIEW, Keyboard, LinkPreview, Rendered
from storage.db import Database
from storage.repos.chats import ChatRepo, FollowRepo
from storage.repos.deliveries import DeliveryRepo
from storage.repos.topics import TopicRepo
from tests.delivery_helpers import (
    FakeClock,
    FakeSender,
    compose,
    make_article,
    make_chat,
    make_story,
)

GROUP = -100_500


@dataclass
class ForumSender(FakeSender):
    """A fake sender whose closed topics answer like Telegram does."""

    closed: set[int] = field(default_factory=set)
    refused: list[int | None] = field(default_factory=list)

    async def send(
        self,
        chat_id: int,
        text: str,
        buttons: Keyboard,
        preview: object,
        *,
        html: bool = True,
        thread_id: int | None = None,
    ) -> int:
        """Refuse a send into a closed topic; otherwise record it."""
        if thread_id is not None and thread_id in self.closed:
            self.refused.append(thread_id)
            raise SendTopicGone("Bad Request: message thread not found")
        return await super().send(chat_id, text, buttons, preview, html=html, thread_id=thread_id)


def worker(db: Database, sender: FakeSender, clock: FakeClock, **kw: object) -> DeliveryWorker:
    """A worker on the fake clock with a generous budget."""
    return DeliveryWorker(
        db,
        sender,
        compose,
        clock=clock,
        sleep=clock.sleep,
        max_per_second=1000.0,
        **kw,  # type: ignore[arg-type]
    )


async def forum(db: Database, chat_id: int = GROUP, lang: str = "en") -> None:
    """A forum supergroup."""
    await make_chat(db, chat_id, type=ChatType.SUPERGROUP, language=lang)
    async with db.unit_of_work() as s:
        await TopicRepo(s).set_forum(chat_id, True)


async def states(db: Database, chat_id: int) -> list[DeliveryState]:
    """A chat's outbox states in id order."""
    async with db.unit_of_work() as s:
        return [d.state for d in await DeliveryRepo(s).for_chat(chat_id)]


async def test_pushes_go_into_the_topic_of_the_follow(db: Database) -> None:
    """Each story's push goes into the topic its follow was made in; the general topic's
    follow gets its push without a topic; rows of one story and topic fold into one."""
    await forum(db)
    s1, s2 = await make_story(db, "a"), await make_story(db, "b")
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(GROUP, s1, thread_id=7)
        await FollowRepo(s).follow_story(GROUP, s2)
    await make_article(db, s1, "x1")
    await make_article(db, s1, "x2")
    await make_article(db, s2, "y1")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    clock = FakeClock()
    sender = FakeSender(clock)
    result = await worker(db, sender, clock).run_until_idle()
    assert result.sent == 2 and result.folded == 1
    assert [(m.text, m.thread_id) for m in sender.to(GROUP)] == [
        ("<b>2 new</b>: x1, x2", 7),
        ("<b>1 new</b>: y1", None),
    ]


async def test_a_closed_topic_falls_back_once_and_loses_nothing(db: Database) -> None:
    """Topic 7 is closed: its first message is sent again at once into the general topic,
    the next one goes there directly, the follows and the digest topic forget topic 7, and
    the group gets one notice; later pushes go to the general topic without notices."""
    await forum(db)
    s1, s2 = await make_story(db, "a"), await make_story(db, "b")
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(GROUP, s1, thread_id=7)
        await FollowRepo(s).follow_story(GROUP, s2, thread_id=7)
        await TopicRepo(s).set_digest_thread(GROUP, 7)
    await make_article(db, s1, "x1")
    await make_article(db, s2, "y1")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    clock = FakeClock()
    sender = ForumSender(clock, closed={7})
    result = await worker(db, sender, clock).run_until_idle()
    assert sender.refused == [7]  # the second message did not try the closed topic again
    sent = sender.to(GROUP)
    assert [(m.text, m.thread_id) for m in sent[:1] + sent[2:]] == [
        ("<b>1 new</b>: x1", None),
        ("<b>1 new</b>: y1", None),
    ]
    assert "general topic" in sent[1].text and "admins" in sent[1].text
    assert result.topic_fallbacks == 1 and result.sent == 2 and result.failed == 0
    assert await states(db, GROUP) == [DeliveryState.SENT, DeliveryState.SENT]
    async with db.unit_of_work() as s:
        assert [f.thread_id for f in await FollowRepo(s).for_chat(GROUP)] == [None, None]
        chat = await ChatRepo(s).get(GROUP)
        assert chat is not None and chat.digest_thread_id is None
    await make_article(db, s1, "x2")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    await worker(db, sender, clock).run_until_idle()
    assert [(m.text, m.thread_id) for m in sender.to(GROUP)[3:]] == [("<b>1 new</b>: x2", None)]


async def test_the_closed_topic_notice_is_in_the_groups_language(db: Database) -> None:
    """An Arabic group gets the notice in Arabic."""
    await forum(db, lang="ar")
    story = await make_story(db)
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(GROUP, story, thread_id=3)
    await make_article(db, story, "x1")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    clock = FakeClock()
    sender = ForumSender(clock, closed={3})
    await worker(db, sender, clock).run_until_idle()
    notice = sender.to(GROUP)[1].text
    assert "الموضوع العام" in notice and "مشرفي" in notice


async def test_digests_go_into_the_digest_topic_with_the_preview_on_the_first_part(
    db: Database,
) -> None:
    """A digest goes into the chat's digest topic; a split message's link preview rides on
    its first part only."""
    await forum(db)
    async with db.unit_of_work() as s:
        await TopicRepo(s).set_digest_thread(GROUP, 9)
        await DeliveryRepo(s).enqueue_many(
            [NewDelivery(chat_id=GROUP, kind=DeliveryKind.DIGEST, digest_on=date(2026, 1, 5))],
            FakeClock()(),
        )
    link = LinkPreview(False, "https://news.example/a", above=True)

    async def digest(chat: Chat, row: Delivery) -> Sequence[Rendered]:
        """Two parts, both carrying a preview."""
        return [Rendered("part 1", link=link), Rendered("part 2", link=link)]

    clock = FakeClock()
    sender = FakeSender(clock)
    await worker(db, sender, clock, compose_digest=digest).run_until_idle()
    sent = sender.to(GROUP)
    assert [(m.text, m.thread_id, m.preview) for m in sent] == [
        ("part 1", 9, link),
        ("part 2", 9, NO_PREVIEW),
    ]


async def test_the_plain_fallback_keeps_topic_and_preview(db: Database) -> None:
    """Telegram rejects the HTML: the plain-text retry goes to the same topic, same preview."""
    from bot.pipeline.outcomes import SendBadContent

    await forum(db)
    story = await make_story(db)
    async with db.unit_of_work() as s:
        await FollowRepo(s).follow_story(GROUP, story, thread_id=4)
    await make_article(db, story, "x1")
    await FanOut(db, clock=FakeClock()).run_until_idle()
    link = LinkPreview(False, "https://news.example/x1")

    async def with_link(
        chat: Chat, rows: Sequence[Delivery], articles: Sequence[object]
    ) -> Rendered:
        """The helper composer's message with a preview."""
        return Rendered("<b>x1</b>", plain="x1", link=link)

    clock = FakeClock()
    sender = FakeSender(clock, faults={GROUP: [SendBadContent("can't parse entities")]})
    await DeliveryWorker(
        db,
        sender,
        with_link,
        clock=clock,
        sleep=clock.sleep,
        max_per_second=1000.0,  # type: ignore[arg-type]
    ).run_until_idle()
    assert [(m.text, m.html, m.thread_id, m.preview) for m in sender.to(GROUP)] == [
        ("x1", False, 4, link)
    ]
