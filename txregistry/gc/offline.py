# -*- test-case-name: tests.test_gc_cli -*-
"""
C{txregistry garbage-collect CONFIG}: Distribution's offline garbage
collector, run on the storage a configuration names while no registry
writes to it (stopped, or in read-only mode).

It prints what Distribution prints (the marks, then what is eligible for
deletion; C{--quiet} leaves these out) and a summary, and shows its
progress on standard error when that is a terminal.
"""

import os
import sys
import time

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import react

from txregistry.config import ConfigError, load_config
from txregistry.gc.collect import Options, Report, collect
from txregistry.gc.mark import GarbageCollectionError
from txregistry.storage.plugins import create_driver

#: Storage calls the offline collector keeps in flight.
CONCURRENCY = 16
#: Seconds between two updates of the progress line.
PROGRESS_INTERVAL = 0.1


def human_size(size: int) -> str:
    """
    C{size} bytes in binary units, e.g. C{1.5 MiB}.
    """
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class PrintingReport(Report):
    """
    Prints a collection as Distribution's command does, with a progress
    line on a terminal.
    """

    def __init__(self, out, err, quiet: bool, now=time.monotonic):
        """
        @param out: where the marks and deletions go (standard output).
        @param err: where the progress line goes, if it is a terminal.
        @param quiet: print neither marks, deletions nor progress.
        """
        self._out = out
        self._err = err
        self._quiet = quiet
        self._progress = not quiet and err.isatty()
        self._now = now
        self._shown = None

    def _line(self, text: str) -> None:
        if not self._quiet:
            self._out.write(text + "\n")

    def marking_manifest(self, repository, digest) -> None:
        """
        See L{Report.marking_manifest}.
        """
        self._line(f"{repository}: marking manifest {digest}")

    def marking_blob(self, repository, digest) -> None:
        """
        See L{Report.marking_blob}.
        """
        self._line(f"{repository}: marking blob {digest}")

    def manifest_eligible(self, repository, digest) -> None:
        """
        See L{Report.manifest_eligible}.
        """
        self._line(f"manifest eligible for deletion: {repository}@{digest}")

    def blob_eligible(self, digest, size) -> None:
        """
        See L{Report.blob_eligible}.
        """
        self._line(f"blob eligible for deletion: {digest}")

    def link_eligible(self, repository, digest) -> None:
        """
        See L{Report.link_eligible}.
        """
        self._line(f"{repository}: layer link eligible for deletion: {digest}")

    def progress(self, phase, done, total) -> None:
        """
        Show C{phase: done/total} on the terminal, at most ten times a
        second and always at the end of a phase.
        """
        if not self._progress:
            return
        now = self._now()
        if done < total and self._shown is not None and now - self._shown < PROGRESS_INTERVAL:
            return
        self._shown = now
        self._err.write(f"\r{phase}: {done}/{total}\x1b[K")
        self._err.flush()

    def finish(self) -> None:
        """
        Clear the progress line.
        """
        if self._shown is not None:
            self._err.write("\r\x1b[K")
            self._err.flush()


def summary(result, dry_run: bool) -> list[str]:
    """
    The closing lines: Distribution's count, then what was freed.
    """
    verb = "would delete" if dry_run else "deleted"
    return [
        f"{result.blobs_marked} blobs marked, {result.blobs_deleted} blobs and "
        f"{result.manifests_deleted} manifests eligible for deletion",
        f"{verb} {result.manifests_deleted} manifests, {result.blobs_deleted} blobs "
        f"({human_size(result.bytes_freed)}) and {result.links_deleted} layer links "
        f"in {result.repositories} repositories",
    ]


async def _collect(reactor, arguments, out, err) -> None:
    try:
        config = load_config(arguments.config, os.environ, supported_only=False)
        driver = create_driver(config, reactor)
    except ConfigError as error:
        err.write(f"garbage-collect: invalid configuration: {error}\n")
        raise SystemExit(1)
    report = PrintingReport(out, err, arguments.quiet)
    options = Options(
        delete_untagged=arguments.delete_untagged,
        dry_run=arguments.dry_run,
        concurrency=CONCURRENCY,
    )
    try:
        result = await collect(driver, options, report=report)
    except GarbageCollectionError as error:
        report.finish()
        err.write(f"garbage-collect: failed to mark: {error}\n")
        raise SystemExit(1)
    finally:
        await driver.close()
    report.finish()
    out.write("\n".join(summary(result, arguments.dry_run)) + "\n")
    out.flush()


def run(arguments, out=None, err=None) -> None:
    """
    Run the command with parsed C{arguments} (C{config}, C{dry_run},
    C{delete_untagged}, C{quiet}) on the global reactor; exits the process.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    react(lambda reactor: ensureDeferred(_collect(reactor, arguments, out, err)))


def add_command(commands) -> None:
    """
    Add C{garbage-collect} to the C{argparse} subcommands C{commands}.
    """
    command = commands.add_parser(
        "garbage-collect",
        help="delete blobs and manifests no manifest references",
        description="Delete blobs no manifest references (and, with -m, manifests no tag "
        "reaches), as Distribution's registry garbage-collect does. Run it while no "
        "registry writes to the storage (stopped, or in read-only mode).",
    )
    command.add_argument("config", help="configuration file (Distribution's format)")
    command.add_argument("-d", "--dry-run", action="store_true",
                         help="do everything except remove anything")
    command.add_argument("-m", "--delete-untagged", action="store_true",
                         help="delete manifests that no tag references, except index "
                         "children and referrers of the manifests kept")
    command.add_argument("-q", "--quiet", action="store_true",
                         help="print only the summary")
    command.set_defaults(run=run)
