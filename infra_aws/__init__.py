"""Pulumi program (Python) for the AWS Lambda (CPU) deployment: `pulumi up` in this directory."""
