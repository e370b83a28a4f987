"""An import's upload and bad rows move from the data folder into the database (import_chunks).

With several machines, each with its own data folder, the worker that ran an import could not
find the upload a web machine had saved, and a web machine could not show the bad rows a worker
had written. The database is what every machine reaches. Files found in this machine's data
folder are moved in (the upload of an import not yet ended, and bad rows), read and written a
megabyte at a time, and deleted from the folder. An import still waiting for its mapping whose
upload is not here is cancelled: nobody can start it any more. imports.path goes.

Revision ID: 0025
Revises: 0024
"""
from pathlib import Path

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

CHUNK_BYTES = 1024 * 1024
NOT_ENDED = ('pending', 'queued', 'importing')

chunks = sa.table('import_chunks', sa.column('import_id', sa.Integer), sa.column('file', sa.String),
                  sa.column('seq', sa.Integer), sa.column('data', sa.LargeBinary))


def _move_in(import_id: int, file: str, path: Path) -> int:
    """Copy a file into import_chunks, a chunk at a time; return its line count."""
    lines, last = 0, b'\n'
    with path.open('rb') as source:
        for seq, chunk in enumerate(iter(lambda: source.read(CHUNK_BYTES), b'')):
            op.execute(chunks.insert().values(import_id=import_id, file=file, seq=seq, data=chunk))
            lines, last = lines + chunk.count(b'\n'), chunk[-1:]
    return lines + (0 if last == b'\n' else 1)


def upgrade() -> None:
    bind = op.get_bind()
    imports = bind.execute(sa.text('SELECT id, status, path FROM imports')).all()
    # SQLite makes the table again to drop a column: AUTOINCREMENT (0023) is said again, and nothing refers
    # to imports yet (with foreign keys on, dropping the old table would delete what did).
    with op.batch_alter_table('imports', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('path')
    op.create_table(
        'import_chunks',
        sa.Column('import_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('file', sa.Enum('upload', 'bad_rows', name='importfile', native_enum=False, length=20),
                  nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['import_id'], ['imports.id'], name=op.f('fk_import_chunks_import_id_imports'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('import_id', 'file', 'seq', name=op.f('pk_import_chunks')),
    )
    moved: list[Path] = []
    for import_id, status, path in imports:
        if not path:  # emptied by a downgrade: its files went with import_chunks
            continue
        upload, bad_rows = Path(path), Path(path).with_suffix('.errors.csv')
        if status in NOT_ENDED and upload.is_file():
            lines = _move_in(import_id, 'upload', upload)
            bind.execute(sa.text('UPDATE imports SET total = :total WHERE id = :id AND total = 0'),
                         {'total': max(lines - 1, 0), 'id': import_id})
        elif status == 'pending':
            bind.execute(sa.text("UPDATE imports SET status = 'cancelled', finished_at = CURRENT_TIMESTAMP "
                                 "WHERE id = :id"), {'id': import_id})
        if bad_rows.is_file():
            _move_in(import_id, 'bad_rows', bad_rows)
        moved += [upload, bad_rows]
    for path in moved:  # personal data: the database holds what is still needed
        path.unlink(missing_ok=True)


def downgrade() -> None:
    # The files go with their table: an import not yet ended could never be started without its upload.
    op.drop_table('import_chunks')
    with op.batch_alter_table('imports', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('path', sa.String(length=1000), nullable=False, server_default=''))
    op.execute("UPDATE imports SET status = 'cancelled' WHERE status IN ('pending', 'queued', 'importing')")
