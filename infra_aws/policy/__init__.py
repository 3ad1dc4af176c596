"""Pulumi policy pack: the AWS deployment's guard rails (`pulumi preview --policy-pack policy`)."""
