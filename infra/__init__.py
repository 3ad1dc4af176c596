"""Pulumi program (Python) for the Cloud Run GPU deployment of the Bangla XTTS service."""
