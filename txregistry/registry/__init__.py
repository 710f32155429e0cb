"""The registry core: repositories, blobs, uploads, manifests, tags, referrers, catalog."""
