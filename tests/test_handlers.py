"""Handlers through `Application.process_update` with a recording in-process Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.demo import as_record, load_items
from bot.presentation.i18n import t
from handlers.flood import FloodGuard
from storage.db import Database
from tests.bot_harness import ADMIN_ID, USER_ID, Harness, joined, make_harness, texts

GROUP = -500


def plain(text: str) -> str:
    """Catalog text without HTML tags, to compare with rendered messages."""
    import re

    return re.sub(r"<[^>]+>", "", text)


@pytest.fixture
async def bot(db: Database) -> AsyncIterator[Harness]:
    """A harness with the demo's first items ingested."""
    async with make_harness(db) as harness:
        items = [i for i in load_items() if i["offset"] == 0][:10]
        await harness.add_articles(as_record(i, n) for n, i in enumerate(items))
        await harness.deliver()
        yield harness


def no_errors(calls: list[Any]) -> None:
    """No call carried the generic error message."""
    assert "Something went wrong" not in joined(calls)


async def test_start_in_both_languages(bot: Harness) -> None:
    """/start speaks the user's Telegram language and offers the language choice."""
    en = await bot.command("/start", chat_id=1, user_id=1, lang="en-US")
    assert "Welcome to Akhbar" in joined(en)
    assert [c.method for c in en] == ["sendMessage"]
    assert en[0].params["parse_mode"] == "HTML"
    ar = await bot.command("/start", chat_id=2, user_id=2, lang="ar")
    assert plain(t("ar", "language.choose")) in joined(ar)
    assert bot.find_button(ar, "lg:")


async def test_help_and_admin_help(bot: Harness) -> None:
    """/help lists commands; operators also see operator commands; /help@bot works."""
    user = joined(await bot.command("/help"))
    assert "/topics" in user and "/stats" not in user
    admin = joined(await bot.command("/help", chat_id=ADMIN_ID, user_id=ADMIN_ID))
    assert "/stats" in admin
    assert "/topics" in joined(await bot.command("/help@akhbar_demo_bot"))
    assert await bot.command("/help@some_other_bot") == []


async def test_unknown_command(bot: Harness) -> None:
    """Unknown commands get a localised answer."""
    assert "I don't know that command" in joined(await bot.command("/frobnicate"))
    ar = joined(await bot.command("/frobnicate", chat_id=3, user_id=3, lang="ar"))
    assert plain(t("ar", "unknown.command")) in ar


async def test_topics_follow_and_mysubs_buttons(bot: Harness) -> None:
    """Follow from /topics, then Remove / Instant↔Digest / Mute in /mysubs."""
    topics = await bot.command("/topics")
    assert "Trending stories" in joined(topics)
    message, data = bot.find_button(topics, "fs:")
    assert "Following" in joined(await bot.press(data, message))
    assert "Already following" in joined(await bot.press(data, message))
    subs = await bot.command("/mysubs")
    assert "instant" in joined(subs)
    message, mode = bot.find_button(subs, "md:")
    edited = await bot.press(mode, message)
    assert "digest only" in joined(edited)
    assert any(c.method == "editMessageText" for c in edited)
    message, mute = bot.find_button(edited, "mu:")
    muted = await bot.press(mute, message)
    assert "muted" in joined(muted)
    message, remove = bot.find_button(muted, "rm:")
    removed = await bot.press(remove, message)
    assert "Removed" in joined(removed)
    assert "don't follow anything" in joined(await bot.command("/mysubs"))
    stale = await bot.press(remove, message)
    assert "expired" in joined(stale)


async def test_follow_unfollow_keywords(bot: Harness) -> None:
    """/follow and /unfollow by words and by number; nothing is written twice."""
    assert "/follow Maduro" in joined(await bot.command("/follow"))
    assert "Following “fuel prices”" in joined(await bot.command("/follow fuel prices"))
    assert "already follow" in joined(await bot.command("/follow Fuel   Prices"))
    assert len(await bot.services.chats.follows(USER_ID)) == 1
    assert "/unfollow" in joined(await bot.command("/unfollow"))
    assert "Stopped following" in joined(await bot.command("/unfollow 1"))
    assert "Nothing you follow" in joined(await bot.command("/unfollow 1"))
    await bot.command("/follow metro")
    assert "Stopped following" in joined(await bot.command("/unfollow metro"))
    assert "Nothing you follow" in joined(await bot.command("/unfollow metro"))


async def test_search_paging_and_follow_this_search(bot: Harness) -> None:
    """Search pages edit in place; Follow this search makes a keyword follow."""
    stop_word = joined(await bot.command("/search the"))
    assert "No results for" in stop_word and "Results for" not in stop_word
    results = await bot.command("/search Wadi Sahel floods")
    assert "Results for" in joined(results)
    message, follow = bot.find_button(results, "fq:")
    assert "Following" in joined(await bot.press(follow, message))
    assert (await bot.services.chats.follows(USER_ID))[0].query == "Wadi Sahel floods"
    token = int(follow.split(":")[1])
    page = await bot.press(f"sp:{token}:1", message)  # past the last page: edited in place
    assert [c.method for c in page] == ["editMessageText", "answerCallbackQuery"]
    assert "No results for" in joined(page)
    assert bot.find_button(page, f"sp:{token}:0")  # ◀ back to the first page
    other = await bot.press(f"sp:{token}:0", chat_id=9, user_id=9)
    assert "expired" in joined(other)


async def test_search_pages_with_many_stories(db: Database) -> None:
    """More than one page of stories shows ▶, and pressing it edits the message."""
    async with make_harness(db) as bot:
        words = ["volcano", "election", "harvest", "satellite", "orchestra", "glacier", "bridge"]
        words += ["lantern", "meadow", "copper"]
        await bot.add_articles(
            {
                "id": w,
                "title": f"{w.capitalize()} {w} {w} zebra",
                "text": f"The zebra {w} report about {w} and {w} things in {w}land.",
                "source": f"S{n}",
                "lang": "en",
                "url": f"https://example.test/{w}",
            }
            for n, w in enumerate(words)
        )
        results = await bot.command("/search zebra")
        message, nxt = bot.find_button(results, "sp:")
        page = await bot.press(nxt, message)
        assert [c.method for c in page] == ["editMessageText", "answerCallbackQuery"]
        assert "Page 2" in joined(page)


async def test_settings_and_language(bot: Harness) -> None:
    """Settings show, change and validate; the language switches by command and button."""
    assert "Settings" in joined(await bot.command("/settings"))
    assert "07:30" in joined(await bot.command("/settings time 07:30"))
    assert "Asia/Riyadh" in joined(await bot.command("/settings tz riyadh"))
    assert "Etc/GMT-3" in joined(await bot.command("/settings tz UTC+3"))
    assert "Unknown time zone" in joined(await bot.command("/settings tz Atlantis"))
    assert "couldn't read that time" in joined(await bot.command("/settings time 25:99"))
    assert "22:00–07:00" in joined(await bot.command("/settings quiet 22:00-07:00"))
    assert "Quiet hours off" in joined(await bot.command("/settings quiet off"))
    assert "even on quiet days" in joined(await bot.command("/settings empty on"))
    assert "don't know that setting" in joined(await bot.command("/settings colour blue"))
    shown = await bot.command("/settings")
    message, toggle = bot.find_button(shown, "st:ed")
    toggled = await bot.press(toggle, message)
    assert "Empty digest: not sent" in joined(toggled)
    assert "language" in joined(await bot.command("/language"))
    switched = await bot.press("lg:ar", message)
    assert plain(t("ar", "language.switched")) in joined(switched)
    chat = await bot.services.chats.get(USER_ID)
    assert chat is not None and chat.language == "ar" and chat.timezone == "Etc/GMT-3"
    assert plain(t("ar", "topics.header")) in joined(await bot.command("/topics"))
    back = await bot.command("/settings lang en")
    assert "Language: English" in joined(back)


async def test_stop_and_start(bot: Harness) -> None:
    """/stop pauses; a second /stop says so; /start resumes."""
    assert "Paused" in joined(await bot.command("/stop"))
    assert "Already paused" in joined(await bot.command("/stop"))
    assert "Welcome back" in joined(await bot.command("/start"))
    chat = await bot.services.chats.get(USER_ID)
    assert chat is not None and not chat.paused


async def test_admin_commands(bot: Harness) -> None:
    """Operator commands are refused to others and work for operators."""
    for command in (
        "/sources",
        "/addsource http://127.0.0.1/feed.xml",
        "/removesource 1",
        "/stats",
    ):
        assert "operators only" in joined(await bot.command(command))
    admin = {"chat_id": ADMIN_ID, "user_id": ADMIN_ID}
    assert "No sources yet" in joined(await bot.command("/sources", **admin))  # one-shot only
    added = joined(await bot.command("/addsource http://127.0.0.1/feed.xml", **admin))
    assert "Added source" in added
    assert "Sources" in joined(await bot.command("/sources", **admin))
    assert "already listed" in joined(
        await bot.command("/addsource http://127.0.0.1/feed.xml", **admin)
    )
    assert "valid http" in joined(await bot.command("/addsource ftp://nope", **admin))
    assert "/addsource https" in joined(await bot.command("/addsource", **admin))
    sources = await bot.services.sources.list()
    new_id = max(s.id for s in sources)
    assert "Removed source" in joined(await bot.command(f"/removesource {new_id}", **admin))
    assert "no source" in joined(await bot.command(f"/removesource {new_id}", **admin))
    assert "/removesource id" in joined(await bot.command("/removesource x", **admin))
    stats = joined(await bot.command("/stats", **admin))
    assert "Stats" in stats and "Articles" in stats


async def test_groups_only_admins_change(bot: Harness) -> None:
    """In a group, members cannot change follows; admins and anonymous admins can."""
    bot.api.admins[GROUP] = {ADMIN_ID}
    group = {"chat_id": GROUP, "chat_type": "supergroup"}
    refused = await bot.command("/follow floods", user_id=USER_ID, **group)
    assert "Only the group's admins" in joined(refused)
    assert await bot.services.chats.follows(GROUP) == []
    assert "Following" in joined(await bot.command("/follow floods", user_id=ADMIN_ID, **group))
    anon = await bot.command("/follow metro", user_id=1087968824, sender_chat_id=GROUP, **group)
    assert "Following" in joined(anon)
    topics = await bot.command("/topics", user_id=USER_ID, **group)
    message, data = bot.find_button(topics, "fs:")
    pressed = await bot.press(data, message, chat_id=GROUP, user_id=USER_ID)
    assert "Only admins" in joined(pressed)
    assert await bot.command("/frobnicate", user_id=USER_ID, **group) == []


async def test_channel_post_command(bot: Harness) -> None:
    """Commands posted in a channel are answered."""
    calls = await bot.command(
        "/topics", chat_id=-900, user_id=None, chat_type="channel", channel=True
    )
    assert "Trending stories" in joined(calls)


BAD_QUERIES = [
    '"',
    "*",
    "(",
    "NEAR",
    "-",
    ":",
    "a NEAR b",
    '"unclosed',
    "\u200b",
    "\u200f\u200e",
    "🔥🌊",
    "x" * 10_000,
    "",
]
FORGED = [
    "zz:1",
    "fs:abc",
    "fs",
    "fs:1:2",
    "rm:999999",
    "md:-5",
    "sp:123456:0",
    "fq:99999",
    "x" * 80,
    "lg:fr",
    "st:zz",
    "",
]


async def test_bad_search_and_follow_input(bot: Harness) -> None:
    """Odd queries and keywords get a clear answer, never crash, and write nothing twice."""
    for query in BAD_QUERIES:
        for command in ("/search", "/follow"):
            calls = await bot.command(f"{command} {query}")
            no_errors(calls)
            assert texts(calls), (command, query)
    await bot.command("/follow 🔥 floods")
    await bot.command("/follow floods 🔥")
    keywords = [f for f in await bot.services.chats.follows(USER_ID) if f.query]
    assert len({f.terms for f in keywords}) == len(keywords)


async def test_forged_callbacks(bot: Harness) -> None:
    """Forged or stale button data gives a toast and changes nothing."""
    await bot.command("/start")
    for data in FORGED:
        calls = await bot.press(data)
        assert calls[-1].method == "answerCallbackQuery"
        assert calls[-1].params.get("text"), data
        no_errors(calls)
    assert await bot.services.chats.follows(USER_ID) == []


async def test_follow_story_that_is_gone(bot: Harness) -> None:
    """Following a story that no longer exists says so."""
    await bot.command("/start")
    calls = await bot.press("fs:987654")
    assert "can't find story" in joined(calls)
    assert "can't find story" in joined(await bot.command("/story 987654"))
    assert "/story 42" in joined(await bot.command("/story abc"))


async def test_flood_limit(db: Database) -> None:
    """Past the limit the chat gets one polite reply, then silence."""
    async with make_harness(db, flood=FloodGuard(limit=3, window=60)) as bot:
        for _ in range(3):
            assert texts(await bot.command("/help"))
        assert "very quickly" in joined(await bot.command("/help"))
        assert await bot.command("/help") == []
        bot.clock.advance(61)
        assert "/topics" in joined(await bot.command("/help"))


async def test_push_more_and_digest(bot: Harness) -> None:
    """A followed story's new article is pushed with related headlines and buttons."""
    topics = await bot.command("/topics")
    message, data = bot.find_button(topics, "fs:")
    await bot.press(data, message)
    story_id = int(data.split(":")[1])
    follow = (await bot.services.chats.follows(USER_ID))[0]
    assert follow.story_id == story_id
    card = await bot.command(f"/story {story_id}")
    assert "Timeline" in joined(card)
    timeline_titles = [line for line in joined(card).splitlines() if "•" in line]
    assert timeline_titles
    # a new report about the same event, close to an existing headline of the story
    async with bot.services.db.unit_of_work() as session:
        from storage.repos.articles import ArticleRepo

        existing = await ArticleRepo(session).for_story(story_id, 5)
    base = existing[0]
    await bot.add_articles(
        [
            {
                "id": "later-1",
                "title": base.title + " — update",
                "text": base.text + " More details were given later in the day.",
                "source": "Late Wire",
                "lang": base.lang,
                "url": "https://example.test/later-1",
            }
        ]
    )
    before = len(bot.api.calls)
    await bot.deliver()
    pushes = bot.api.calls[before:]
    pushed = [
        c for c in pushes if c.method == "sendMessage" and int(c.params["chat_id"]) == USER_ID
    ]
    assert pushed, "a push should arrive for the followed story"
    push_message, more = bot.find_button(pushed, "mo:")
    assert "Timeline" in joined(await bot.press(more, push_message))
    _, mute = bot.find_button(pushed, "ms:")
    assert "Muted" in joined(await bot.press(mute, push_message))
    digest = joined(await bot.command("/digest"))
    assert "Your digest" in digest
    assert "You don't follow anything" in joined(
        await bot.command("/digest", chat_id=55, user_id=55)
    )


async def test_set_command_menus(bot: Harness) -> None:
    """Menus are set in English (default) and Arabic."""
    from handlers.setup import set_command_menus

    await set_command_menus(bot.app.bot)
    menus = [c for c in bot.api.calls if c.method == "setMyCommands"]
    assert len(menus) == 2
    assert menus[1].params.get("language_code") == "ar"


async def test_operators_get_their_own_menu(bot: Harness) -> None:
    """Operators see the admin commands in a menu scoped to their chat, in both languages."""
    from handlers.setup import set_command_menus

    await set_command_menus(bot.app.bot, admin_ids=[1])
    scoped = [
        c for c in bot.api.calls if c.method == "setMyCommands" and c.params.get("scope")
    ]
    assert len(scoped) == 2 and all("addsource" in str(c.params["commands"]) for c in scoped)


async def test_digest_counts_what_was_already_pushed(bot: Harness) -> None:
    """An article the chat already got as a push is not repeated: it counts as "more updates"."""
    topics = await bot.command("/topics")
    message, data = bot.find_button(topics, "fs:")
    await bot.press(data, message)
    story_id = int(data.split(":")[1])
    async with bot.services.db.unit_of_work() as session:
        from storage.repos.articles import ArticleRepo

        base = (await ArticleRepo(session).for_story(story_id, 1))[0]
    title = base.title + " — evening update"
    await bot.add_articles(
        [
            {
                "id": "pushed-1",
                "title": title,
                "text": base.text + " Officials gave new figures in the evening.",
                "source": "Evening Wire",
                "lang": base.lang,
                "url": "https://example.test/pushed-1",
            }
        ]
    )
    await bot.deliver()
    digest = joined(await bot.command("/digest"))
    assert "1 more update" in digest
    assert "https://example.test/pushed-1" not in digest  # not listed again as a headline
