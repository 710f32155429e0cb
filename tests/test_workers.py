"""
Several server processes: what configurations allow them, the shared
listening address, and the first process's supervision of the others
(with a fake process reactor and a L{Clock}).
"""

import os
import socket

from twisted.internet import defer, reactor
from twisted.internet.error import CannotListenError, ProcessDone, ProcessTerminated
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.logger import LogLevel, eventAsJSON
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.configdocs import document, parse
from txregistry.config import ConfigError
from txregistry.workers.listen import SharedPortEndpoint
from txregistry.workers.pool import KILL_GRACE, WorkerPool, worker_command
from txregistry.workers.role import Worker, check_workers, former_worker_spools


def filesystem(**sections):
    """
    A document on filesystem storage with C{sections} added or replaced.
    """
    return document(storage={"filesystem": {"rootdirectory": "/srv/registry"}}, **sections)


class CheckWorkersTests(SynchronousTestCase):
    """
    L{check_workers} refuses what several processes cannot share.
    """

    def refused(self, doc) -> str:
        with self.assertRaises(ConfigError) as caught:
            check_workers(parse(doc))
        self.assertEqual(caught.exception.key, "http.workers")
        return str(caught.exception)

    def test_count(self):
        """
        C{http.workers} is a whole number, at least 1, 1 by default.
        """
        self.assertEqual(parse(filesystem()).http.workers, 1)
        self.assertEqual(parse(filesystem(http={"workers": 4})).http.workers, 4)
        for bad in (0, -1, "two", 1.5, True):
            with self.assertRaises(ConfigError) as caught:
                parse(filesystem(http={"workers": bad}))
            self.assertEqual(caught.exception.key, "http.workers")

    def test_allowed(self):
        """
        Filesystem storage on TCP allows several; one worker allows
        anything; dry-run or read-only garbage collection deletes nothing.
        """
        check_workers(parse(filesystem(http={"workers": 3})))
        check_workers(parse(document(http={"workers": 1})))
        for maintenance in ({"gc": {"enabled": True, "dryrun": True}},
                            {"gc": {"enabled": True}, "readonly": {"enabled": True}}):
            doc = filesystem(http={"workers": 2})
            doc["storage"]["maintenance"] = maintenance
            check_workers(parse(doc))

    def test_unix_socket(self):
        """
        A Unix socket cannot be shared this way.
        """
        self.assertIn("TCP", self.refused(
            filesystem(http={"workers": 2, "net": "unix", "addr": "/run/registry.sock"})))

    def test_process_local_driver(self):
        """
        The in-memory driver's content lives in one process.
        """
        self.assertIn("inmemory", self.refused(document(http={"workers": 2})))

    def test_online_gc(self):
        """
        Online garbage collection's claims live in one process.
        """
        doc = filesystem(http={"workers": 2})
        doc["storage"]["maintenance"] = {"gc": {"enabled": True}}
        self.assertIn("storage.maintenance.gc", self.refused(doc))


class WorkerTests(SynchronousTestCase):
    """
    L{Worker}: which process this is.
    """

    def test_spool_directory(self):
        """
        The first process keeps the configured spool; the others each have
        a sibling of their own.
        """
        self.assertEqual(Worker(0, 3).spool_directory("/var/spool/n/"), "/var/spool/n/")
        self.assertEqual(Worker(2, 3, 5000).spool_directory("/var/spool/n/"),
                         "/var/spool/n-worker2")

    def test_command(self):
        """
        A worker runs C{python -m txregistry worker} with its index, the
        count, the port and the absolute configuration path.
        """
        argv = worker_command(2, 3, 5123, "etc/config.yml")
        self.assertEqual(argv[1:7], ["-m", "txregistry", "worker", "--index", "2", "--count"])
        self.assertEqual(argv[7:10], ["3", "--port", "5123"])
        self.assertEqual(argv[10], "--config")
        self.assertTrue(argv[11].startswith("/") and argv[11].endswith("etc/config.yml"))
        self.assertNotIn("--config", worker_command(1, 2, 5123, None))


class SharedPortEndpointTests(TestCase):
    """
    L{SharedPortEndpoint} listens where other processes listen too.
    """

    def listen(self, port):
        listening = SharedPortEndpoint(reactor, socket.AF_INET, "127.0.0.1", port).listen(
            Factory.forProtocol(Protocol))
        listening.addCallback(lambda p: self.addCleanup(p.stopListening) or p)
        return listening

    @defer.inlineCallbacks
    def test_shared(self):
        """
        Two sockets listen on the same port; an ordinary listener there is
        refused, and a shared one where an ordinary one listens fails with
        L{CannotListenError}.
        """
        first = yield self.listen(0)
        port = first.getHost().port
        second = yield self.listen(port)
        self.assertEqual(second.getHost().port, port)
        self.assertRaises(CannotListenError, reactor.listenTCP, port,
                          Factory.forProtocol(Protocol), interface="127.0.0.1")
        ordinary = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
        self.addCleanup(ordinary.stopListening)
        yield self.assertFailure(self.listen(ordinary.getHost().port), CannotListenError)


class FakeProcess:
    """
    A spawned process: records signals; L{end} reports its exit.
    """

    def __init__(self, protocol, argv, env, child_fds):
        self.protocol = protocol
        self.argv = argv
        self.env = env
        self.child_fds = child_fds
        self.signals = []

    def signalProcess(self, signal):
        self.signals.append(signal)

    def end(self, status=0):
        reason = ProcessDone(0) if status == 0 else ProcessTerminated(exitCode=status)
        self.protocol.processEnded(Failure(reason))


class ProcessClock(Clock):
    """
    A L{Clock} that spawns L{FakeProcess}es.
    """

    def __init__(self):
        super().__init__()
        self.spawned = []

    def spawnProcess(self, protocol, executable, args, env, childFDs):
        process = FakeProcess(protocol, args, env, childFDs)
        protocol.makeConnection(process)
        self.spawned.append(process)
        return process


class WorkerPoolTests(SynchronousTestCase):
    """
    L{WorkerPool} starts, watches, restarts and stops the workers.
    """

    def setUp(self):
        self.clock = ProcessClock()
        self.events = []
        self.pool = WorkerPool(3, lambda index: ["python", "worker", str(index)], self.clock,
                               drain_timeout=5.0, publish=self.events.append,
                               environ={"PATH": "/bin"})
        self.pool.startService()

    def running(self):
        return {index: process.argv for index, process in self.pool.processes.items()}

    def test_start(self):
        """
        Workers 1 to count - 1 start with their command line and environment;
        their standard input stays open to them.
        """
        self.assertEqual(self.running(), {1: ["python", "worker", "1"],
                                          2: ["python", "worker", "2"]})
        self.assertEqual(self.clock.spawned[0].env, {"PATH": "/bin"})
        self.assertEqual(self.clock.spawned[0].child_fds, {0: "w", 1: "r", 2: "r"})

    def test_events(self):
        """
        A worker's JSON lines on standard output are published as events
        (even when a line arrives in pieces), marked with the worker; other
        lines, and standard error, are published as warnings.
        """
        protocol = self.clock.spawned[1].protocol
        line = eventAsJSON({"log_format": "hello {who}", "who": "there",
                            "log_level": LogLevel.info, "log_time": 12.0}).encode() + b"\n"
        protocol.childDataReceived(1, line[:10])
        self.assertEqual(self.events, [])
        protocol.childDataReceived(1, line[10:] + b"not json\n")
        protocol.childDataReceived(2, b"Traceback: boom\npartial")
        self.assertEqual(len(self.events), 3)
        event, text, error = self.events
        self.assertEqual((event["log_format"], event["who"], event["log_level"], event["log_time"]),
                         ("hello {who}", "there", LogLevel.info, 12.0))
        self.assertEqual((event["worker"], event["log_system"]), (2, "worker 2"))
        self.assertEqual((text["text"], text["log_level"], text["worker"]),
                         ("not json", LogLevel.warn, 2))
        self.assertEqual(error["text"], "Traceback: boom")
        self.clock.spawned[1].end()
        self.assertEqual(self.events[3]["text"], "partial")

    def test_restart(self):
        """
        A worker that exits is started again after a second, the delay
        doubling while it keeps exiting soon after starting, back to a
        second once it ran for a minute.
        """
        delays = []
        for _ in range(7):
            self.pool.processes[1].end(1)
            self.assertNotIn(1, self.pool.processes)
            started = self.clock.seconds()
            while 1 not in self.pool.processes:
                self.clock.advance(0.5)
            delays.append(self.clock.seconds() - started)
        self.assertEqual(delays, [1, 2, 4, 8, 16, 30, 30])
        self.clock.advance(60)
        self.pool.processes[1].end(1)
        self.clock.advance(1)
        self.assertIn(1, self.pool.processes)
        self.assertEqual(len(self.clock.spawned), 2 + 8)
        self.assertEqual(self.pool.processes[2], self.clock.spawned[1])

    def test_stop(self):
        """
        Stopping asks every worker to stop and fires once all exited; none
        is started again.
        """
        workers = list(self.pool.processes.values())
        stopped, again = self.pool.stopService(), self.pool.stopService()
        self.assertEqual([w.signals for w in workers], [["TERM"], ["TERM"]])
        workers[0].end()
        self.assertNoResult(stopped)
        workers[1].end(1)
        self.successResultOf(stopped)
        self.successResultOf(again)
        self.clock.advance(100)
        self.assertEqual(self.pool.processes, {})
        self.assertEqual([w.signals for w in workers], [["TERM"], ["TERM"]])

    def test_stop_during_restart_delay(self):
        """
        A restart waiting when the pool stops does not happen.
        """
        self.pool.processes[1].end(1)
        stopped = self.pool.stopService()
        self.pool.processes[2].end()
        self.successResultOf(stopped)
        self.clock.advance(100)
        self.assertEqual(len(self.clock.spawned), 2)

    def test_kill(self):
        """
        A worker still running after the drain timeout and L{KILL_GRACE} is
        killed.
        """
        workers = list(self.pool.processes.values())
        stopped = self.pool.stopService()
        workers[0].end()
        self.clock.advance(5.0 + KILL_GRACE - 0.1)
        self.assertEqual(workers[1].signals, ["TERM"])
        self.clock.advance(0.1)
        self.assertEqual(workers[1].signals, ["TERM", "KILL"])
        workers[1].end(-9)
        self.successResultOf(stopped)


class FormerWorkerSpoolsTests(SynchronousTestCase):
    """
    L{former_worker_spools} finds the queues of workers that no longer run.
    """

    def test_found(self):
        """
        Spools of workers numbered C{count} or more are listed by index;
        those of running workers, and unrelated directories, are not.
        """
        parent = self.mktemp()
        root = os.path.join(parent, "notifications")
        for name in ("notifications", "notifications-worker1", "notifications-worker2",
                     "notifications-worker10", "notifications-worker0", "other-worker3",
                     "notifications-workerX"):
            os.makedirs(os.path.join(parent, name))
        self.assertEqual(former_worker_spools(root + "/", 2),
                         [(2, os.path.join(parent, "notifications-worker2")),
                          (10, os.path.join(parent, "notifications-worker10"))])
        self.assertEqual(former_worker_spools(root, 11), [])
        self.assertEqual(former_worker_spools(os.path.join(parent, "missing", "n"), 1), [])
