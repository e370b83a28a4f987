"""Texts that reach mail headers are put on one line: subscriber and list names, campaign subjects and
senders, transactional template subjects.

Before issue 14 a name sent with CR/LF (the public form took it) was stored as sent, and the MIME
builder wrote it into To: as header lines of its own. Entry points now fold such text to one line
(core/oneline.py) and the builder folds whatever it is given; this cleans the rows stored before,
the same way: each run of line breaks and tabs becomes a space, other control characters go.
The rows are read in Python (one regular expression for both databases, and SQLite has none);
only the changed ones are written. There is no way back to the broken values: downgrade does nothing.

Revision ID: 0021
Revises: 0020
"""
import re

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

COLUMNS = {'subscribers': ('name',), 'lists': ('name',), 'campaigns': ('subject', 'from_email'),
           'templates': ('subject',)}
# As core/oneline.py has them on the day of this migration (a migration keeps its own copy).
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
LINE_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")
READ_BATCH = 10_000


def _one_line(text: str) -> str:
    return CONTROLS.sub('', LINE_BREAKS.sub(' ', text)).strip()


def upgrade() -> None:
    connection = op.get_bind()
    for table_name, columns in COLUMNS.items():
        table = sa.table(table_name, sa.column('id', sa.Integer), *(sa.column(c, sa.String) for c in columns))
        changed = []
        rows = connection.execute(sa.select(table.c.id, *(table.c[c] for c in columns))
                                  .execution_options(yield_per=READ_BATCH))  # this statement only
        for row_id, *texts in rows:
            values = {c: _one_line(t) for c, t in zip(columns, texts, strict=True) if t and CONTROLS.search(t)}
            if values:
                changed.append((row_id, values))
        for row_id, values in changed:  # written once the reading is done; few rows
            connection.execute(table.update().where(table.c.id == row_id).values(values))


def downgrade() -> None:
    pass
