"""txregistry tests."""
