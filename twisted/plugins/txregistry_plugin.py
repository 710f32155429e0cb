"""
The C{txregistry} twistd plugin.  Only the service maker lives here; the
code is imported when the plugin is used, so C{twistd --help} stays quick.
"""

from twisted.application.service import ServiceMaker

txregistry = ServiceMaker(
    "txregistry",
    "txregistry.tap",
    "An OCI Distribution (Docker Registry v2) server",
    "txregistry",
)
