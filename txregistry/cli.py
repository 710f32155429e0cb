"""
The C{txregistry} command (also C{python -m txregistry}).

C{txregistry serve CONFIG} runs the registry in the foreground exactly as
C{twistd -n --pidfile= txregistry --config CONFIG} does;
C{txregistry garbage-collect CONFIG} is Distribution's offline garbage
collector (L{txregistry.gc.offline}); C{txregistry worker} is one server
process of several (L{txregistry.workers.child}), started by the registry.
"""

import argparse
import sys

from txregistry.gc import offline
from txregistry.workers import child


def _serve(arguments) -> None:
    from twisted.scripts import twistd

    argv = ["twistd", "--nodaemon", "--pidfile=", "txregistry"]
    if arguments.config:
        argv += ["--config", arguments.config]
    sys.argv = argv
    twistd.run()


def main(argv=None) -> None:
    """
    Run the command line C{argv} (default: C{sys.argv[1:]}).
    """
    parser = argparse.ArgumentParser(
        prog="txregistry", description="An OCI Distribution (Docker Registry v2) server."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the registry in the foreground")
    serve.add_argument("config", nargs="?", help="configuration file (Distribution's format)")
    serve.set_defaults(run=_serve)
    offline.add_command(commands)
    child.add_command(commands)
    arguments = parser.parse_args(argv)
    arguments.run(arguments)
