def migrate(cr, version):
    """18.0.1.1.0 indexed next_run_at on every row besides the partial due index (sales_sequence_enrollment_due_idx,
    created by sales.sequence.enrollment's init()): a second index rewritten at every step for nothing."""
    if not version:
        return
    cr.execute("DROP INDEX IF EXISTS sales_sequence_enrollment__next_run_at_index")
