"""
Tests for txregistry.
"""
