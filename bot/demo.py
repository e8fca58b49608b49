"""`akhbar demo`: the real handlers in a terminal chat, offline, over a shipped demo feed.

A local `BaseRequest` (`LocalBotApi`) stands in for the Bot API: it answers the calls the
bot makes and hands every sent or edited message to a printer. Typed lines become real
`Update` objects fed to `Application.process_update`, so the demo runs the same handlers
and render functions as Telegram. Demo items are released over the first minutes and go
through ingest, fan-out and the delivery worker, so pushes arrive as in production.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import sys
import tempfile
import time as _time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

from telegram import Update
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, RequestData

from bot.embeddings import Embedder
from bot.fetch import Fetcher
from bot.linker import Linker
from bot.services import Services
from bot.settings import Settings
from storage.db import Database

ITEMS_PATH: Final = Path(__file__).resolve().parent / "demo" / "items.json"
DEMO_TOKEN: Final = "0:akhbar-demo"
BOT_ID: Final = 1
BOT_USERNAME: Final = "akhbar_demo_bot"
USER_ID: Final = 1001
CHAT_ID: Final = 1001
PUMP_SECONDS: Final = 1.0
_LINK: Final = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.S)
_TAG: Final = re.compile(r"<[^>]+>")
_BIDI: Final = re.compile("[\u200e\u200f\u2066-\u2069]")

JSON = dict[str, Any]
Listener = Callable[[str, JSON, Any], None]


# --------------------------------------------------------------------------- local Bot API


def _bot_user() -> JSON:
    """The demo bot's user object."""
    return {
        "id": BOT_ID,
        "is_bot": True,
        "first_name": "Akhbar",
        "username": BOT_USERNAME,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


CHANNEL_ADMIN_RIGHTS: Final[JSON] = {
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
    "can_edit_messages": True,
}


def _document(file_id: str, name: str, size: int) -> JSON:
    """A Document object."""
    return {"file_id": file_id, "file_unique_id": file_id, "file_name": name, "file_size": size}


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One Bot API call the bot made, with its parameters and our answer."""

    method: str
    params: JSON
    result: Any


class ApiRefusal(Exception):
    """An error answer of the local Bot API (e.g. 400 "chat not found")."""

    def __init__(self, code: int, description: str) -> None:
        """Answer with this HTTP code and description."""
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class LocalBotApi(BaseRequest):
    """An in-process Bot API: answers getMe, sendMessage, edits, callbacks, menus, members.

    `directory` answers getChat by id or "@username" (an unknown "@name" is 400 "chat not
    found"); `members` answers getChatMember for (chat id, user id) before `admins` does;
    `refuse` makes sendMessage to a chat fail (e.g. 403 "bot is not a member"); chats in
    `forums` are forum supergroups, and sendMessage into a topic of `closed_topics` answers
    400 "message thread not found" (`close_topic`).
    """

    admins: dict[int, set[int]] = field(default_factory=dict)
    chat_types: dict[int, str] = field(default_factory=dict)
    directory: dict[str, JSON] = field(default_factory=dict)
    members: dict[tuple[int, int], JSON] = field(default_factory=dict)
    refuse: dict[int, tuple[int, str]] = field(default_factory=dict)  # chat → sendMessage error
    forums: set[int] = field(default_factory=set)
    closed_topics: set[tuple[int, int]] = field(default_factory=set)
    files: dict[str, bytes] = field(default_factory=dict)  # file_id → content (getFile)
    documents: list[tuple[int, str, bytes]] = field(default_factory=list)  # sendDocument
    listener: Listener | None = None
    calls: list[ApiCall] = field(default_factory=list)
    messages: dict[tuple[int, int], JSON] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def read_timeout(self) -> float | None:
        """No network, no timeout."""
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        """Answer one call as the Bot API would."""
        api_method = url.rsplit("/", 1)[-1]
        params: JSON = dict(request_data.parameters) if request_data is not None else {}
        if "/file/bot" in url:  # a file download (after getFile)
            found = self.files.get(url.rsplit("/", 1)[-1])
            return (200, found) if found is not None else (404, b"Not Found")
        if api_method == "sendDocument" and request_data is not None:
            params["document"] = self._upload(int(params["chat_id"]), request_data)
        try:
            result = self.answer(api_method, params)
        except ApiRefusal as refusal:
            self.calls.append(ApiCall(api_method, params, None))
            body = {"ok": False, "error_code": refusal.code, "description": refusal.description}
            return refusal.code, json.dumps(body).encode()
        self.calls.append(ApiCall(api_method, params, result))
        if self.listener is not None:
            self.listener(api_method, params, result)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def chat(self, chat_id: int) -> JSON:
        """A chat object for an id (private for positive ids, supergroup for negative)."""
        kind = self.chat_types.get(chat_id, "private" if chat_id > 0 else "supergroup")
        chat: JSON = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = "Reader"
        else:
            chat["title"] = f"Chat {chat_id}"
        if chat_id in self.forums:
            chat["is_forum"] = True
        return chat

    def close_topic(self, chat_id: int, thread_id: int) -> None:
        """Close (or delete) a forum topic: sends into it fail from now on."""
        self.forums.add(chat_id)
        self.closed_topics.add((chat_id, thread_id))

    def answer(self, api_method: str, params: JSON) -> Any:
        """The result object of one method."""
        if api_method == "getMe":
            return _bot_user()
        if api_method == "sendMessage":
            if int(params["chat_id"]) in self.refuse:
                raise ApiRefusal(*self.refuse[int(params["chat_id"])])
            thread = params.get("message_thread_id")
            if thread is not None and (int(params["chat_id"]), int(thread)) in self.closed_topics:
                raise ApiRefusal(400, "Bad Request: message thread not found")
            return self._store(int(params["chat_id"]), next(self._ids), params)
        if api_method == "editMessageText":
            key = (int(params["chat_id"]), int(params["message_id"]))
            return self._store(key[0], key[1], params)
        if api_method == "editMessageReplyMarkup":  # e.g. Mute source → Undo on a push
            key = (int(params["chat_id"]), int(params["message_id"]))
            known = self.messages.get(key)
            return True if known is None else self._store(key[0], key[1], {**known, **params})
        if api_method == "getChatMember":
            chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
            if (chat_id, user_id) in self.members:
                return self.members[(chat_id, user_id)]
            status = "creator" if user_id in self.admins.get(chat_id, set()) else "member"
            user = {"id": user_id, "is_bot": False, "first_name": "User"}
            member: JSON = {"status": status, "user": user}
            if status == "creator":
                member["is_anonymous"] = False
            return member
        if api_method == "getChat":
            wanted = str(params["chat_id"])
            if wanted.startswith("@") and wanted not in self.directory:
                raise ApiRefusal(400, "Bad Request: chat not found")
            found = self.directory.get(wanted) or self.chat(int(wanted))
            return {**found, "accent_color_id": 0, "max_reaction_count": 11}  # ChatFullInfo
        if api_method == "getFile":
            file_id = str(params["file_id"])
            if file_id not in self.files:
                raise ApiRefusal(400, "Bad Request: invalid file_id")
            found = _document(file_id, file_id, len(self.files[file_id]))
            return {**found, "file_path": f"documents/{file_id}"}
        if api_method == "sendDocument":
            message = self._store(int(params["chat_id"]), next(self._ids), params)
            return {**message, "document": params["document"], "caption": params.get("caption")}
        if api_method in ("getMyCommands", "getUpdates"):
            return []
        return True

    def add_file(self, content: bytes, file_name: str) -> JSON:
        """Make a file downloadable (getFile, then the file URL); its Document JSON."""
        file_id = f"file{len(self.files) + 1}"
        self.files[file_id] = content
        return _document(file_id, file_name, len(content))

    def _upload(self, chat_id: int, request_data: RequestData) -> JSON:
        """Keep a sendDocument upload; the Document JSON that describes it."""
        name, content = "document", b""
        for field_tuple in request_data.multipart_data.values():
            name, raw = str(field_tuple[0]), field_tuple[1]
            content = raw if isinstance(raw, bytes) else bytes(raw.read())
        self.documents.append((chat_id, name, content))
        return _document(f"sent{len(self.documents)}", name, len(content))

    def add_channel(
        self,
        chat_id: int,
        username: str | None,
        title: str,
        *,
        admins: Iterable[int] = (),
        bot_status: str = "administrator",
        can_post: bool = True,
    ) -> None:
        """Make a channel known to getChat (by id and @username) and getChatMember: the bot
        with `bot_status` (and the right to post), `admins` as administrators."""
        chat: JSON = {"id": chat_id, "type": "channel", "title": title}
        if username:
            chat["username"] = username
            self.directory["@" + username] = chat
        self.directory[str(chat_id)] = chat
        self.chat_types[chat_id] = "channel"
        bot: JSON = {"status": bot_status, "user": _bot_user()}
        if bot_status == "administrator":
            bot.update(CHANNEL_ADMIN_RIGHTS, can_post_messages=can_post)
        self.members[(chat_id, BOT_ID)] = bot
        for user_id in admins:
            user = {"id": user_id, "is_bot": False, "first_name": "Admin"}
            self.members[(chat_id, user_id)] = {"status": "administrator", "user": user}
            self.members[(chat_id, user_id)].update(CHANNEL_ADMIN_RIGHTS, can_post_messages=True)

    def inline_answers(self) -> list[ApiCall]:
        """answerInlineQuery calls, oldest first."""
        return [c for c in self.calls if c.method == "answerInlineQuery"]

    def _store(self, chat_id: int, message_id: int, params: JSON) -> JSON:
        """Remember a sent or edited message and return it as a Message object."""
        message: JSON = {
            "message_id": message_id,
            "date": int(_time.time()),
            "chat": self.chat(chat_id),
            "from": _bot_user(),
            "text": str(params.get("text", "")),
        }
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        if isinstance(markup, dict):
            message["reply_markup"] = markup
        self.messages[(chat_id, message_id)] = message
        return message

    def sent(self, chat_id: int | None = None) -> list[ApiCall]:
        """sendMessage calls (optionally to one chat), oldest first."""
        return [
            c
            for c in self.calls
            if c.method == "sendMessage"
            and (chat_id is None or int(c.params["chat_id"]) == chat_id)
        ]


# --------------------------------------------------------------------------- updates


class UpdateFactory:
    """Builds real Update objects: command messages and button presses."""

    def __init__(self, bot_username: str = BOT_USERNAME) -> None:
        """Number updates and messages from 1."""
        self.bot_username = bot_username
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100_000)

    def message(
        self,
        text: str,
        *,
        chat_id: int,
        user_id: int | None,
        chat_type: str = "private",
        language_code: str | None = "en",
        sender_chat_id: int | None = None,
        channel: bool = False,
        forum: bool = False,
        thread_id: int | None = None,
    ) -> JSON:
        """A message (or channel post) update as JSON; a leading /command gets its entity; in
        a `forum`, `thread_id` is the topic the message was sent in."""
        chat: JSON = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "Reader"
        else:
            chat["title"] = f"Chat {chat_id}"
        if forum:
            chat["is_forum"] = True
        message: JSON = {
            "message_id": next(self._message_ids),
            "date": int(_time.time()),
            "chat": chat,
            "text": text,
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if user_id is not None:
            user: JSON = {"id": user_id, "is_bot": False, "first_name": "Reader"}
            if language_code:
                user["language_code"] = language_code
            message["from"] = user
        if sender_chat_id is not None:
            message["sender_chat"] = {"id": sender_chat_id, "type": chat_type, "title": "Chat"}
        if text.startswith("/"):
            head = text.split(maxsplit=1)[0]
            length = len(head.encode("utf-16-le")) // 2
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        key = "channel_post" if channel else "message"
        return {"update_id": next(self._update_ids), key: message}

    def inline_query(
        self, query: str, *, user_id: int, language_code: str | None = "en", offset: str = ""
    ) -> JSON:
        """An inline query (`@bot query`) as JSON."""
        user: JSON = {"id": user_id, "is_bot": False, "first_name": "Reader"}
        if language_code:
            user["language_code"] = language_code
        update_id = next(self._update_ids)
        inline = {"id": str(update_id), "from": user, "query": query, "offset": offset}
        return {"update_id": update_id, "inline_query": inline}

    def callback(
        self,
        data: str,
        *,
        message: JSON,
        user_id: int,
        language_code: str | None = "en",
    ) -> JSON:
        """A button press on a bot message as JSON."""
        user: JSON = {"id": user_id, "is_bot": False, "first_name": "Reader"}
        if language_code:
            user["language_code"] = language_code
        update_id = next(self._update_ids)
        return {
            "update_id": update_id,
            "callback_query": {
                "id": str(update_id),
                "from": user,
                "chat_instance": str(message["chat"]["id"]),
                "message": message,
                "data": data,
            },
        }


# --------------------------------------------------------------------------- terminal text


def terminal_text(html_text: str) -> str:
    """Telegram HTML as terminal text: links as "text (url)", tags and bidi marks dropped."""
    text = _LINK.sub(
        lambda m: f"{_TAG.sub('', m.group(2))} ({html.unescape(m.group(1))})", html_text
    )
    return _BIDI.sub("", html.unescape(_TAG.sub("", text)))


def keyboard_buttons(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, callback data) of a message's inline keyboard, in reading order."""
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    found: list[tuple[str, str]] = []
    for row in rows:
        for button in row:
            data = button.get("callback_data")
            if isinstance(data, str):
                found.append((str(button.get("text", "")), data))
    return found


# --------------------------------------------------------------------------- demo items


def load_items(path: Path = ITEMS_PATH) -> list[JSON]:
    """The demo items, ordered by release offset."""
    items = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list")
    return sorted((dict(i) for i in items), key=lambda i: float(i.get("offset", 0)))


def as_record(item: Mapping[str, Any], index: int) -> JSON:
    """A demo item as an ingest record."""
    return {
        "id": f"demo-{index}",
        "title": item["title"],
        "text": item["text"],
        "source": item["source"],
        "lang": item.get("lang"),
        "url": item.get("url") or f"https://demo.akhbar.invalid/{index}",
    }


# --------------------------------------------------------------------------- the session


class DemoSession:
    """One terminal chat with the bot: typed lines in, printed messages out."""

    def __init__(
        self,
        out: TextIO,
        *,
        language: str = "en",
        speed: float = 1.0,
        items: list[JSON] | None = None,
    ) -> None:
        """Prepare (nothing runs until `start`)."""
        self.out = out
        self.language = language
        self.speed = max(speed, 0.0)
        self.items = items if items is not None else load_items()
        self.released = 0
        self.skipped = 0.0
        self.started = _time.monotonic()
        self.api = LocalBotApi(listener=self._on_call)
        self.factory = UpdateFactory()
        self.buttons: list[tuple[str, str, JSON]] = []
        self.pushing = False
        self._tmp = tempfile.TemporaryDirectory(prefix="akhbar-demo-")
        self.services: Services | None = None
        self.application: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._pump_lock = asyncio.Lock()
        self._engines: Any = None
        self._embedder: Embedder | None = None
        self._linker: Linker | None = None

    # -- printing

    def _print(self, text: str = "") -> None:
        """Write one block to the terminal."""
        self.out.write(text + "\n")
        self.out.flush()

    def _on_call(self, method: str, params: JSON, result: Any) -> None:
        """Print what the bot sends; remember the newest keyboard."""
        if method in ("sendMessage", "editMessageText") and isinstance(result, dict):
            label = "📣 push" if self.pushing else ("✏️ edited" if method != "sendMessage" else "🤖")
            self._print(f"\n{label}\n{terminal_text(str(params.get('text', '')))}")
            buttons = keyboard_buttons(result)
            if buttons:
                self.buttons = [(text, data, result) for text, data in buttons]
                choices = "  ".join(f"[{n}] {text}" for n, (text, _) in enumerate(buttons, 1))
                self._print(choices)
        elif method == "answerCallbackQuery" and params.get("text"):
            self._print(f"💬 {params['text']}")
        elif method == "editMessageReplyMarkup" and isinstance(result, dict):
            buttons = keyboard_buttons(result)
            self.buttons = [(text, data, result) for text, data in buttons]
            choices = "  ".join(f"[{n}] {text}" for n, (text, _) in enumerate(buttons, 1))
            self._print(f"✏️ buttons: {choices}")
        elif method == "sendDocument" and isinstance(params.get("document"), dict):
            name, size = params["document"].get("file_name"), params["document"].get("file_size")
            self._print(f"\n📎 {name} ({size} bytes) {params.get('caption') or ''}")

    # -- life cycle

    async def start(self) -> None:
        """Build the database, services, application and engines; release the first items."""
        from bot.app import build_engines, build_services
        from handlers.context import install_services
        from handlers.setup import register, set_command_menus
        from storage.migrate import upgrade_async

        url = f"sqlite+aiosqlite:///{Path(self._tmp.name) / 'demo.db'}"
        settings = Settings(
            database_url=url,
            admin_ids=frozenset({USER_ID}),
            telegram_bot_token=None,
            default_language=self.language,
        )
        await upgrade_async(url)
        db = Database(url)
        services = await build_services(settings, db, fetcher=Fetcher())
        application = (
            ApplicationBuilder()
            .token(DEMO_TOKEN)
            .request(self.api)
            .get_updates_request(self.api)
            .updater(None)
            .build()
        )
        install_services(application, services)
        register(application)
        await application.initialize()
        await set_command_menus(application.bot)
        self.services, self.application = services, application
        self._engines = build_engines(services, application)
        await self._start_linking(db, settings.encoder)
        await self.pump()

    async def _start_linking(self, db: Database, encoder: str) -> None:
        """Load the sentence encoder in its worker process, so Arabic and English reports of
        one event link (without it the demo runs on words only, as the bot would)."""
        if encoder == "off":
            return
        self._embedder = Embedder(encoder)
        if (await self._embedder.start()).available:
            self._linker = Linker(db, self._embedder)

    async def close(self) -> None:
        """Stop the application and remove the temporary database."""
        if self.application is not None:
            await self.application.shutdown()
        if self._embedder is not None:
            await self._embedder.close()
        if self.services is not None:
            await self.services.db.dispose()
        self._tmp.cleanup()

    def elapsed(self) -> float:
        """Demo seconds since the start (sped up, plus any /wait)."""
        return (_time.monotonic() - self.started) * self.speed + self.skipped

    async def pump(self) -> None:
        """Release due items, then fan out and deliver what they owe."""
        if self.services is None or self._engines is None:
            return
        async with self._pump_lock:
            now = self.elapsed()
            due: list[JSON] = []
            while self.released < len(self.items):
                item = self.items[self.released]
                if float(item.get("offset", 0)) > now:
                    break
                due.append(as_record(item, self.released))
                self.released += 1
            if due:
                await self.services.ingest.ingest_records(due)
            if self._linker is not None:  # embed the new items and link across languages
                await self._linker.run_until_idle()
            await self.services.follows.refresh()
            await self._engines.fanout.run_until_idle()
            self.pushing = True
            try:
                await self._engines.worker.run_until_idle()
            finally:
                self.pushing = False

    async def run_pumps(self, stop: asyncio.Event) -> None:
        """Pump every second until stopped."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=PUMP_SECONDS)
            except TimeoutError:
                await self.pump()

    # -- input

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False means quit."""
        text = line.strip()
        if not text:
            return True
        if text in ("/quit", "/exit"):
            return False
        if text.startswith("/wait"):
            arg = text.removeprefix("/wait").strip()
            self.skipped += float(arg) if arg.replace(".", "", 1).isdigit() else 60.0
            await self.pump()
            return True
        if text.isdigit():
            await self.press(int(text))
            return True
        await self.feed(
            self.factory.message(
                text, chat_id=CHAT_ID, user_id=USER_ID, language_code=self.language
            )
        )
        await self.pump()
        return True

    async def press(self, number: int) -> None:
        """Press the numbered button of the newest keyboard."""
        if not 1 <= number <= len(self.buttons):
            self._print("(no such button)")
            return
        _text, data, message = self.buttons[number - 1]
        await self.feed(
            self.factory.callback(
                data, message=message, user_id=USER_ID, language_code=self.language
            )
        )
        await self.pump()

    async def feed(self, payload: JSON) -> None:
        """Turn JSON into an Update and let the application process it."""
        if self.application is None:
            return
        update = Update.de_json(payload, self.application.bot)
        await self.application.process_update(update)

    def intro(self) -> None:
        """What the demo is and how to use it."""
        self._print(
            "Akhbar demo — offline, no token. Type commands as in Telegram "
            "(/start, /topics, /follow flood, /search fuel, /mysubs, /help, "
            "/settings news both, /mute cup final, /mute source Sports Line, /unmute).\n"
            "Every push has a Mute source button (pressed, it turns into Undo).\n"
            "Arabic and English reports of one event are one story: /topics lists it once, "
            "its card shows who covers it in each language.\n"
            "Numbers press the buttons shown as [1] [2] …; /wait 60 skips a minute of "
            "demo time; /quit ends. New demo items arrive over the first three minutes."
        )


async def run_script(session: DemoSession, lines: Iterable[str], linger: float) -> None:
    """Run lines one after another, then wait briefly for pending pushes."""
    await session.start()
    try:
        for line in lines:
            if line.strip():
                session._print(f"\n> {line.strip()}")
            if not await session.handle_line(line):
                break
        deadline = _time.monotonic() + linger
        while _time.monotonic() < deadline:
            await session.pump()
            await asyncio.sleep(0.2)
        await session.pump()
    finally:
        await session.close()


async def run_interactive(session: DemoSession, stdin: TextIO) -> None:
    """The terminal chat: read lines while items keep arriving in the background."""
    await session.start()
    session.intro()
    stop = asyncio.Event()
    pumps = asyncio.create_task(session.run_pumps(stop))
    try:
        while True:
            session.out.write("\n> ")
            session.out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if not await session.handle_line(line):
                break
    finally:
        stop.set()
        await pumps
        await session.close()


def run_demo(
    script: Path | None = None,
    *,
    language: str = "en",
    speed: float = 1.0,
    linger: float = 1.0,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> None:
    """Run the demo: a script file, piped stdin, or an interactive terminal chat."""
    source = stdin or sys.stdin
    session = DemoSession(out or sys.stdout, language=language, speed=speed)
    if script is not None:
        lines = script.read_text(encoding="utf-8").splitlines()
        asyncio.run(run_script(session, lines, linger))
    elif not source.isatty():
        asyncio.run(run_script(session, source.read().splitlines(), linger))
    else:
        asyncio.run(run_interactive(session, source))
