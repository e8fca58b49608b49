"""app state

Revision 0004 (after 0003). `app_state`: named values the bot keeps for itself across
restarts and processes, such as the webhook secret generated when none is configured.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "app_state",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_state")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("app_state")
