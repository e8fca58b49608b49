"""cross-language links

Revision 0005 (after 0004). `articles.embedding`: the article's sentence vector as compact
int8 bytes (`bot.pipeline.encoder.pack_vector`), NULL until the linker has embedded it.
`story_links`: pairs of stories (lower id first) that report one event in two languages,
with the cosine that linked them and when. `chats.news_langs`: the languages a chat reads
news in ("ar", "en" or "both"; NULL is the default, the interface language plus the other
language's linked coverage).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("articles", sa.Column("embedding", sa.LargeBinary(), nullable=True))
    op.add_column("chats", sa.Column("news_langs", sa.String(length=8), nullable=True))
    op.create_table(
        "story_links",
        sa.Column("story_a", sa.Integer(), nullable=False),
        sa.Column("story_b", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_a"],
            ["stories.id"],
            name=op.f("fk_story_links_story_a_stories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["story_b"],
            ["stories.id"],
            name=op.f("fk_story_links_story_b_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("story_a", "story_b", name=op.f("pk_story_links")),
    )
    op.create_index(op.f("ix_story_links_story_b"), "story_links", ["story_b"], unique=False)


def downgrade() -> None:
    """Revert this revision (stored vectors, links and the setting are dropped)."""
    op.drop_index(op.f("ix_story_links_story_b"), table_name="story_links")
    op.drop_table("story_links")
    op.drop_column("chats", "news_langs")
    op.drop_column("articles", "embedding")
