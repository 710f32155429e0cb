"""
C{GET /v2/<name>/referrers/<digest>}: the manifests that name a subject.
"""

from txregistry.api.json_response import json_body
from txregistry.api.params import path_digest, query_value
from txregistry.registry.manifests import OCI_INDEX


async def list_referrers(api, request, name, digest):
    """
    An image index of the subject's referrers (empty for an unknown
    subject, as the spec requires), filtered by C{artifactType} if given.
    """
    repository = api.registry.repository(name)
    subject = path_digest(digest)
    artifact_type = query_value(request, "artifactType")
    descriptors = await repository.referrers.descriptors(subject, artifact_type)
    if artifact_type is not None:
        request.setHeader(b"OCI-Filters-Applied", b"artifactType")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    return json_body(request, index, OCI_INDEX.encode("ascii"))
