"""unbounded validators

Revision 0003 (after 0002). `sources.etag` and `sources.last_modified` become TEXT: a
server may send an ETag longer than the old VARCHAR(500), and PostgreSQL then refused
every successful poll of that source. SQLite never enforced the lengths and both types
have TEXT affinity, so no stored byte changes: the declared types are rewritten in place
with SQLite's documented procedure for such changes (`writable_schema`, then a new
`schema_version`). A batch copy would drop and recreate `sources`, and with foreign keys
on, dropping it sets every article's `source_id` to NULL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


SQLITE_UP = [
    ("etag VARCHAR(500)", "etag TEXT"),
    ("last_modified VARCHAR(200)", "last_modified TEXT"),
]


def _sqlite_declare(pairs: list[tuple[str, str]]) -> None:
    """Rewrite declared column types of `sources` in SQLite's schema (same affinity only)."""
    bind = op.get_bind()
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar() or 0)
    sql = str(
        bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sources'"
        ).scalar()
    )
    for old, new in pairs:
        if old not in sql:
            raise RuntimeError(f"sources: expected column definition {old!r}")
        sql = sql.replace(old, new)
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'sources'", (sql,)
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def _retype(etag: sa.types.TypeEngine[str], last_modified: sa.types.TypeEngine[str]) -> None:
    """Give the two validator columns the given types (PostgreSQL)."""
    op.alter_column("sources", "etag", type_=etag, existing_nullable=True)
    op.alter_column("sources", "last_modified", type_=last_modified, existing_nullable=True)


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_declare(SQLITE_UP)
        return
    _retype(sa.Text(), sa.Text())


def downgrade() -> None:
    """Revert this revision (values longer than the old limits are cut to them)."""
    op.execute("UPDATE sources SET etag = substr(etag, 1, 500) WHERE length(etag) > 500")
    op.execute(
        "UPDATE sources SET last_modified = substr(last_modified, 1, 200) "
        "WHERE length(last_modified) > 200"
    )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_declare([(new, old) for old, new in SQLITE_UP])
        return
    _retype(sa.String(500), sa.String(200))
