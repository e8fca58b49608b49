"""Names of the hand-written full-text objects that autogenerate must not compare."""

from __future__ import annotations

from typing import Any

FTS_OBJECT_PREFIX = "articles_fts"
POSTGRES_FTS_INDEX = "ix_articles_search_tsv"
POSTGRES_FTS_COLUMN = "search_tsv"  # stored generated tsvector, PostgreSQL only (revision 0002)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave the hand-written full-text objects out of autogenerate comparisons."""
    if name and name.startswith(FTS_OBJECT_PREFIX):
        return False
    if type_ == "column" and name == POSTGRES_FTS_COLUMN:
        return False
    return not (type_ == "index" and name == POSTGRES_FTS_INDEX)
