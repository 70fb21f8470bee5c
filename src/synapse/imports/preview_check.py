"""The commit of a preview: does this import do exactly what the preview showed?

Run by `imports.apply` inside the import's transaction, after its comparison and before it
writes: created and updated assets of one and not the other, or updated from other old values,
mean the project changed since the preview, and nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse.errors import InvalidInput

if TYPE_CHECKING:
    from synapse.imports.apply import Applied
    from synapse.imports.apply import _Dialect as Dialect

CONFLICTS_SHOWN = 50


def check_against_preview(
    sql: Dialect, *, preview_id: str, updates: str | None, done: Applied
) -> None:
    """Refuse (writing nothing) when this import would not do exactly what the preview showed:
    an asset created or updated by one and not the other, or updated from other old values.

    What this import does is read from the staging table (created: staged tags without an
    asset; the assets are not written yet) and the table of its updates; the preview's from
    its ledger (one row per created or updated asset).
    """
    wanted = "('created', 'updated')"
    none = "CAST(NULL AS jsonb)" if sql.postgres else "NULL"
    mine = (
        f"SELECT s.row_no AS row_no, s.tag AS tag, 'created' AS action, {none} AS changes"
        " FROM {stage} s WHERE NOT EXISTS"
        " (SELECT 1 FROM assets a WHERE a.project_id = :p AND a.tag = s.tag)"
    )
    if updates is not None:
        mine += f" UNION ALL SELECT u.row_no, u.tag, 'updated', u.changes FROM {updates} u"
        if not sql.postgres:  # SQLite: the look-ups by tag below, indexed
            sql.run(f"CREATE INDEX IF NOT EXISTS temp.ix_{updates} ON {updates} (tag)")
    if not sql.postgres:
        sql.run("CREATE INDEX IF NOT EXISTS temp.ix_{stage} ON {stage} (tag)")
    this_not_that = (
        f"FROM ({mine}) c LEFT JOIN asset_changes p"
        " ON p.project_id = :p AND p.tag = c.tag AND p.job_id = :p"
        f" AND p.action IN {wanted}"
        " WHERE p.id IS NULL OR p.action <> c.action"
        " OR (c.action = 'updated' AND p.changes <> c.changes)"
    )
    theirs = "NOT EXISTS (SELECT 1 FROM assets a WHERE a.project_id = :p AND a.tag = p.tag)"
    that_not_this = (
        f"FROM asset_changes p WHERE p.job_id = :p AND p.action IN {wanted}"
        f" AND NOT (EXISTS (SELECT 1 FROM {{stage}} s WHERE s.tag = p.tag) AND {theirs})"
    )
    if updates is not None:
        that_not_this += f" AND NOT EXISTS (SELECT 1 FROM {updates} u WHERE u.tag = p.tag)"
    project = sql.stager.project_id
    mine_params = (project,)
    params = (*mine_params, project, preview_id)
    theirs_params = (preview_id, project)
    count = int(sql.run(f"SELECT count(*) {this_not_that}", params).fetchone()[0])
    count += int(sql.run(f"SELECT count(*) {that_not_this}", theirs_params).fetchone()[0])
    if not count:
        return
    rows = sql.run(
        f"SELECT c.row_no, c.tag, c.action, p.action {this_not_that}"
        f" ORDER BY c.row_no LIMIT {CONFLICTS_SHOWN}",
        params,
    ).fetchall()
    rows += sql.run(
        f"SELECT p.row, p.tag, 'unchanged', p.action {that_not_this}"
        f" ORDER BY p.row LIMIT {CONFLICTS_SHOWN}",
        theirs_params,
    ).fetchall()
    rows.sort(key=lambda r: r[0])
    conflicts = [
        {
            "tag": tag,
            "reason": (
                f"the preview showed {was or 'unchanged'}, now it would be {now}"
                if was != now
                else "changed since the preview (its old values differ)"
            ),
        }
        for _row, tag, now, was in rows[:CONFLICTS_SHOWN]
    ]
    done.conflicts = conflicts
    tags = ", ".join(c["tag"] for c in conflicts[:10])
    more = f" and {count - 10:,} more" if count > 10 else ""
    raise InvalidInput(
        f"{count:,} asset{'s' if count != 1 else ''} changed since the preview ({tags}{more}); "
        "nothing was written. Preview the file again to see the changes as they are now.",
        details={
            "status": "FAILURE",
            "commit_of": preview_id,
            "conflict_count": count,
            "conflicts": conflicts,
        },
    )
