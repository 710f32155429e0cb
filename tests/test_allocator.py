"""
Tests for L{txregistry.allocator}.
"""

import ctypes
import subprocess
import sys
import textwrap

from twisted.trial.unittest import TestCase

from txregistry.allocator import MMAP_THRESHOLD, TRIM_THRESHOLD, keep_freed_memory


class _Library:
    """
    A C library whose C{mallopt} records its calls and answers C{answers}
    in turn.
    """

    def __init__(self, *answers):
        self.calls = []
        self._answers = list(answers)

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return self._answers.pop(0)


#: Bursts of eight 1 MiB body-sized pieces, filled then all freed; prints
#: the page faults of the last twenty bursts.
_BURSTS = textwrap.dedent("""
    import resource, sys
    from txregistry.allocator import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    def burst():
        pieces = [b"x" * (1 << 20) for _ in range(8)]
        del pieces
    for _ in range(5):
        burst()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        burst()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _faults(mode: str) -> int:
    output = subprocess.run([sys.executable, "-c", _BURSTS, mode], check=True,
                            capture_output=True, text=True, timeout=60).stdout
    return int(output)


class KeepFreedMemoryTests(TestCase):
    """
    L{keep_freed_memory} sets glibc's heap thresholds where it can.
    """

    def test_settings(self):
        """
        Pieces of up to L{MMAP_THRESHOLD} come from the heap, and up to
        L{TRIM_THRESHOLD} of free memory at its top is kept.
        """
        library = _Library(1, 1)
        self.assertTrue(keep_freed_memory(library))
        self.assertEqual(library.calls, [(-3, MMAP_THRESHOLD), (-1, TRIM_THRESHOLD)])

    def test_refused(self):
        """
        A setting the allocator refuses makes the result false; the other
        is still set.
        """
        library = _Library(0, 1)
        self.assertFalse(keep_freed_memory(library))
        self.assertEqual(len(library.calls), 2)

    def test_no_mallopt(self):
        """
        A C library without C{mallopt} (not glibc) is left alone.
        """
        self.assertFalse(keep_freed_memory(object()))

    def test_bursts_reuse_memory(self):
        """
        With the settings, bursts of freed body-sized pieces reuse the
        heap's pages instead of faulting fresh ones in each time (20 bursts
        of 8 MiB are 40,960 pages).
        """
        if not hasattr(ctypes.CDLL(None), "mallopt"):
            raise self.skipTest("the C library has no glibc mallopt")
        default = _faults("default")
        if default < 10_000:
            raise self.skipTest(f"this allocator keeps freed memory anyway ({default} faults)")
        self.assertLess(_faults("keep"), 2_000)
