"""Edge: the global external HTTPS load balancer in front of the service, with Cloud Armor."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig, allow_list_chunks
from infra.service import HEALTH_PATH

compute = gcp.compute

LB_SCHEME = "EXTERNAL_MANAGED"
MIN_TLS = "TLS_1_2"
DEFAULT_RULE_PRIORITY = 2147483647
HEALTH_PRIORITY = 900
THROTTLE_PRIORITY = 1000
RATE_LIMIT_WINDOW_S = 60
TOO_MANY_REQUESTS = "deny(429)"


def _src_match(ranges: list[str]) -> compute.SecurityPolicyRuleMatchArgs:
    return compute.SecurityPolicyRuleMatchArgs(
        versioned_expr="SRC_IPS_V1",
        config=compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=ranges),
    )


def armor_rules(cfg: DeployConfig) -> list[compute.SecurityPolicyRuleArgs]:
    """Per-client-IP throttling (429 over the limit); with an allow-list, only listed ranges
    (and /health) are throttled-and-allowed and everything else gets 403."""
    throttle = compute.SecurityPolicyRuleRateLimitOptionsArgs(
        conform_action="allow",
        exceed_action=TOO_MANY_REQUESTS,
        enforce_on_key="IP",
        rate_limit_threshold=compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
            count=cfg.rate_limit_per_minute, interval_sec=RATE_LIMIT_WINDOW_S
        ),
    )
    sources = allow_list_chunks(cfg) or [["*"]]
    rules = []
    if cfg.allow_list:
        # The uptime checkers' addresses are Google's and change: /health (nothing secret in it)
        # stays reachable for them, still rate-limited.
        rules.append(
            compute.SecurityPolicyRuleArgs(
                priority=HEALTH_PRIORITY,
                action="throttle",
                description="uptime checks: /health from anywhere, rate-limited",
                match=compute.SecurityPolicyRuleMatchArgs(
                    expr=compute.SecurityPolicyRuleMatchExprArgs(
                        expression=f"request.path == '{HEALTH_PATH}'"
                    )
                ),
                rate_limit_options=throttle,
            )
        )
    rules += [
        compute.SecurityPolicyRuleArgs(
            priority=THROTTLE_PRIORITY + i,
            action="throttle",
            description=f"per-IP rate limit: {cfg.rate_limit_per_minute} requests/minute",
            match=_src_match(ranges),
            rate_limit_options=throttle,
        )
        for i, ranges in enumerate(sources)
    ]
    rules.append(
        compute.SecurityPolicyRuleArgs(
            priority=DEFAULT_RULE_PRIORITY,
            action="deny(403)" if cfg.allow_list else "allow",
            description="default rule",
            match=_src_match(["*"]),
        )
    )
    return rules


class Edge(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        *,
        service_name: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts:infra:Edge", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = cfg.project

        self.address = compute.GlobalAddress(f"{name}-ip", name=f"{cfg.name}-ip", project=p, opts=child)
        self.neg = compute.RegionNetworkEndpointGroup(
            f"{name}-neg",
            name=f"{cfg.name}-neg",
            project=p,
            region=cfg.region,
            network_endpoint_type="SERVERLESS",
            cloud_run=compute.RegionNetworkEndpointGroupCloudRunArgs(service=service_name),
            opts=child,
        )
        self.armor = compute.SecurityPolicy(
            f"{name}-armor",
            name=f"{cfg.name}-armor",
            project=p,
            type="CLOUD_ARMOR",
            description="Bangla TTS: per-IP rate limit and optional allow-list",
            rules=armor_rules(cfg),
            opts=child,
        )
        self.backend = compute.BackendService(
            f"{name}-backend",
            name=f"{cfg.name}-backend",
            project=p,
            load_balancing_scheme=LB_SCHEME,
            protocol="HTTPS",
            backends=[compute.BackendServiceBackendArgs(group=self.neg.id)],
            security_policy=self.armor.id,
            log_config=compute.BackendServiceLogConfigArgs(enable=True, sample_rate=1.0),
            opts=child,
        )
        self.url_map = compute.URLMap(
            f"{name}-https", name=f"{cfg.name}-https", project=p, default_service=self.backend.id, opts=child
        )
        self.certificate = compute.ManagedSslCertificate(
            f"{name}-cert",
            # The name carries the domain: a new domain needs a new certificate created before
            # the old one is released by the proxy.
            name=f"{cfg.name}-cert-{cfg.domain.replace('.', '-')}"[:63].rstrip("-"),
            project=p,
            managed=compute.ManagedSslCertificateManagedArgs(domains=[cfg.domain]),
            opts=child,
        )
        self.tls_policy = compute.SSLPolicy(
            f"{name}-tls",
            name=f"{cfg.name}-tls",
            project=p,
            profile="MODERN",
            min_tls_version=MIN_TLS,
            opts=child,
        )
        self.https_proxy = compute.TargetHttpsProxy(
            f"{name}-https",
            name=f"{cfg.name}-https",
            project=p,
            url_map=self.url_map.id,
            ssl_certificates=[self.certificate.id],
            ssl_policy=self.tls_policy.id,
            opts=child,
        )
        self.https_rule = compute.GlobalForwardingRule(
            f"{name}-https",
            name=f"{cfg.name}-https",
            project=p,
            load_balancing_scheme=LB_SCHEME,
            ip_protocol="TCP",
            port_range="443",
            ip_address=self.address.address,
            target=self.https_proxy.id,
            opts=child,
        )
        self.redirect_map = compute.URLMap(
            f"{name}-redirect",
            name=f"{cfg.name}-redirect",
            project=p,
            default_url_redirect=compute.URLMapDefaultUrlRedirectArgs(
                https_redirect=True, strip_query=False, redirect_response_code="MOVED_PERMANENTLY_DEFAULT"
            ),
            opts=child,
        )
        self.http_proxy = compute.TargetHttpProxy(
            f"{name}-http", name=f"{cfg.name}-http", project=p, url_map=self.redirect_map.id, opts=child
        )
        self.http_rule = compute.GlobalForwardingRule(
            f"{name}-http",
            name=f"{cfg.name}-http",
            project=p,
            load_balancing_scheme=LB_SCHEME,
            ip_protocol="TCP",
            port_range="80",
            ip_address=self.address.address,
            target=self.http_proxy.id,
            opts=child,
        )
        self.url = f"https://{cfg.domain}/"
        self.register_outputs({"url": self.url, "ip": self.address.address})
