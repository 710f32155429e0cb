"""Access control: who may do what to which repository."""
