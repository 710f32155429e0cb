"""
Helpers for the configuration tests.
"""

import os

from txregistry.config import parse_config

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
SAMPLE = os.path.join(os.path.dirname(FIXTURES), os.pardir, "etc", "config.yml")


def document(**sections):
    """
    The smallest valid document (in-memory storage), with C{sections} added
    or replaced.
    """
    return {"version": "0.1", "storage": {"inmemory": None}, **sections}


def parse(doc, environ=None):
    """
    Parse C{doc} with the given environment, empty by default (never the
    process's).
    """
    return parse_config(doc, {} if environ is None else environ)
