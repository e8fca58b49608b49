"""A local fake Telegram Bot API server for tests and benchmarks (HTTP on 127.0.0.1).

In-process::

    async with FakeBotAPI() as api:
        bot = telegram.Bot("123:abc", base_url=api.base_url)
        api.push_message(42, "/start")
        sent = await api.wait_for_sends(1)

As a subprocess (``python -m tests.fakebotapi --port 0`` prints ``PORT <n>``), driven
through :class:`ControlClient` or :func:`spawn`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from aiohttp import web
from aiohttp.web_request import FileField

JSONDict = dict[str, Any]
FaultKind = Literal[
    "retry_after",
    "blocked",
    "parse",
    "server_error",
    "bad_gateway",
    "hang",
    "migrated",  # 400 with parameters.migrate_to_chat_id (PTB: ChatMigrated)
    "unauthorized",  # 401 (PTB: InvalidToken)
    "conflict",  # 409 (PTB: Conflict)
    "garbage",  # 200 with a body that is not JSON (PTB: a bare TelegramError)
]

HOST = "127.0.0.1"
BOT_ID = 7000000001
SEND_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "sendAnimation", "sendVideo", "sendAudio"}
)
LIMITED_METHODS = SEND_METHODS | {"editMessageText", "editMessageReplyMarkup"}
INT_FIELDS = frozenset(
    {
        "offset",
        "limit",
        "timeout",
        "message_id",
        "user_id",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
        "max_connections",
    }
)
BOOL_FIELDS = frozenset(
    {
        "disable_web_page_preview",
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "allow_sending_without_reply",
    }
)
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "link_preview_options",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "allowed_updates",
        "reply_parameters",
    }
)
HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "blockquote",
    }
)
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


class GarbageAnswer(Exception):
    """An injected answer that is not Telegram's JSON envelope at all."""


class ApiError(Exception):
    """An error answer in Telegram's envelope."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class SentMessage:
    """One recorded outgoing call (a send or an edit) made by the bot."""

    method: str
    chat_id: int | str
    message_id: int
    text: str | None
    parse_mode: str | None
    reply_markup: JSONDict | None
    link_preview_options: JSONDict | None
    disable_web_page_preview: bool | None
    at: float
    params: JSONDict = field(repr=False)
    message_thread_id: int | None = None  # the forum topic it was sent into


@dataclass
class Fault:
    """An injected failure for one method (or ``*``), optionally for one chat."""

    kind: FaultKind
    method: str = "*"
    chat_id: int | str | None = None
    times: int | None = 1
    retry_after: int = 1
    description: str | None = None
    hits: int = 0
    migrate_to: int | None = None  # the new chat id a "migrated" fault names

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        """Whether this fault applies to a call."""
        if self.method not in ("*", method):
            return False
        return self.chat_id is None or self.chat_id == chat_id


@dataclass
class LimitConfig:
    """Telegram-like flood limits: counts allowed per sliding window."""

    global_count: int = 30
    global_window: float = 1.0
    private_count: int = 1
    private_window: float = 1.0
    group_count: int = 20
    group_window: float = 60.0


class LimitEnforcer:
    """Answers 429 when sends exceed global, per-private-chat or per-group windows."""

    def __init__(self, config: LimitConfig | None = None) -> None:
        self.config = config or LimitConfig()
        self.rejected = 0
        self._global: deque[float] = deque()
        self._chats: dict[int | str, deque[float]] = {}

    def check(self, chat_id: int | str, is_group: bool, now: float) -> int | None:
        """Record a send if allowed; otherwise count it and return ``retry_after`` seconds."""
        cfg = self.config
        chat_count, chat_window = (
            (cfg.group_count, cfg.group_window)
            if is_group
            else (cfg.private_count, cfg.private_window)
        )
        chat_q = self._chats.setdefault(chat_id, deque())
        wait = max(
            _window_wait(self._global, cfg.global_count, cfg.global_window, now),
            _window_wait(chat_q, chat_count, chat_window, now),
        )
        if wait > 0:
            self.rejected += 1
            return max(1, math.ceil(wait))
        self._global.append(now)
        chat_q.append(now)
        return None


def _window_wait(q: deque[float], count: int, window: float, now: float) -> float:
    """Seconds until one more event fits in a sliding window (0 when it fits now)."""
    while q and now - q[0] >= window:
        q.popleft()
    if len(q) < count:
        return 0.0
    return window - (now - q[-count])


class _Notifier:
    """Wakes every coroutine waiting for 'something changed'."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        """Wake all current waiters (call from the loop's thread)."""
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait(self, timeout: float) -> None:
        """Wait for the next notify or the timeout, whichever is first."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), max(0.0, timeout))
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(fut)


def _utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def check_html(text: str) -> None:
    """Raise ApiError 400 like Telegram when HTML markup cannot be parsed."""
    stack: list[str] = []
    pos = 0
    while True:
        lt = text.find("<", pos)
        amp = text.find("&", pos)
        if amp != -1 and (lt == -1 or amp < lt):
            if not _ENTITY_RE.match(text, amp):
                _parse_error(text, amp, "Unsupported entity or unescaped '&'")
            pos = amp + 1
            continue
        if lt == -1:
            break
        match = _TAG_RE.match(text, lt)
        if match is None:
            _parse_error(text, lt, "Unexpected '<' (escape it as &lt;)")
        closing, name = match.group(1), match.group(2).lower()
        if name not in HTML_TAGS:
            _parse_error(text, lt, f'Unsupported start tag "{name}"')
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            _parse_error(text, lt, f'Unmatched end tag "{name}"')
        pos = match.end()
    if stack:
        _parse_error(
            text, len(text), f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
        )


def _parse_error(text: str, index: int, what: str) -> NoReturn:
    """Raise Telegram's 'can't parse entities' error at a character index."""
    offset = len(text[:index].encode("utf-8"))
    raise ApiError(400, f"Bad Request: can't parse entities: {what} at byte offset {offset}")


def _coerce(name: str, value: str) -> Any:
    """Turn one form field (PTB's JSON-encoded value) into its native type."""
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in BOOL_FIELDS:
        return value.lower() == "true"
    if name in INT_FIELDS or name == "chat_id":
        with contextlib.suppress(ValueError):
            return int(value)
    return value


async def _read_params(request: web.Request) -> JSONDict:
    """Read JSON, form-urlencoded, multipart or query parameters into one dict."""
    params: JSONDict = {k: _coerce(k, v) for k, v in request.query.items()}
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, FileField):
            params[key] = value.file.read()
        elif isinstance(value, str):
            params[key] = _coerce(key, value)
        else:
            params[key] = bytes(value)
    return params


def _ok(result: Any) -> web.Response:
    """Telegram's success envelope."""
    return web.json_response({"ok": True, "result": result})


def _error(err: ApiError) -> web.Response:
    """Telegram's error envelope with the matching HTTP status."""
    body: JSONDict = {"ok": False, "error_code": err.code, "description": err.description}
    if err.parameters:
        body["parameters"] = err.parameters
    return web.json_response(body, status=err.code)


def _fault_error(fault: Fault) -> ApiError:
    """The ApiError an injected (non-hang) fault answers with."""
    if fault.kind == "retry_after":
        desc = fault.description or f"Too Many Requests: retry after {fault.retry_after}"
        return ApiError(429, desc, {"retry_after": fault.retry_after})
    if fault.kind == "blocked":
        return ApiError(403, fault.description or "Forbidden: bot was blocked by the user")
    if fault.kind == "parse":
        desc = "Bad Request: can't parse entities: Unsupported start tag at byte offset 0"
        return ApiError(400, fault.description or desc)
    if fault.kind == "bad_gateway":
        return ApiError(502, fault.description or "Bad Gateway")
    if fault.kind == "migrated":
        desc = fault.description or "Bad Request: group chat was upgraded to a supergroup chat"
        return ApiError(400, desc, {"migrate_to_chat_id": fault.migrate_to})
    if fault.kind == "unauthorized":
        return ApiError(401, fault.description or "Unauthorized")
    if fault.kind == "conflict":
        desc = "Conflict: terminated by other getUpdates request"
        return ApiError(409, fault.description or desc)
    return ApiError(500, fault.description or "Internal Server Error")


class FakeBotAPI:
    """A fake Bot API on 127.0.0.1 with updates, recording, faults and flood limits."""

    def __init__(
        self,
        *,
        port: int = 0,
        token: str | None = None,
        limits: LimitConfig | bool | None = None,
        latency: float = 0.0,
        validate_html: bool = True,
        hang_seconds: float = 3600.0,
        bot_username: str = "akhbar_test_bot",
    ) -> None:
        self.port = port
        self.token = token
        self.latency = latency
        self.validate_html = validate_html
        self.hang_seconds = hang_seconds
        self.bot_username = bot_username
        self.enforcer: LimitEnforcer | None = None
        self.set_limits(limits)
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.calls: list[tuple[str, JSONDict]] = []
        self.callback_answers: list[JSONDict] = []
        self.inline_answers: list[JSONDict] = []
        self.deleted: list[tuple[int | str, int]] = []
        self.faults: list[Fault] = []
        self.count_429 = 0
        self.webhook_url = ""
        self.commands: dict[str, list[JSONDict]] = {}
        self._admins: dict[int | str, list[int]] = {}
        self.closed_topics: set[tuple[int | str, int]] = set()  # (chat, forum topic)
        self.files: dict[str, bytes] = {}  # file_id → content: getFile and the download URL
        self.documents: list[tuple[int | str, str, bytes]] = []  # sendDocument uploads
        self._chats: dict[int | str, JSONDict] = {}
        self._messages: dict[tuple[int | str, int], JSONDict] = {}
        self._next_message_id: dict[int | str, int] = {}
        self._updates: list[JSONDict] = []
        self._next_update_id = 1
        self._next_callback_id = 1
        self._poll_generation = 0
        self._updates_changed = _Notifier()
        self._sends_changed = _Notifier()
        self._stopping: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Callable[[JSONDict], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_reply_markup,
            "answerCallbackQuery": self._answer_callback,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChat": self._get_chat,
            "answerInlineQuery": self._answer_inline,
            "sendDocument": self._send_document,
            "getFile": self._get_file,
            "deleteMessage": self._delete_message,
            "close": self._true,
            "logOut": self._true,
        }

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """PTB's ``base_url`` for this server (the token is appended by PTB)."""
        return f"http://{HOST}:{self.port}/bot"

    @property
    def url(self) -> str:
        """The server's root URL."""
        return f"http://{HOST}:{self.port}"

    async def start(self) -> int:
        """Start serving on 127.0.0.1 and return the bound port."""
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/documents/{file_id}", self._handle_file)
        _add_control_routes(app, self)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port, backlog=1024)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        """Release long polls and hangs, then stop serving."""
        if self._stopping is not None:
            self._stopping.set()
        self._updates_changed.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop the server."""
        await self.stop()

    def reset(self) -> None:
        """Forget recorded calls, queued updates, faults and limit state."""
        self.sent.clear()
        self.edits.clear()
        self.calls.clear()
        self.callback_answers.clear()
        self.deleted.clear()
        self.faults.clear()
        self._updates.clear()
        self.count_429 = 0
        if self.enforcer is not None:
            self.enforcer = LimitEnforcer(self.enforcer.config)

    # ------------------------------------------------------------- configuration

    def set_limits(self, limits: LimitConfig | bool | None) -> None:
        """Enable (True or a LimitConfig) or disable (False/None) the flood-limit enforcer."""
        if limits is True:
            self.enforcer = LimitEnforcer()
        elif isinstance(limits, LimitConfig):
            self.enforcer = LimitEnforcer(limits)
        else:
            self.enforcer = None

    @property
    def limit_429s(self) -> int:
        """How many 429s the limit enforcer answered."""
        return self.enforcer.rejected if self.enforcer else 0

    def add_fault(
        self,
        kind: FaultKind,
        *,
        method: str = "*",
        chat_id: int | str | None = None,
        times: int | None = 1,
        retry_after: int = 1,
        description: str | None = None,
        migrate_to: int | None = None,
    ) -> Fault:
        """Queue a failure: ``times`` answers (None = always) for a method and optionally a chat."""
        fault = Fault(kind, method, chat_id, times, retry_after, description)
        fault.migrate_to = migrate_to
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.faults.clear()

    def set_admins(self, chat_id: int | str, user_ids: list[int]) -> None:
        """Set a chat's administrators; the first one is the creator."""
        self._admins[chat_id] = list(user_ids)

    def add_channel(self, chat_id: int, username: str, admins: list[int]) -> None:
        """A channel known by id and "@username"; `admins` (include BOT_ID for the bot) are
        its administrators with the right to post, the first one its creator."""
        chat = {"id": chat_id, "type": "channel", "title": f"Channel {username}"}
        chat["username"] = username
        self._chats[chat_id] = self._chats["@" + username] = chat
        self._admins[chat_id] = self._admins["@" + username] = list(admins)

    def push_inline_query(self, user_id: int, query: str, language_code: str = "en") -> JSONDict:
        """Queue an inline query (`@bot query`) from a user."""
        inline = {
            "id": str(self._next_callback_id),
            "from": _user(user_id, "Tester", None, language_code),
            "query": query,
            "offset": "",
        }
        self._next_callback_id += 1
        return self.push_update({"inline_query": inline})

    def close_topic(self, chat_id: int | str, thread_id: int) -> None:
        """Close a forum topic: sendMessage into it answers 400 "message thread not found"."""
        self.closed_topics.add((chat_id, int(thread_id)))

    # ------------------------------------------------------------------ updates

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue a raw update (its ``update_id`` is assigned) and wake long polls."""
        update = {**update, "update_id": self._next_update_id}
        self._next_update_id += 1
        self._updates.append(update)
        self._updates_changed.notify()
        return update

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        language_code: str | None = "en",
        chat_type: str = "private",
        username: str | None = None,
        first_name: str = "Tester",
        is_forum: bool = False,
        thread_id: int | None = None,
    ) -> JSONDict:
        """Queue a text message from a user (with a bot_command entity for '/...'); in a
        forum (`is_forum`), `thread_id` is the topic it was sent in."""
        chat = self._remember_chat(chat_id, chat_type)
        if is_forum:
            chat["is_forum"] = True
        message: JSONDict = {
            "message_id": self._new_message_id(chat_id),
            "from": _user(
                user_id or (chat_id if chat_id > 0 else 100000), first_name, username, language_code
            ),
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if thread_id is not None:
            message.update(message_thread_id=int(thread_id), is_topic_message=True)
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        self._messages[(chat_id, message["message_id"])] = message
        return self.push_update({"message": message})

    def push_document(
        self,
        chat_id: int,
        content_b64: str,
        file_name: str,
        *,
        caption: str | None = None,
        user_id: int | None = None,
        language_code: str | None = "en",
    ) -> JSONDict:
        """Queue a private message carrying a document (downloadable through getFile), with
        an optional caption (a bot_command entity for '/...')."""
        message: JSONDict = {
            "message_id": self._new_message_id(chat_id),
            "from": _user(user_id or chat_id, "Tester", None, language_code),
            "chat": self._remember_chat(chat_id, "private"),
            "date": int(time.time()),
            "document": self.add_file(base64.b64decode(content_b64), file_name),
        }
        if caption:
            message["caption"] = caption
            if caption.startswith("/"):
                length = _utf16_len(caption.split(maxsplit=1)[0])
                entity = {"type": "bot_command", "offset": 0, "length": length}
                message["caption_entities"] = [entity]
        return self.push_update({"message": message})

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        language_code: str | None = "en",
    ) -> JSONDict:
        """Queue a callback query pressed on a message the bot sent (or a minimal one)."""
        message = self._messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": "",
        }
        query = {
            "id": str(self._next_callback_id),
            "from": _user(
                user_id or (chat_id if chat_id > 0 else 100000), "Tester", None, language_code
            ),
            "message": message,
            "chat_instance": str(chat_id),
            "data": data,
        }
        self._next_callback_id += 1
        return self.push_update({"callback_query": query})

    # --------------------------------------------------------------- inspection

    def sent_to(self, chat_id: int | str) -> list[SentMessage]:
        """Messages sent to one chat, in order."""
        return [m for m in self.sent if m.chat_id == chat_id]

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed by an offset."""
        return len(self._updates)

    async def wait_for_sends(
        self, n: int, timeout: float = 5.0, *, chat_id: int | str | None = None
    ) -> list[SentMessage]:
        """Wait until at least ``n`` messages were sent (to ``chat_id`` if given); TimeoutError otherwise."""

        def enough() -> list[SentMessage] | None:
            got = self.sent if chat_id is None else self.sent_to(chat_id)
            return list(got) if len(got) >= n else None

        sent: list[SentMessage] = await self.wait_for(enough, timeout, f"{n} sends to {chat_id}")
        return sent

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition"
    ) -> Any:
        """Wait until ``predicate()`` is truthy after some call; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out waiting for {what}; sent: {self.sent[-5:]!r}")
            await self._sends_changed.wait(remaining)

    # ------------------------------------------------------------ HTTP handling

    async def _handle_api(self, request: web.Request) -> web.Response:
        """Dispatch one Bot API call."""
        token, method = request.match_info["token"], request.match_info["method"]
        if self.token is not None and token != self.token:
            return _error(ApiError(401, "Unauthorized"))
        handler = self._lookup(method)
        if handler is None:
            return _error(ApiError(404, "Not Found"))
        params = await _read_params(request)
        self.calls.append((method, params))
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            await self._apply_faults(method, params)
            self._apply_limits(method, params)
            result = await handler(params)
        except ApiError as err:
            if err.code == 429:
                self.count_429 += 1
            return _error(err)
        except GarbageAnswer:
            return web.Response(text="<html>upstream error</html>", content_type="text/html")
        finally:
            self._sends_changed.notify()
        return _ok(result)

    def _lookup(self, method: str) -> Callable[[JSONDict], Awaitable[Any]] | None:
        """Find a handler; Telegram method names are case-insensitive."""
        handler = self._handlers.get(method)
        if handler is None:
            lowered = method.lower()
            for name, candidate in self._handlers.items():
                if name.lower() == lowered:
                    return candidate
        return handler

    async def _apply_faults(self, method: str, params: JSONDict) -> None:
        """Answer with the first matching injected fault, if any."""
        chat_id = params.get("chat_id")
        for fault in self.faults:
            if not fault.matches(method, chat_id):
                continue
            fault.hits += 1
            self._sends_changed.notify()
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
            if fault.kind == "hang":
                await self._hang()
            if fault.kind == "garbage":
                raise GarbageAnswer
            raise _fault_error(fault)

    async def _hang(self) -> None:
        """Sleep past any sane client timeout (released by stop())."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.hang_seconds)

    def _apply_limits(self, method: str, params: JSONDict) -> None:
        """Answer 429 when the enforcer says a send exceeds Telegram's limits."""
        if self.enforcer is None or method not in LIMITED_METHODS or "chat_id" not in params:
            return
        chat_id = params["chat_id"]
        is_group = self._chat(chat_id)["type"] != "private"
        retry_after = self.enforcer.check(chat_id, is_group, time.monotonic())
        if retry_after is not None:
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )

    # ------------------------------------------------------------- chats/users

    def _remember_chat(self, chat_id: int | str, chat_type: str) -> JSONDict:
        """Store and return a chat object of the given type."""
        chat: JSONDict = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "Tester"
        else:
            chat["title"] = f"Chat {chat_id}"
        self._chats[chat_id] = chat
        return chat

    def _chat(self, chat_id: int | str) -> JSONDict:
        """A known chat, or one guessed from the id's sign."""
        chat = self._chats.get(chat_id)
        if chat is not None:
            return chat
        text_id = str(chat_id)
        if text_id.startswith("-100") or text_id.startswith("@"):
            kind = "supergroup"
        elif text_id.startswith("-"):
            kind = "group"
        else:
            kind = "private"
        return self._remember_chat(chat_id, kind)

    def _new_message_id(self, chat_id: int | str) -> int:
        """The next message id in a chat (shared by users' and the bot's messages)."""
        next_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = next_id + 1
        return next_id

    def _bot_user(self) -> JSONDict:
        """The bot's User object."""
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Akhbar Test",
            "username": self.bot_username,
        }

    # ---------------------------------------------------------------- methods

    async def _true(self, params: JSONDict) -> bool:
        """Methods that just succeed."""
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        """getMe."""
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        """getUpdates with real long polling; a newer call ends an older one with 409."""
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_changed.notify()
        offset = int(params.get("offset") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        limit = max(1, min(100, int(params.get("limit") or 100)))
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            if self._updates or (self._stopping is not None and self._stopping.is_set()):
                return self._updates[:limit]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            await self._updates_changed.wait(remaining)

    def _record(self, method: str, params: JSONDict, message_id: int) -> SentMessage:
        """Build a SentMessage record from call parameters."""
        return SentMessage(
            method=method,
            chat_id=params.get("chat_id", ""),
            message_id=message_id,
            text=params.get("text"),
            parse_mode=params.get("parse_mode"),
            reply_markup=params.get("reply_markup"),
            link_preview_options=params.get("link_preview_options"),
            disable_web_page_preview=params.get("disable_web_page_preview"),
            at=time.monotonic(),
            params=params,
            message_thread_id=params.get("message_thread_id"),
        )

    def _check_text(self, params: JSONDict) -> str:
        """Validate text and parse mode like Telegram."""
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        parse_mode = str(params.get("parse_mode") or "")
        if self.validate_html and parse_mode.lower() == "html":
            check_html(text)
        return text

    async def _send_message(self, params: JSONDict) -> JSONDict:
        """sendMessage: record it and answer a full Message."""
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        text = self._check_text(params)
        thread = params.get("message_thread_id")
        if thread is not None and (chat_id, thread) in self.closed_topics:
            raise ApiError(400, "Bad Request: message thread not found")
        message_id = self._new_message_id(chat_id)
        message: JSONDict = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if thread is not None:
            message.update(message_thread_id=thread, is_topic_message=True)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self._messages[(chat_id, message_id)] = message
        self.sent.append(self._record("sendMessage", params, message_id))
        return message

    def add_file(self, content: bytes, file_name: str) -> JSONDict:
        """Make a file downloadable (getFile, then /file/bot<token>/…); its Document JSON."""
        file_id = f"file{len(self.files) + 1}"
        self.files[file_id] = content
        return {"file_id": file_id, "file_unique_id": file_id, "file_name": file_name}

    async def _handle_file(self, request: web.Request) -> web.Response:
        """A file download by the path getFile gave."""
        found = self.files.get(request.match_info["file_id"])
        if found is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=found, content_type="application/octet-stream")

    async def _get_file(self, params: JSONDict) -> JSONDict:
        """getFile: the path to download a file added with add_file."""
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        size = len(self.files[file_id])
        path = f"documents/{file_id}"
        return {"file_id": file_id, "file_unique_id": file_id, "file_size": size, "file_path": path}

    async def _send_document(self, params: JSONDict) -> JSONDict:
        """sendDocument: keep the upload, record it (caption as text), answer a Message."""
        chat_id = params.get("chat_id")
        upload = params.get("document")
        if chat_id in (None, "") or not isinstance(upload, bytes):
            raise ApiError(400, "Bad Request: there is no document in the request")
        self.documents.append((chat_id, "document", upload))
        message_id = self._new_message_id(chat_id)
        document = {"file_id": f"sent{len(self.documents)}", "file_unique_id": "u"}
        message: JSONDict = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "document": {**document, "file_size": len(upload)},
            "caption": params.get("caption"),
        }
        self._messages[(chat_id, message_id)] = message
        shown = {k: v for k, v in params.items() if k != "document"}
        self.sent.append(
            self._record("sendDocument", {**shown, "text": shown.get("caption")}, message_id)
        )
        return message

    def _target(self, params: JSONDict, verb: str) -> JSONDict:
        """The stored message an edit refers to."""
        key = (params.get("chat_id", ""), int(params.get("message_id") or 0))
        message = self._messages.get(key)
        if message is None:
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        return message

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        """editMessageText: update the stored message and record the edit."""
        text = self._check_text(params)
        if params.get("inline_message_id"):
            self.edits.append(self._record("editMessageText", params, 0))
            return True
        message = self._target(params, "edit")
        markup = params.get("reply_markup")
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
            )
        message.update(text=text, edit_date=int(time.time()))
        _set_markup(message, markup)
        self.edits.append(self._record("editMessageText", params, message["message_id"]))
        return message

    async def _edit_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        """editMessageReplyMarkup: replace the stored keyboard and record the edit."""
        if params.get("inline_message_id"):
            self.edits.append(self._record("editMessageReplyMarkup", params, 0))
            return True
        message = self._target(params, "edit")
        _set_markup(message, params.get("reply_markup"))
        message["edit_date"] = int(time.time())
        self.edits.append(self._record("editMessageReplyMarkup", params, message["message_id"]))
        return message

    async def _answer_callback(self, params: JSONDict) -> bool:
        """answerCallbackQuery: record the answer."""
        if not params.get("callback_query_id"):
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.callback_answers.append(params)
        return True

    @staticmethod
    def _commands_key(params: JSONDict) -> str:
        """Key for a command list by scope and language."""
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    async def _set_my_commands(self, params: JSONDict) -> bool:
        """setMyCommands."""
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, 'Bad Request: parameter "commands" is required')
        self.commands[self._commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        """getMyCommands."""
        return self.commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        """deleteMyCommands."""
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        """deleteWebhook (optionally dropping pending updates)."""
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _set_webhook(self, params: JSONDict) -> bool:
        """setWebhook: remember the URL (nothing is delivered to it)."""
        self.webhook_url = str(params.get("url") or "")
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        """getWebhookInfo."""
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _member(self, chat_id: int | str, user_id: int) -> JSONDict:
        """A ChatMember object for a user in a chat, by the configured admins."""
        admins = self._admins.get(chat_id, [])
        user = _user(user_id, f"User {user_id}", None, None)
        if admins and admins[0] == user_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in admins:
            member = {"status": "administrator", "user": user, **_ADMIN_RIGHTS}
            if self._chats.get(chat_id, {}).get("type") == "channel":
                member.update(can_post_messages=True, can_edit_messages=True)
            return member
        return {"status": "member", "user": user}

    async def _get_chat_member(self, params: JSONDict) -> JSONDict:
        """getChatMember."""
        return self._member(params.get("chat_id", ""), int(params.get("user_id") or 0))

    async def _get_chat_administrators(self, params: JSONDict) -> list[JSONDict]:
        """getChatAdministrators."""
        chat_id = params.get("chat_id", "")
        return [self._member(chat_id, uid) for uid in self._admins.get(chat_id, [])]

    async def _answer_inline(self, params: JSONDict) -> bool:
        """answerInlineQuery: record the answer (results and button decoded)."""
        answer = dict(params)
        for key in ("results", "button"):
            if isinstance(answer.get(key), str):
                answer[key] = json.loads(answer[key])
        self.inline_answers.append(answer)
        return True

    async def _get_chat(self, params: JSONDict) -> JSONDict:
        """getChat (ChatFullInfo)."""
        return {
            **self._chat(params.get("chat_id", "")),
            "accent_color_id": 0,
            "max_reaction_count": 11,
        }

    async def _delete_message(self, params: JSONDict) -> bool:
        """deleteMessage."""
        key = (params.get("chat_id", ""), int(params.get("message_id") or 0))
        if self._messages.pop(key, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        self.deleted.append(key)
        return True


_ADMIN_RIGHTS: JSONDict = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}


def _user(
    user_id: int, first_name: str, username: str | None, language_code: str | None
) -> JSONDict:
    """A Telegram User object."""
    user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def _set_markup(message: JSONDict, markup: Any) -> None:
    """Set or remove a stored message's inline keyboard."""
    if markup:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)


# --------------------------------------------------------------- control API


def _add_control_routes(app: web.Application, api: FakeBotAPI) -> None:
    """Mount the JSON control API under /_control for tests in other processes."""

    async def body(request: web.Request) -> JSONDict:
        """The request's JSON object (empty when there is none)."""
        data = await request.json() if request.can_read_body else {}
        return data if isinstance(data, dict) else {}

    async def push_message(request: web.Request) -> web.Response:
        """POST {chat_id, text, ...} → the queued update."""
        return web.json_response(api.push_message(**await body(request)))

    async def push_callback(request: web.Request) -> web.Response:
        """POST {chat_id, message_id, data, ...} → the queued update."""
        return web.json_response(api.push_callback(**await body(request)))

    async def push_update(request: web.Request) -> web.Response:
        """POST a raw update → the queued update."""
        return web.json_response(api.push_update(await body(request)))

    async def add_fault(request: web.Request) -> web.Response:
        """POST {kind, method, chat_id, times, retry_after, description}."""
        return web.json_response(asdict(api.add_fault(**await body(request))))

    async def add_channel(request: web.Request) -> web.Response:
        """POST {chat_id, username, admins} → a channel getChat and getChatMember know."""
        api.add_channel(**await body(request))
        return web.json_response(True)

    async def push_inline_query(request: web.Request) -> web.Response:
        """POST {user_id, query, language_code} → the queued update."""
        return web.json_response(api.push_inline_query(**await body(request)))

    async def inline_answers(request: web.Request) -> web.Response:
        """GET → every answerInlineQuery so far."""
        return web.json_response(api.inline_answers)

    async def push_document(request: web.Request) -> web.Response:
        """POST {chat_id, content_b64, file_name, caption, user_id} → the queued update."""
        return web.json_response(api.push_document(**await body(request)))

    async def documents(request: web.Request) -> web.Response:
        """GET → every sendDocument upload as {chat_id, file_name, content_b64}."""
        return web.json_response(
            [
                {"chat_id": c, "file_name": n, "content_b64": base64.b64encode(b).decode()}
                for c, n, b in api.documents
            ]
        )

    async def clear_faults(request: web.Request) -> web.Response:
        """POST → remove all faults."""
        api.clear_faults()
        return web.json_response(True)

    async def set_admins(request: web.Request) -> web.Response:
        """POST {chat_id, user_ids}."""
        api.set_admins(**await body(request))
        return web.json_response(True)

    async def close_topic(request: web.Request) -> web.Response:
        """POST {chat_id, thread_id}."""
        api.close_topic(**await body(request))
        return web.json_response(True)

    async def set_limits(request: web.Request) -> web.Response:
        """POST {} to disable, or LimitConfig fields to enable the enforcer."""
        data = await body(request)
        api.set_limits(LimitConfig(**data) if data else None)
        return web.json_response(True)

    async def reset(request: web.Request) -> web.Response:
        """POST → forget recorded calls, updates, faults and limit state."""
        api.reset()
        return web.json_response(True)

    async def sent(request: web.Request) -> web.Response:
        """GET ?chat_id=&since= → recorded sends (since = index into the list)."""
        return web.json_response(_sent_json(api, request.query))

    async def wait_for_sends(request: web.Request) -> web.Response:
        """GET ?n=&timeout=&chat_id= → sends once there are n, or 408."""
        query = request.query
        chat_id = _coerce("chat_id", query["chat_id"]) if "chat_id" in query else None
        try:
            await api.wait_for_sends(
                int(query["n"]), float(query.get("timeout", "5")), chat_id=chat_id
            )
        except TimeoutError:
            return web.json_response({"error": "timeout", "sent": len(api.sent)}, status=408)
        return web.json_response(_sent_json(api, query))

    async def stats(request: web.Request) -> web.Response:
        """GET → counters."""
        by_method: dict[str, int] = {}
        for method, _ in api.calls:
            by_method[method] = by_method.get(method, 0) + 1
        return web.json_response(
            {
                "requests": len(api.calls),
                "by_method": by_method,
                "sent": len(api.sent),
                "edits": len(api.edits),
                "callback_answers": len(api.callback_answers),
                "count_429": api.count_429,
                "limit_429s": api.limit_429s,
                "pending_updates": api.pending_updates,
            }
        )

    routes = [
        web.post("/_control/push_message", push_message),
        web.post("/_control/push_document", push_document),
        web.get("/_control/documents", documents),
        web.post("/_control/push_callback", push_callback),
        web.post("/_control/push_update", push_update),
        web.post("/_control/fault", add_fault),
        web.post("/_control/clear_faults", clear_faults),
        web.post("/_control/channel", add_channel),
        web.post("/_control/push_inline_query", push_inline_query),
        web.get("/_control/inline_answers", inline_answers),
        web.post("/_control/admins", set_admins),
        web.post("/_control/close_topic", close_topic),
        web.post("/_control/limits", set_limits),
        web.post("/_control/reset", reset),
        web.get("/_control/sent", sent),
        web.get("/_control/wait_for_sends", wait_for_sends),
        web.get("/_control/stats", stats),
    ]
    app.add_routes(routes)


def _sent_json(api: FakeBotAPI, query: Any) -> list[JSONDict]:
    """Recorded sends as JSON, filtered by chat_id and starting index."""
    items = api.sent[int(query.get("since", "0")) :]
    if "chat_id" in query:
        chat_id = _coerce("chat_id", query["chat_id"])
        items = [m for m in items if m.chat_id == chat_id]
    return [asdict(m) for m in items]


class ControlClient:
    """A synchronous client (stdlib only) for a fake running in another process."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://{HOST}:{port}/bot"

    def _call(
        self, verb: str, path: str, payload: JSONDict | None = None, timeout: float = 30.0
    ) -> Any:
        """One JSON request to the control API."""
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(
            f"http://{HOST}:{self.port}/_control/{path}",
            data=data,
            method=verb,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            if err.code == 408:
                raise TimeoutError(err.read().decode()) from err
            raise

    def add_channel(self, chat_id: int, username: str, admins: list[int]) -> None:
        """A channel known to getChat and getChatMember (see FakeBotAPI.add_channel)."""
        self._call("POST", "channel", {"chat_id": chat_id, "username": username, "admins": admins})

    def push_inline_query(self, user_id: int, query: str, language_code: str = "en") -> JSONDict:
        """Queue an inline query from a user."""
        payload = {"user_id": user_id, "query": query, "language_code": language_code}
        result: JSONDict = self._call("POST", "push_inline_query", payload)
        return result

    def inline_answers(self) -> list[JSONDict]:
        """Every answerInlineQuery the bot made."""
        found: list[JSONDict] = self._call("GET", "inline_answers")
        return found

    def push_message(self, chat_id: int, text: str, **kwargs: Any) -> JSONDict:
        """Queue a user message (same keywords as FakeBotAPI.push_message)."""
        result: JSONDict = self._call(
            "POST", "push_message", {"chat_id": chat_id, "text": text, **kwargs}
        )
        return result

    def push_document(
        self, chat_id: int, content: bytes, file_name: str, **kwargs: Any
    ) -> JSONDict:
        """Queue a message carrying a document (same keywords as FakeBotAPI.push_document)."""
        payload = {
            "chat_id": chat_id,
            "content_b64": base64.b64encode(content).decode(),
            "file_name": file_name,
            **kwargs,
        }
        result: JSONDict = self._call("POST", "push_document", payload)
        return result

    def documents(self) -> list[tuple[int, bytes]]:
        """Every document the bot sent: (chat id, content)."""
        found = self._call("GET", "documents")
        return [(int(d["chat_id"]), base64.b64decode(d["content_b64"])) for d in found]

    def push_callback(self, chat_id: int, message_id: int, data: str, **kwargs: Any) -> JSONDict:
        """Queue a callback query (same keywords as FakeBotAPI.push_callback)."""
        payload = {"chat_id": chat_id, "message_id": message_id, "data": data, **kwargs}
        result: JSONDict = self._call("POST", "push_callback", payload)
        return result

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue a raw update."""
        result: JSONDict = self._call("POST", "push_update", update)
        return result

    def add_fault(self, kind: FaultKind, **kwargs: Any) -> JSONDict:
        """Inject a fault (same keywords as FakeBotAPI.add_fault)."""
        result: JSONDict = self._call("POST", "fault", {"kind": kind, **kwargs})
        return result

    def clear_faults(self) -> None:
        """Remove all faults."""
        self._call("POST", "clear_faults", {})

    def set_admins(self, chat_id: int | str, user_ids: list[int]) -> None:
        """Set a chat's administrators."""
        self._call("POST", "admins", {"chat_id": chat_id, "user_ids": user_ids})

    def close_topic(self, chat_id: int | str, thread_id: int) -> None:
        """Close a forum topic."""
        self._call("POST", "close_topic", {"chat_id": chat_id, "thread_id": thread_id})

    def set_limits(self, config: LimitConfig | None) -> None:
        """Enable the enforcer with a config, or disable it with None."""
        self._call("POST", "limits", asdict(config) if config else {})

    def reset(self) -> None:
        """Forget recorded state."""
        self._call("POST", "reset", {})

    def sent(self, chat_id: int | str | None = None, since: int = 0) -> list[JSONDict]:
        """Recorded sends as dicts."""
        query = f"since={since}" + (f"&chat_id={chat_id}" if chat_id is not None else "")
        result: list[JSONDict] = self._call("GET", f"sent?{query}")
        return result

    def wait_for_sends(
        self, n: int, timeout: float = 5.0, chat_id: int | str | None = None
    ) -> list[JSONDict]:
        """Block until n sends were recorded (TimeoutError otherwise)."""
        query = f"n={n}&timeout={timeout}" + (f"&chat_id={chat_id}" if chat_id is not None else "")
        result: list[JSONDict] = self._call("GET", f"wait_for_sends?{query}", timeout=timeout + 5)
        return result

    def stats(self) -> JSONDict:
        """Counters: requests, by_method, sent, count_429, limit_429s, ..."""
        result: JSONDict = self._call("GET", "stats")
        return result


@contextlib.contextmanager
def spawn(*args: str, python: str = sys.executable) -> Iterator[ControlClient]:
    """Run the fake as a subprocess (extra CLI args allowed) and yield its control client."""
    proc = subprocess.Popen(
        [python, "-m", "tests.fakebotapi", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"fake Bot API did not start: {line!r}")
        yield ControlClient(int(line.split()[1]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def _serve(args: argparse.Namespace) -> None:
    """Run the server until SIGTERM or SIGINT."""
    limits: LimitConfig | None = None
    if args.limits:
        limits = LimitConfig(
            global_count=args.global_per_second,
            private_count=args.private_per_second,
            group_count=args.group_per_minute,
        )
    api = FakeBotAPI(port=args.port, token=args.token, limits=limits, latency=args.latency)
    port = await api.start()
    print(f"PORT {port}", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await api.stop()


def main(argv: list[str] | None = None) -> None:
    """CLI: ``python -m tests.fakebotapi --port N [--limits] [--latency S]``."""
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    parser.add_argument("--token", default=None, help="accept only this token")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per call")
    parser.add_argument("--limits", action="store_true", help="enforce Telegram-like flood limits")
    parser.add_argument("--global-per-second", type=int, default=30)
    parser.add_argument("--private-per-second", type=int, default=1)
    parser.add_argument("--group-per-minute", type=int, default=20)
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
