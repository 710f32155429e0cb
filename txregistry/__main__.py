"""
python -m txregistry: the txregistry command.
"""

from txregistry.cli import main

main()
