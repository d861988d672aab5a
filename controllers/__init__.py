# Public routes (unsubscribe, tracking) land here in later versions; the foundation has none.
