"""job run chunks: cron_execution_log counts the chunks of a run fanned out to workers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 14:16:15.003446

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cron_execution_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chunks_total', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('chunks_done', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('cron_execution_log', schema=None) as batch_op:
        batch_op.drop_column('chunks_done')
        batch_op.drop_column('chunks_total')
