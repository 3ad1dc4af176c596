"""Monitoring of the GCP deployment: what is watched (metrics.py), the alerts and checks that watch it
(component.py, whose docstring says why the edge is probed and not the service) and the dashboard
(dashboard.py)."""

from infra.monitoring.component import Monitoring

__all__ = ["Monitoring"]
