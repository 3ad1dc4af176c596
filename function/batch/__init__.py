"""Batch synthesis: JSONL manifests in a bucket (or directory) -> audio files and result records.

The contract (input, output, sharding, idempotence, exit status) is documented in the README's
"Batch jobs" section; `python -m function.batch` runs one task of it.
"""
