"""The vault format on a store: keys, chunking, packs, index, manifests, leases, check, prune.

See docs/design/vault-format.md; this package implements that page.
"""
