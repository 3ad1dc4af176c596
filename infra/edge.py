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
# Cloud Armor evaluates rules in priority order and stops at the first match; a throttle or
# rate-based ban rule whose conform action is `allow` ends the evaluation for every request it
# matches. So everything that denies comes first: the edge probe, the WAF, the missing-key rule;
# then /health (allow-list only), then the per-IP rate rules, then the default.
EDGE_PROBE_PRIORITY = 100
WAF_PRIORITY = 200
AUTH_PRIORITY = 300
HEALTH_PRIORITY = 900
THROTTLE_PRIORITY = 1000
RATE_LIMIT_WINDOW_S = 60
TOO_MANY_REQUESTS = "deny(429)"
# Requests the edge answers itself, so that an uptime check can prove DNS, the certificate, the
# load balancer and Cloud Armor work without ever reaching (and waking) the GPU: a request for this
# path is denied with 403 by the first rule. The app never answers 403 (it answers 401 without a
# key), so a 403 can only come from this rule; if the policy were detached the check would fail.
EDGE_PROBE_PATH = "/__edge/probe"
EDGE_PROBE_STATUS = 403
# A ban counts requests over the per-minute limit within this window.
BAN_WINDOW_S = 600

# Cloud Armor preconfigured WAF rules (OWASP CRS 3.3, https://cloud.google.com/armor/docs/waf-rules)
# at sensitivity 1: only the paranoia-level-1 signatures, the ones the CRS itself runs by default
# because they rarely fire on legitimate traffic (https://cloud.google.com/armor/docs/rule-tuning).
# From sensitivity 2 on, signatures such as 942430 ("restricted SQL character anomaly": more than a
# dozen characters like + / = in one value) fire on every base64 reference clip. The request bodies
# are JSON (Bangla text; clips as base64), parsed as JSON (advanced_options_config.json_parsing
# below) so the WAF inspects the values, not the JSON syntax around them
# (https://cloud.google.com/armor/docs/content-parsing). One level-1 signature is opted out: 941310
# ("US-ASCII malformed encoding XSS filter") takes a byte 0xBC followed later by 0xBE or '>' for an
# ill-encoded tag, and UTF-8 Bengali (U+0980-U+09FF) is written with exactly those continuation
# bytes ("়" is E0 A6 BC, "া" is E0 A6 BE), so it would block ordinary Bangla sentences.
# Multipart uploads (POST /voices with a raw audio file) are not parsed: their first bytes are
# inspected as they are, so an audio file can match by chance; clients can send the clip as JSON
# base64 instead. Set wafPreview to log matches without blocking while checking real traffic
# (https://cloud.google.com/armor/docs/configure-waf), then opt out what misfires.
WAF_SENSITIVITY = 1
WAF_RULES: dict[str, tuple[str, ...]] = {
    "sqli-v33-stable": (),
    "xss-v33-stable": ("owasp-crs-v030301-id941310-xss",),
    "lfi-v33-stable": (),
    "rce-v33-stable": (),
    "rfi-v33-stable": (),
    "scannerdetection-v33-stable": (),
    "protocolattack-v33-stable": (),
}


def _src_match(ranges: list[str]) -> compute.SecurityPolicyRuleMatchArgs:
    return compute.SecurityPolicyRuleMatchArgs(
        versioned_expr="SRC_IPS_V1",
        config=compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=ranges),
    )


def _expr(expression: str) -> compute.SecurityPolicyRuleMatchArgs:
    return compute.SecurityPolicyRuleMatchArgs(
        expr=compute.SecurityPolicyRuleMatchExprArgs(expression=expression)
    )


def waf_expression(rule: str, opt_out: tuple[str, ...]) -> str:
    options = f"'sensitivity': {WAF_SENSITIVITY}"
    if opt_out:
        options += ", 'opt_out_rule_ids': [" + ", ".join(f"'{i}'" for i in opt_out) + "]"
    return f"evaluatePreconfiguredWaf('{rule}', {{{options}}})"


# The app takes its API key only as `Authorization: Bearer <key>` (function/http/auth.py; no
# X-API-Key or query parameter), and /health is its only public path.
MISSING_KEY_EXPRESSION = (
    f"request.path != '{HEALTH_PATH}' && !(has(request.headers['authorization']) && "
    "request.headers['authorization'].lower().startsWith('bearer '))"
)


def rate_limit(cfg: DeployConfig) -> compute.SecurityPolicyRuleRateLimitOptionsArgs:
    """Per client IP: over rateLimitPerMinute a request gets 429 (the throttle), and a client
    whose over-limit requests pass banThreshold within 10 minutes gets 429 for everything for
    banDurationSeconds (the ban). Both live in one `rate_based_ban` rule: with first-match
    evaluation a separate ban rule would either end evaluation for every request (conform: allow)
    before the throttle saw it, or never see them after it."""
    return compute.SecurityPolicyRuleRateLimitOptionsArgs(
        conform_action="allow",
        exceed_action=TOO_MANY_REQUESTS,
        enforce_on_key="IP",
        rate_limit_threshold=compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
            count=cfg.rate_limit_per_minute, interval_sec=RATE_LIMIT_WINDOW_S
        ),
        ban_threshold=compute.SecurityPolicyRuleRateLimitOptionsBanThresholdArgs(
            count=cfg.ban_threshold, interval_sec=BAN_WINDOW_S
        ),
        ban_duration_sec=cfg.ban_duration_s,
    )


def armor_rules(cfg: DeployConfig) -> list[compute.SecurityPolicyRuleArgs]:
    """The edge probe, the WAF, the optional missing-key rule, then per-client-IP rate limits
    (with an allow-list, only listed ranges and /health are rate-limited-and-allowed; everything
    else gets 403)."""
    limits = rate_limit(cfg)
    rules = [
        compute.SecurityPolicyRuleArgs(
            priority=EDGE_PROBE_PRIORITY,
            action=f"deny({EDGE_PROBE_STATUS})",
            description="edge uptime probe: answered here, never reaches the service",
            match=_expr(f"request.path == '{EDGE_PROBE_PATH}'"),
        )
    ]
    rules += [
        compute.SecurityPolicyRuleArgs(
            priority=WAF_PRIORITY + i,
            action="deny(403)",
            preview=cfg.waf_preview,
            description=f"WAF {rule} sensitivity {WAF_SENSITIVITY}",
            match=_expr(waf_expression(rule, opt_out)),
        )
        for i, (rule, opt_out) in enumerate(WAF_RULES.items())
    ]
    if cfg.edge_require_auth:
        # Scanners without a key are turned away here: they never start (and pay for) a GPU.
        rules.append(
            compute.SecurityPolicyRuleArgs(
                priority=AUTH_PRIORITY,
                action="deny(403)",
                description="no 'Authorization: Bearer' header (all but /health)",
                match=_expr(MISSING_KEY_EXPRESSION),
            )
        )
    sources = allow_list_chunks(cfg) or [["*"]]
    if cfg.allow_list:
        # /health (nothing secret in it) stays reachable from anywhere, still rate-limited.
        rules.append(
            compute.SecurityPolicyRuleArgs(
                priority=HEALTH_PRIORITY,
                action="rate_based_ban",
                description="/health from anywhere, rate-limited",
                match=_expr(f"request.path == '{HEALTH_PATH}'"),
                rate_limit_options=limits,
            )
        )
    rules += [
        compute.SecurityPolicyRuleArgs(
            priority=THROTTLE_PRIORITY + i,
            action="rate_based_ban",
            description=f"per-IP: 429 over {cfg.rate_limit_per_minute}/min, ban past {cfg.ban_threshold}",
            match=_src_match(ranges),
            rate_limit_options=limits,
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

        # DNS points at this address: a plan that deletes it is refused (`pulumi destroy` first needs
        # `pulumi state unprotect`, docs/deploy-gcp.md, "Tear down").
        self.address = compute.GlobalAddress(
            f"{name}-ip",
            name=f"{cfg.name}-ip",
            project=p,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
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
            description="Bangla TTS: edge probe, WAF, per-IP rate limit and ban, optional key and allow-list",
            advanced_options_config=compute.SecurityPolicyAdvancedOptionsConfigArgs(json_parsing="STANDARD"),
            rules=armor_rules(cfg),
            opts=child,
        )
        # No timeout_sec: a backend of serverless NEGs refuses one; the Cloud Run request timeout
        # bounds every request, voice-agent WebSockets included (TTS_WS_MAX_SECONDS follows it).
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
        # Only requests for the configured domain reach Cloud Run. Any other Host (scanners walking the
        # IP space: `/.env`, `/wp-login.php`) is redirected here at the edge and never starts, and
        # pays for, an instance (issue 24: on a GPU stack each such cold start cost about $0.26).
        self.url_map = compute.URLMap(
            f"{name}-https",
            name=f"{cfg.name}-https",
            project=p,
            host_rules=[compute.URLMapHostRuleArgs(hosts=[cfg.domain], path_matcher="service")],
            path_matchers=[compute.URLMapPathMatcherArgs(name="service", default_service=self.backend.id)],
            default_url_redirect=compute.URLMapDefaultUrlRedirectArgs(
                host_redirect=cfg.domain,
                https_redirect=True,
                strip_query=True,
                redirect_response_code="MOVED_PERMANENTLY_DEFAULT",
            ),
            opts=child,
        )
        self.certificate = compute.ManagedSslCertificate(
            f"{name}-cert",
            # The name carries the domain: a new domain needs a new certificate created before
            # the old one is released by the proxy.
            name=f"{cfg.name}-cert-{cfg.domain.replace('.', '-')}"[:63].rstrip("-"),
            project=p,
            managed=compute.ManagedSslCertificateManagedArgs(domains=[cfg.domain]),
            # Provisioning takes up to an hour: a certificate dropped by mistake stays in the
            # project (managed certificates cost nothing) and can be imported back.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
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
