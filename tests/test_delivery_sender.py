"""TelegramSender's fast sendMessage path over AiohttpRequest against the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from telegram import Bot

from bot.delivery import (
    SendBadContent,
    SendError,
    SendForbidden,
    SendRetryAfter,
    SendTransient,
    TelegramSender,
)
from bot.pipeline.outcomes import SendMigrated, SendTopicGone, SendUnauthorized, SendUnexpected
from bot.presentation.message import LinkPreview
from bot.telegram_request import AiohttpRequest
from tests.fakebotapi import FakeBotAPI, FaultKind

TOKEN = "123456:SENDER"


@dataclass(frozen=True)
class Button:
    """A rendered button."""

    text: str
    data: str | None = None
    url: str | None = None


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """A running fake Bot API (hangs end after 2 s)."""
    async with FakeBotAPI(token=TOKEN, hang_seconds=2.0) as fake:
        yield fake


@pytest.fixture
async def sender(api: FakeBotAPI) -> AsyncIterator[TelegramSender]:
    """A TelegramSender over a real PTB Bot with our transport (short read timeout)."""
    request = AiohttpRequest(connection_pool_size=4, read_timeout=0.3, write_timeout=0.1)
    bot = Bot(TOKEN, base_url=api.base_url, request=request)
    async with bot:
        yield TelegramSender(bot)


async def test_send_reaches_the_api_with_every_field(
    api: FakeBotAPI, sender: TelegramSender
) -> None:
    """HTML text, buttons and the preview switch arrive; the answer's message id comes back."""
    buttons = [[Button("Open", url="https://news.example/a")], [Button("Follow", data="fs:9")]]
    first = await sender.send(501, "<b>خبر</b> &amp; news", buttons, True)
    second = await sender.send(501, "plain <b>", [], False, html=False)
    assert second == first + 1
    one, two = api.sent_to(501)
    assert (one.message_id, one.text, one.parse_mode) == (first, "<b>خبر</b> &amp; news", "HTML")
    assert one.reply_markup == {
        "inline_keyboard": [
            [{"text": "Open", "url": "https://news.example/a"}],
            [{"text": "Follow", "callback_data": "fs:9"}],
        ]
    }
    assert one.link_preview_options == {"is_disabled": True}
    assert (two.text, two.parse_mode, two.reply_markup) == ("plain <b>", None, None)
    assert two.link_preview_options == {"is_disabled": False}


@pytest.mark.parametrize(
    ("kind", "description", "expected"),
    [
        ("retry_after", None, SendRetryAfter),
        ("blocked", None, SendForbidden),
        ("blocked", "Forbidden: bot was kicked from the group chat", SendForbidden),
        ("parse", None, SendBadContent),
        ("parse", "Bad Request: chat not found", SendForbidden),
        ("server_error", None, SendTransient),
        ("bad_gateway", None, SendTransient),
        ("hang", None, SendTransient),
        ("migrated", None, SendMigrated),
        ("unauthorized", None, SendUnauthorized),
        ("conflict", None, SendUnexpected),
        ("garbage", None, SendUnexpected),
    ],
)
async def test_api_faults_map_to_send_errors(
    api: FakeBotAPI,
    sender: TelegramSender,
    kind: FaultKind,
    description: str | None,
    expected: type[SendError],
) -> None:
    """Each Bot API fault raises its typed error; nothing is recorded as sent."""
    api.add_fault(
        kind,
        method="sendMessage",
        chat_id=77,
        retry_after=3,
        description=description,
        migrate_to=-1077,
    )
    with pytest.raises(expected) as info:
        await sender.send(77, "<b>x</b>", [], True)
    assert not api.sent_to(77)
    if isinstance(info.value, SendRetryAfter):
        assert info.value.seconds == 3.0 and not info.value.is_global
    if isinstance(info.value, SendMigrated):
        assert info.value.new_chat_id == -1077
    assert await sender.send(77, "<b>x</b>", [], True) > 0  # the fault was used up


async def test_bad_html_is_rejected_by_the_api(sender: TelegramSender) -> None:
    """Unbalanced tags are a 400 from the API itself, mapped to SendBadContent."""
    with pytest.raises(SendBadContent):
        await sender.send(88, "<b>open", [], True)


@pytest.mark.parametrize("thread", [None, 7])
@pytest.mark.parametrize(
    "preview",
    [
        LinkPreview(),
        LinkPreview(disabled=False),
        LinkPreview(False, "https://news.example/a", above=True, large_media=True),
        LinkPreview(False, "https://news.example/b"),
    ],
)
async def test_parameters_match_bot_send_message(thread: int | None, preview: LinkPreview) -> None:
    """send_message_data sends what Bot.send_message sends for the same message: topic, link
    preview options, keyboard, parse mode."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions

    from bot.delivery import send_message_data
    from bot.demo import DEMO_TOKEN, LocalBotApi
    from bot.presentation.message import Button as Btn

    api = LocalBotApi()
    bot = Bot(DEMO_TOKEN, request=api)
    async with bot:
        await bot.send_message(
            -100,
            "<b>x</b>",
            parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="fs:1")]]),
            link_preview_options=LinkPreviewOptions(
                is_disabled=preview.disabled if preview.url is None else None,
                url=preview.url,
                show_above_text=preview.above or None,
                prefer_large_media=preview.large_media or None,
            ),
            message_thread_id=thread,
        )
    ours = send_message_data(
        -100, "<b>x</b>", ((Btn("Go", "fs:1"),),), preview, html=True, thread_id=thread
    )
    expected = {k: v for k, v in api.calls[-1].params.items()}
    assert dict(ours.parameters) == expected


async def test_a_closed_topic_is_its_own_error(api: FakeBotAPI, sender: TelegramSender) -> None:
    """400 "message thread not found" for a send into a topic is SendTopicGone; the message
    then goes to the general topic; the same words without a topic stay bad content."""
    api.close_topic(-1005, 7)
    with pytest.raises(SendTopicGone):
        await sender.send(-1005, "<b>x</b>", [], LinkPreview(), thread_id=7)
    assert await sender.send(-1005, "<b>x</b>", [], LinkPreview(False, "https://n.example/a")) > 0
    sent = api.sent_to(-1005)
    assert [(m.message_thread_id, m.link_preview_options) for m in sent] == [
        (None, {"url": "https://n.example/a"})
    ]
    api.add_fault(
        "parse", method="sendMessage", chat_id=-1006, description="Bad Request: TOPIC_CLOSED"
    )
    with pytest.raises(SendBadContent):
        await sender.send(-1006, "<b>x</b>", [], True)
    assert await sender.send(-1005, "<b>y</b>", [], True, thread_id=8) > 0
    assert api.sent_to(-1005)[-1].message_thread_id == 8
