def migrate(cr, version):
    """18.0.1.0.0 had a plain unique constraint on (enrollment_id, step_id): it would refuse to send a failed step
    again. Its successor, the partial unique index sales_sequence_touch_sent_once (failed sends do not count), is
    created by sales.sequence.touch's init() on every install and update."""
    if not version:
        return
    cr.execute("ALTER TABLE sales_sequence_touch DROP CONSTRAINT IF EXISTS sales_sequence_touch_enrollment_step_uniq")
