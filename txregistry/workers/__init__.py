"""
Several server processes serving one registry (C{http.workers}).

The registry's own process listens, starts the others and supervises them;
every process binds the same address with C{SO_REUSEPORT}, so the kernel
spreads connections between them.  Everything the processes share lives in
storage: upload sessions, manifests, tags.  What lives in one process's
memory (online garbage collection's claims, the notification spool's lock)
is refused or kept per process, see L{txregistry.workers.role}.
"""
