"""Tests against real processes over real sockets."""
