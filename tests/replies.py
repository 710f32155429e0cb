"""
What test clients' responses have in common: a body holding JSON, often the
spec's error document.
"""

import json


class JSONBody:
    """
    Mixin for a response class with a C{body} attribute (bytes).
    """

    def json(self):
        """
        The body as JSON.
        """
        return json.loads(self.body)

    def error_codes(self) -> list[str]:
        """
        The codes of a spec error body.
        """
        return [e["code"] for e in self.json()["errors"]]
