"""
Tests for L{txregistry.config.parse_duration}.
"""

from twisted.trial.unittest import SynchronousTestCase

from txregistry.config import ConfigError, parse_duration


class ParseDurationTests(SynchronousTestCase):
    """
    L{parse_duration} reads Go duration strings into seconds.
    """

    def assertDuration(self, value, seconds):
        """
        C{value} is read as C{seconds}.
        """
        self.assertAlmostEqual(parse_duration(value, "k"), seconds, places=12)

    def assertInvalid(self, value):
        """
        C{value} is refused with an error naming the key.
        """
        error = self.assertRaises(ConfigError, parse_duration, value, "http.draintimeout")
        self.assertEqual(error.key, "http.draintimeout")

    def test_seconds(self):
        """
        C{s} counts seconds.
        """
        self.assertDuration("10s", 10)

    def test_milliseconds(self):
        """
        C{ms} counts milliseconds and is not read as minutes.
        """
        self.assertDuration("300ms", 0.3)

    def test_minutesAndHours(self):
        """
        C{m} and C{h} count minutes and hours.
        """
        self.assertDuration("5m", 300)
        self.assertDuration("168h", 168 * 3600)

    def test_compound(self):
        """
        Several terms add up.
        """
        self.assertDuration("1h30m", 5400)
        self.assertDuration("2h45m30.5s", 2 * 3600 + 45 * 60 + 30.5)

    def test_fractions(self):
        """
        Terms may have a fraction, with or without an integer part.
        """
        self.assertDuration("1.5h", 5400)
        self.assertDuration(".5s", 0.5)
        self.assertDuration("5.s", 5)

    def test_smallUnits(self):
        """
        C{ns}, C{us} and both micro signs are understood.
        """
        self.assertDuration("7ns", 7e-9)
        self.assertDuration("5us", 5e-6)
        self.assertDuration("5\N{MICRO SIGN}s", 5e-6)
        self.assertDuration("5\N{GREEK SMALL LETTER MU}s", 5e-6)

    def test_integerIsNanoseconds(self):
        """
        A bare integer counts nanoseconds, as YAML integers do in Go.
        """
        self.assertDuration(1500000000, 1.5)
        self.assertDuration(0, 0)

    def test_zero(self):
        """
        A bare C{0} string needs no unit; it may have a sign.
        """
        self.assertDuration("0", 0)
        self.assertDuration("-0", 0)

    def test_sign(self):
        """
        A leading sign applies to the whole duration.
        """
        self.assertDuration("-1m30s", -90)
        self.assertDuration("+2s", 2)

    def test_missingUnit(self):
        """
        A number string without a unit is refused, as Go refuses it.
        """
        self.assertInvalid("10")

    def test_unknownUnit(self):
        """
        Units Go does not know (days) are refused.
        """
        self.assertInvalid("2d")

    def test_malformed(self):
        """
        Empty strings, spaces and stray text are refused.
        """
        for value in ("", "1h 30m", "h", "10s!", "--1s", "1.2.3s"):
            self.assertInvalid(value)

    def test_wrongType(self):
        """
        Booleans, floats and lists are refused.
        """
        for value in (True, 1.5, ["10s"], None):
            self.assertInvalid(value)

    def test_tooLong(self):
        """
        Durations beyond Go's 64-bit nanosecond count are refused.
        """
        self.assertDuration("2562047h", 2562047 * 3600)
        self.assertInvalid("2562048h")
