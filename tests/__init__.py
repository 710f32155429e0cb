"""
The tests of txregistry.
"""
