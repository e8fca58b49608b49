"""The Telegram sender: one sendMessage per call, Telegram's faults as typed `SendError`s.

Sending goes straight to the Bot API's sendMessage through the bot's request object, with
PTB's own answer handling, so the hot path builds no PTB objects.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from bot.pipeline.outcomes import (
    SendBadContent,
    SendForbidden,
    SendMigrated,
    SendRetryAfter,
    SendTopicGone,
    SendTransient,
    SendUnauthorized,
    SendUnexpected,
)
from bot.presentation.message import Keyboard, LinkPreview, keyboard_json

#: Telegram's 400 answers for a forum topic that is closed or deleted (lower-cased parts).
TOPIC_GONE_MARKS = (
    "message thread not found",
    "topic_closed",
    "topic closed",
    "topic_deleted",
    "topic deleted",
)

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.request import RequestData


class Sender(Protocol):
    """Sends one message and returns its Telegram message id, raising `SendError` subclasses."""

    async def send(
        self,
        chat_id: int,
        text: str,
        buttons: Keyboard,
        preview: LinkPreview | bool,
        *,
        html: bool = True,
        thread_id: int | None = None,
    ) -> int:
        """Send `text` (Telegram HTML when `html`, else plain) to a chat, into forum topic
        `thread_id` when given; `preview` is the link preview (a bool: disabled or not)."""
        ...


class TelegramSender:
    """A `Sender` over a python-telegram-bot `Bot`, mapping its errors to `SendError`s.

    The hot path posts sendMessage through the bot's request object (`BaseRequest.post`)
    with the parameters built here, skipping `Bot.send_message`'s defaults, object
    building and `Message` parsing; status codes still go through PTB's own error mapping,
    so 429/403/400/timeouts raise the same PTB errors as before.
    """

    def __init__(self, bot: Bot, *, retry_after_is_global: bool = False) -> None:
        """Wrap a bot; Telegram does not say whether a 429 is global, so choose here."""
        self.bot = bot
        self.retry_after_is_global = retry_after_is_global

    async def send(
        self,
        chat_id: int,
        text: str,
        buttons: Keyboard,
        preview: LinkPreview | bool,
        *,
        html: bool = True,
        thread_id: int | None = None,
    ) -> int:
        """Send one message (sendMessage) and return its id; every Telegram error is typed."""
        from telegram.error import (
            BadRequest,
            ChatMigrated,
            Forbidden,
            InvalidToken,
            NetworkError,
            RetryAfter,
            TelegramError,
            TimedOut,
        )

        try:
            answer = await self.bot.request.post(
                f"{self.bot.base_url}/sendMessage",
                send_message_data(chat_id, text, buttons, preview, html=html, thread_id=thread_id),
            )
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            raise SendRetryAfter(seconds, self.retry_after_is_global) from exc
        except Forbidden as exc:
            raise SendForbidden(str(exc)) from exc
        except BadRequest as exc:
            lowered = str(exc).lower()
            if thread_id is not None and any(m in lowered for m in TOPIC_GONE_MARKS):
                raise SendTopicGone(str(exc)) from exc
            if "chat not found" in lowered or "kicked" in lowered or "deactivated" in lowered:
                raise SendForbidden(str(exc)) from exc
            raise SendBadContent(str(exc)) from exc
        except (TimedOut, NetworkError) as exc:
            raise SendTransient(str(exc)) from exc
        except ChatMigrated as exc:
            raise SendMigrated(exc.new_chat_id) from exc
        except InvalidToken as exc:
            raise SendUnauthorized(str(exc)) from exc
        except TelegramError as exc:  # Conflict, an unreadable answer, anything newer
            raise SendUnexpected(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(answer, dict) or "message_id" not in answer:
            raise SendTransient(f"unexpected sendMessage answer: {answer!r}"[:300])
        return int(answer["message_id"])


def send_message_data(
    chat_id: int,
    text: str,
    buttons: Keyboard,
    preview: LinkPreview | bool,
    *,
    html: bool,
    thread_id: int | None = None,
) -> RequestData:
    """The sendMessage parameters, as `Bot.send_message` would send them."""
    # RequestParameter is PTB's own parameter encoding, from a private module: PTB is
    # pinned below 23 and tests/test_delivery_sender.py checks the parameters match what
    # Bot.send_message sends.
    from telegram.request import RequestData
    from telegram.request._requestparameter import RequestParameter

    params = [RequestParameter("chat_id", chat_id, None), RequestParameter("text", text, None)]
    if thread_id is not None:
        params.append(RequestParameter("message_thread_id", thread_id, None))
    if html:
        params.append(RequestParameter("parse_mode", "HTML", None))
    markup = keyboard_json(buttons)
    if markup is not None:
        params.append(RequestParameter("reply_markup", markup, None))
    link = LinkPreview(disabled=preview) if isinstance(preview, bool) else preview
    params.append(RequestParameter("link_preview_options", link.options(), None))
    return RequestData(params)
