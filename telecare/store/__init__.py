"""PostgreSQL access: the pool wrapper, migrations and the embedded server for demo and tests."""
from telecare.store.db import Database, ListenerState, Tx

__all__ = ["Database", "ListenerState", "Tx"]
