"""reader features: mutes, forum topics, link previews, channels, feed names, lead images

Revision 0007 (after 0006). `mutes`: a chat's muted word queries (matching terms, as keyword
follows store them) and muted sources. `follows.thread_id` / `deliveries.thread_id`: the forum
topic a follow was made in, copied onto each push it owes. `chats.is_forum`,
`chats.digest_thread_id` (the topic digests go to), `chats.preview` (link preview below /
above / off) and `chats.managed_by` (for a channel: the admin who connected it).
`sources.name_auto`: the name is a stand-in (the host) until the feed's own title is known;
`sources.last_success_at`: the last fetch that worked. `articles.image_url`: the lead image.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "mutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("query", sa.String(length=500), nullable=True),
        sa.Column("terms", sa.String(length=1000), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_mutes_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_mutes_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mutes")),
        sa.UniqueConstraint("chat_id", "terms", name=op.f("uq_mutes_chat_id_terms")),
        sa.UniqueConstraint("chat_id", "source_id", name=op.f("uq_mutes_chat_id_source_id")),
    )
    op.create_index(op.f("ix_mutes_chat_id"), "mutes", ["chat_id"], unique=False)
    op.add_column("follows", sa.Column("thread_id", sa.BigInteger(), nullable=True))
    op.add_column("deliveries", sa.Column("thread_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "chats", sa.Column("is_forum", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column("chats", sa.Column("digest_thread_id", sa.BigInteger(), nullable=True))
    op.add_column("chats", sa.Column("preview", sa.String(length=8), nullable=True))
    op.add_column("chats", sa.Column("managed_by", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_chats_managed_by"), "chats", ["managed_by"], unique=False)
    op.add_column(
        "sources", sa.Column("name_auto", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column("sources", sa.Column("last_success_at", sa.DateTime(), nullable=True))
    op.add_column("articles", sa.Column("image_url", sa.Text(), nullable=True))


def downgrade() -> None:
    """Revert this revision (mutes, topics, preview and channel settings, lead images dropped)."""
    op.drop_column("articles", "image_url")
    op.drop_column("sources", "last_success_at")
    op.drop_column("sources", "name_auto")
    op.drop_index(op.f("ix_chats_managed_by"), table_name="chats")
    op.drop_column("chats", "managed_by")
    op.drop_column("chats", "preview")
    op.drop_column("chats", "digest_thread_id")
    op.drop_column("chats", "is_forum")
    op.drop_column("deliveries", "thread_id")
    op.drop_column("follows", "thread_id")
    op.drop_index(op.f("ix_mutes_chat_id"), table_name="mutes")
    op.drop_table("mutes")
