"""stored search vector

Revision 0002 (after 0001). PostgreSQL: `articles.search_tsv`, a stored generated column
holding `strip(to_tsvector('simple', search_text))`, with the GIN index on it instead of on
the expression, so queries neither compute to_tsvector per row nor guess its statistics.
SQLite: nothing changes (FTS5 already stores its index).
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

POSTGRES_UP = [
    "DROP INDEX IF EXISTS ix_articles_search_tsv",
    "ALTER TABLE articles ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS "
    "(strip(to_tsvector('simple'::regconfig, search_text))) STORED",
    "CREATE INDEX ix_articles_search_tsv ON articles USING gin (search_tsv)",
    "ANALYZE articles",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_articles_search_tsv",
    "ALTER TABLE articles DROP COLUMN IF EXISTS search_tsv",
    "CREATE INDEX ix_articles_search_tsv ON articles "
    "USING gin (to_tsvector('simple'::regconfig, search_text))",
]


def _run(statements: list[str]) -> None:
    """Execute raw DDL statements in order, on PostgreSQL only."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    """Apply this revision."""
    _run(POSTGRES_UP)


def downgrade() -> None:
    """Revert this revision."""
    _run(POSTGRES_DOWN)
