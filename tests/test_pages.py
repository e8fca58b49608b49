"""Article-page extraction quality (pinned floor), Arabic decoding, seed-shaped page, section links."""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime

from bot.pipeline.pages import extract_page, extract_section_links
from tests.datapaths import data_path

NOW = datetime(2026, 1, 1, tzinfo=UTC)
F1_FLOOR = 0.94  # measured 0.951 (trafilatura defaults: 0.925); only ever raise this
SNIPPET_PASS_FLOOR = 0.75  # measured 0.80 of pages passing every snippet check
_WORD = re.compile(r"\w+")
_AR_NORM = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه", "\u0640": None})


def _tokens(text: str) -> Counter[str]:
    """Bag of lower-cased, lightly normalised word tokens."""
    norm = unicodedata.normalize("NFKC", text).lower().translate(_AR_NORM)
    return Counter(_WORD.findall(norm))


def _f1(pred: str, gold: str) -> float:
    """Word-level bag-of-tokens F1."""
    p, g = _tokens(pred), _tokens(gold)
    overlap = sum((p & g).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(p.values()), overlap / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def _squash(text: str) -> str:
    """Case-folded, whitespace-collapsed text for snippet checks."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def test_extraction_quality_floor() -> None:
    """Mean word F1 against gold text stays above the pinned floor; snippet checks reported."""
    root = data_path("html_extraction")
    pages = [json.loads(line) for line in (root / "pages.jsonl").open(encoding="utf-8")]
    scores: list[float] = []
    snippet_pages: list[bool] = []
    for page in pages:
        with gzip.open(root / page["html_file"]) as fh:
            raw = fh.read()
        result = extract_page(raw, page["url"], None, NOW)
        if page.get("gold_text"):
            scores.append(_f1(result.text, page["gold_text"]))
        must, must_not = page.get("must_contain") or [], page.get("must_not_contain") or []
        if must or must_not:
            text = _squash(result.text)
            ok = all(_squash(m) in text for m in must) and all(
                _squash(m) not in text for m in must_not
            )
            snippet_pages.append(ok)
    mean_f1 = sum(scores) / len(scores)
    snippet_rate = sum(snippet_pages) / len(snippet_pages)
    print(
        f"extraction: mean F1={mean_f1:.4f} over {len(scores)} pages; "
        f"snippet pages all-pass={snippet_rate:.3f} over {len(snippet_pages)}"
    )
    assert len(scores) >= 70
    assert mean_f1 >= F1_FLOOR
    assert snippet_rate >= SNIPPET_PASS_FLOOR


def test_arabic_page_decoded() -> None:
    """The Arabic Assabah page decodes to Arabic with its title, date and snippets."""
    root = data_path("html_extraction")
    page = next(
        json.loads(line)
        for line in (root / "pages.jsonl").open(encoding="utf-8")
        if json.loads(line)["lang"] == "ar"
    )
    with gzip.open(root / page["html_file"]) as fh:
        result = extract_page(fh.read(), page["url"], None, NOW)
    assert result.lang == "ar"
    assert "خالد عبد الكريم" in result.title
    assert all(_squash(m) in _squash(result.text) for m in page["must_contain"])
    assert result.published.year == 2019


SEED_PAGE = """<!doctype html><html lang="ar" dir="rtl"><head><meta charset="windows-1256">
<title>موسكو: لافروف وكيري يبحثان الوضع السوري الجمعة في جنيف - أخبار</title>
<meta property="article:published_time" content="2016-08-24T16:20:00+03:00"></head><body>
<header><nav><a href="/">الرئيسية</a><a href="/section/world/">العالم</a></nav></header>
<aside class="stories"><h3>Stories</h3><span>35 خبر</span><ul>
<li><a href="/story/maduro-arrest-washington-2026">واشنطن تعتقل مادورو</a></li>
<li><a href="/story/aleppo-clashes-2026">اشتباكات حلب</a></li></ul></aside>
<main><article><h1>موسكو: لافروف وكيري يبحثان الوضع السوري الجمعة في جنيف</h1>
<p class="lede">أكدت وزارة الخارجية الروسية أن الوزير سيرغي لافروف سيلتقي نظيره الأمريكي جون كيري في جنيف الجمعة 26 أغسطس/آب لبحث الأزمة السورية.</p>
<figure><img src="/img/1.jpg" alt="لافروف وكيري"><figcaption>لافروف وكيري.. صورة أرشيفية / Jorge Silva / Reuters</figcaption></figure>
<p>وجاء في بيان صادر عن الخارجية الروسية الأربعاء 24 أغسطس/آب أن الوزيرين بحثا في اتصال هاتفي الوضع في سوريا والأزمة الأوكرانية، وأكد البيان ضرورة فصل وحدات المعارضة عن الجماعات الإرهابية.</p>
<p>وأفادت وكالة رويترز في وقت سابق الأربعاء نقلا عن مسؤول أمريكي بأن كيري ولافروف سيبحثان الجمعة في جنيف الأزمتين في سوريا وأوكرانيا، فيما لم تؤكد الخارجية الروسية موعد الاجتماع.</p>
<p>من جهة أخرى، أكد مصدر في البعثة الأمريكية في جنيف لوكالة نوفوستي الجمعة الماضي بدء التحضيرات لمباحثات الوزيرين في المدينة السويسرية.</p>
<p>المصدر: وكالات</p></article>
<section class="related-news"><h3>اقرأ أيضا</h3><ul>
<li><a href="/news/2026/01/qadyrov-zelensky-maduro.html">قديروف يرد على طلب زيلينسكي من واشنطن اختطافه على غرار مادورو</a></li>
<li><a href="/news/2026/01/un-tanker-marinera.html?utm_source=rel">الأمم المتحدة تعلق على حادثة احتجاز الناقلة الروسية مارينيرا</a></li>
</ul></section></main><footer><a href="/privacy">الخصوصية</a></footer></body></html>"""


def test_seed_shaped_page() -> None:
    """A windows-1256 page shaped like the seed yields every field we keep."""
    data = SEED_PAGE.encode("cp1256")
    page = extract_page(
        data,
        "https://arabic.example.com/news/2016/08/lavrov-kerry.html",
        {"Content-Type": "text/html"},
        NOW,
    )
    assert page.encoding == "windows-1256"
    assert page.title == "موسكو: لافروف وكيري يبحثان الوضع السوري الجمعة في جنيف"
    assert page.lede.startswith("أكدت وزارة الخارجية الروسية")
    assert page.image_caption == "لافروف وكيري.. صورة أرشيفية / Jorge Silva / Reuters"
    assert page.source_line == "المصدر: وكالات"
    assert page.published == datetime(2016, 8, 24, 13, 20, tzinfo=UTC)
    assert page.lang == "ar"
    assert "بدء التحضيرات" in page.text and "الخصوصية" not in page.text
    assert page.related == [
        (
            "قديروف يرد على طلب زيلينسكي من واشنطن اختطافه على غرار مادورو",
            "https://arabic.example.com/news/2026/01/qadyrov-zelensky-maduro.html",
        ),
        (
            "الأمم المتحدة تعلق على حادثة احتجاز الناقلة الروسية مارينيرا",
            "https://arabic.example.com/news/2026/01/un-tanker-marinera.html",
        ),
    ]


def test_section_links() -> None:
    """Section pages give same-site article links, canonical, deduplicated, bounded."""
    items = "".join(
        f'<li><a href="/news/2026/01/story-number-{i}.html?utm_medium=x">عنوان الخبر رقم {i} اليوم</a></li>'
        for i in range(80)
    )
    html = (
        '<html><body><nav><a href="/news/2026/01/nav-item-link.html">رابط في القائمة العلوية</a></nav>'
        f'<ul>{items}</ul><a href="https://other.example.org/news/2026/x-y-z">موقع آخر تماما هنا</a>'
        '<a href="/tag/syria">سوريا والأخبار</a><a href="/news/2026/01/story-number-0.html">عنوان مكرر هنا</a>'
        "</body></html>"
    )
    links = extract_section_links(html, "https://ar.example.com/section/world/", limit=50)
    assert len(links) == 50
    assert links[0] == "https://ar.example.com/news/2026/01/story-number-0.html"
    assert all(link.startswith("https://ar.example.com/news/") for link in links)
    assert len(set(links)) == 50


def test_hostile_html_never_raises() -> None:
    """Broken, empty, binary and deeply nested input never raises."""
    for data in [
        b"",
        b"\x00\x01\x02",
        b"<html" * 1000,
        b"<div>" * 5000 + b"x",
        "<p>نص</p>",
        b"<?xml?>",
    ]:
        page = extract_page(data, "https://ex.com/a", None, NOW)
        assert isinstance(page.text, str)
        assert isinstance(extract_section_links(data, "https://ex.com/"), list)
