"""Built-in storage drivers, one module each."""
