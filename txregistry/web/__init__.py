"""twisted.web plumbing: streaming request bodies, response producers, the Site."""
