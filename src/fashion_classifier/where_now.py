"""Where a photo is now, in SQL: after review decisions, not where the batch first put it.

The batch's journal (``batch_files``) keeps the model's category and the batch's folder;
``review_decisions`` records what a clerk changed. Reports, the duplicate message and the
history read these expressions (with ``batch_files`` aliased ``f``) so they all agree with
the shelves. No imports: the batch, the review queue and the monitoring all use it.
"""

# a decision carried out and not (completely) undone: it decides the photo's category
STANDING = "c.state = 'done' AND c.undo_state IS NOT 'done'"
CURRENT_CATEGORY = f"""COALESCE(
    (SELECT c.new_category FROM review_decisions c WHERE c.batch_file_id = f.id AND {STANDING}),
    f.category)"""
# the same rule as review/queue.py's CURRENT_PATH: the standing decision's destination, else
# where its last undo put the photo back, else where the batch placed it
CURRENT_PATH = f"""COALESCE(
    (SELECT c.new_path FROM review_decisions c WHERE c.batch_file_id = f.id AND {STANDING}),
    (SELECT u.undo_path FROM review_decisions u WHERE u.batch_file_id = f.id AND u.undo_state = 'done'
     ORDER BY u.id DESC LIMIT 1),
    f.dest_path)"""
# the journal's rows of a run with where each photo is now and its standing decision (if any)
RUN_FILES_NOW = f"""
    SELECT f.*, {CURRENT_PATH} AS current_path, {CURRENT_CATEGORY} AS current_category,
           d.action AS review_action, d.reviewer AS reviewer, d.decided_at AS reviewed_at,
           d.new_category AS review_category
    FROM batch_files f
    LEFT JOIN review_decisions d ON d.batch_file_id = f.id AND d.state = 'done'
        AND d.undo_state IS NOT 'done'
    WHERE f.run_id = ? ORDER BY f.seq"""
