"""
C{python -m txregistry}: the L{txregistry.cli} command.
"""

from txregistry.cli import main

main()
