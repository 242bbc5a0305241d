"""The store: what the service keeps, as functions over a SQLAlchemy Session (the caller's transaction)."""
