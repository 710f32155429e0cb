"""An OCI Distribution registry server on Twisted."""
