"""Batch synthesis: JSONL manifests in a bucket (or directory) -> audio files and result records.

The contract (input, output, sharding, idempotence, exit status) is documented in docs/batch.md;
`python -m function.batch` runs one task of it.
"""
