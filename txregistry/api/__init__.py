"""The HTTP API: Klein routes, one module per resource."""
