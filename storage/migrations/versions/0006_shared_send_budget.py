"""shared send budget

Revision 0006 (after 0005). `send_budget`: one row per budget (the bot's is "bot") holding
the time, in epoch seconds, of its next free send slot; every sending process reserves
batches of slots from it (`bot.pipeline.send_slots`). `chats.paced_by` / `chats.paced_until`:
the process that may send to the chat until then (set when it claims the chat's rows), so
two processes never pace one chat each on their own.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "send_budget",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("next_free", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_send_budget")),
    )
    op.add_column("chats", sa.Column("paced_by", sa.String(length=100), nullable=True))
    op.add_column("chats", sa.Column("paced_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    """Revert this revision (the budget's clock and the chats' pacing holders are dropped)."""
    op.drop_column("chats", "paced_until")
    op.drop_column("chats", "paced_by")
    op.drop_table("send_budget")
