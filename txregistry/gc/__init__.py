"""Background maintenance: upload purging (and, later, garbage collection)."""
