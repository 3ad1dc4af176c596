"""Pulumi policy pack: the deployment's guard rails (`pulumi preview --policy-pack infra/policy`)."""
