"""Channel management (pure): reading channel names and subcommands, and the /channel list."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from bot.domain import Chat, DeliveryMode, Follow, FollowKind
from bot.presentation.callbacks import CHANNEL, encode
from bot.presentation.i18n import t
from bot.presentation.message import Button, Rendered
from bot.presentation.render import clean, isolate, mark, split_html

REF_MAX: Final = 64  # longer "names" are refused before any call to Telegram
TITLE_MAX: Final = 60
BUTTON_TITLE_MAX: Final = 24
FOLLOWS_SHOWN: Final = 20
_USERNAME: Final = re.compile(
    r"(?:@|(?:https?://)?(?:t|telegram)\.me/)?([A-Za-z][A-Za-z0-9_]{3,31})/?", re.I
)
_CHANNEL_ID: Final = re.compile(r"-100\d{1,13}")

#: Subcommands of /channel (English and Arabic words) → their canonical name.
VERBS: Final[dict[str, str]] = {
    "add": "add",
    "connect": "add",
    "إضافة": "add",
    "اضافة": "add",
    "ربط": "add",
    "follow": "follow",
    "متابعة": "follow",
    "تابع": "follow",
    "unfollow": "unfollow",
    "إلغاء": "unfollow",
    "الغاء": "unfollow",
    "digest": "digest",
    "ملخص": "digest",
    "الملخص": "digest",
    "remove": "remove",
    "disconnect": "remove",
    "حذف": "remove",
    "فصل": "remove",
    "list": "list",
    "قائمة": "list",
}
_ON: Final = frozenset({"on", "yes", "1", "true", "تشغيل", "نعم"})
_OFF: Final = frozenset({"off", "no", "0", "false", "إيقاف", "ايقاف", "لا"})


def parse_channel_ref(text: str) -> str | int | None:
    """A channel as Telegram's getChat takes it: "@name" (also from t.me links) or a
    numeric -100… id; None for anything else (empty, too long, not a name)."""
    value = text.strip()
    if not value or len(value) > REF_MAX:
        return None
    if _CHANNEL_ID.fullmatch(value):
        return int(value)
    match = _USERNAME.fullmatch(value)
    return "@" + match.group(1) if match else None


def parse_switch(text: str) -> bool | None:
    """ "on"/"off" (and synonyms in both languages) as a bool; None when neither."""
    lowered = text.strip().lower()
    if lowered in _ON:
        return True
    if lowered in _OFF:
        return False
    return None


def shown_ref(text: str) -> str:
    """What the user typed as a channel name, short enough to quote back."""
    value = clean(text, REF_MAX)
    return value or "?"


def channel_code(chat_id: int) -> int:
    """A channel id as a callback argument (without its minus sign)."""
    code = abs(chat_id)
    if code not in CHANNEL:
        raise ValueError(f"not a channel id: {chat_id}")
    return code


def channel_title(chat: Chat) -> str:
    """A channel's title, or its id when it has none (plain text)."""
    return clean(chat.title, TITLE_MAX) or str(chat.id)


def follow_text(follow: Follow, labels: Mapping[int, str]) -> str:
    """What a follow points at, as escaped HTML."""
    if follow.kind is FollowKind.STORY:
        label = labels.get(follow.story_id or 0)
        return isolate(label, TITLE_MAX) if label else f"#{follow.story_id}"
    return f"“{isolate(follow.query or '', TITLE_MAX)}”"


def is_digest_mode(follows: Sequence[Follow]) -> bool:
    """Whether every follow of a channel (at least one) is digest-only."""
    return bool(follows) and all(f.mode is DeliveryMode.DIGEST for f in follows)


def _channel_block(
    lang: str, index: int, chat: Chat, follows: Sequence[Follow], labels: Mapping[int, str]
) -> str:
    """One channel: title and id, delivery mode, numbered follows."""
    m = mark(lang)
    digest = is_digest_mode(follows)
    mode = (
        t(lang, "channel.mode_digest", time=chat.digest_time.strftime("%H:%M"))
        if digest
        else t(lang, "channel.mode_instant")
    )
    lines = [f"{m}{index}. <b>{isolate(channel_title(chat), TITLE_MAX)}</b> <code>{chat.id}</code>"]
    lines.append(f"{m}{mode}")
    if not follows:
        lines.append(m + t(lang, "channel.follows_none"))
    for n, follow in enumerate(follows[:FOLLOWS_SHOWN], 1):
        lines.append(f"{m}   {n}. {follow_text(follow, labels)}")
    if len(follows) > FOLLOWS_SHOWN:
        lines.append(f"{m}   …")
    return "\n".join(lines)


def _channel_buttons(lang: str, chat: Chat, follows: Sequence[Follow]) -> tuple[Button, ...]:
    """Digest on/off and Disconnect for one channel."""
    name = clean(chat.title, BUTTON_TITLE_MAX) or str(chat.id)
    code = channel_code(chat.id)
    key = "btn.channel_instant" if is_digest_mode(follows) else "btn.channel_digest"
    return (
        Button(t(lang, key, title=name), encode("cd", code)),
        Button(t(lang, "btn.channel_remove", title=name), encode("cx", code)),
    )


def render_channels(
    lang: str,
    channels: Sequence[tuple[Chat, Sequence[Follow]]],
    labels: Mapping[int, str],
) -> list[Rendered]:
    """The user's connected channels with what each receives, split into messages; the
    last one carries the buttons."""
    m = mark(lang)
    if not channels:
        return [Rendered(m + t(lang, "channel.none"))]
    blocks = [m + t(lang, "channel.header")]
    rows = []
    for index, (chat, follows) in enumerate(channels, 1):
        blocks.append(_channel_block(lang, index, chat, follows, labels))
        rows.append(_channel_buttons(lang, chat, follows))
    blocks.append(m + t(lang, "channel.usage"))
    parts = split_html("\n\n".join(blocks))
    return [Rendered(p) for p in parts[:-1]] + [Rendered(parts[-1], tuple(rows))]
