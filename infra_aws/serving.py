"""Serving: the Lambda function from the `lambda` image, its streaming Function URL, and who may
call it.

The image is the Dockerfile's `lambda` target: the CPU server plus the AWS Lambda Web Adapter
extension, which turns each invocation into an HTTP request to the app. The adapter and the URL
must agree on streaming: the URL's invoke mode RESPONSE_STREAM makes Lambda call
InvokeWithResponseStream (responses up to 200 MB, sent as they are produced;
https://docs.aws.amazon.com/lambda/latest/dg/config-rs-invoke-furls.html), and
AWS_LWA_INVOKE_MODE=response_stream makes the adapter stream the app's chunked audio into it; with
either one alone the client gets nothing until synthesis ends, or an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from infra_aws.config import AUTH_NONE, DeployConfig, check_environment_size
from infra_aws.storage import BATCH_IN_PREFIX, BATCH_OUT_PREFIX, VOICES_PREFIX

URL_INVOKE_MODE = "RESPONSE_STREAM"
ADAPTER_INVOKE_MODE = "response_stream"
HEALTH_PATH = "/health"
# Non-HTTP events (the scheduler's {"batch": {}}) are POSTed here by the adapter.
EVENTS_PATH = "/events"
CACHE_DIR = "/tmp/tts-cache"
# onnxruntime's manylinux wheels exist for both architectures, but the function's architecture
# must be the image's, and the image is built on x86_64 hosts (Cloud Build, CI, most laptops)
# where an arm64 image would need emulated cross-builds; bench/ measured the int8 engine on
# x86_64 too. arm64 (Graviton) bills less per GB-second: switch only with an arm64 build and a
# re-run benchmark.
ARCHITECTURE = "x86_64"
# Scheduler invocations are asynchronous
# (https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html). A batch run that
# fails is not retried by Lambda (the next scheduled run resumes the shard: a retry would only
# overlap it), and one still queued after an hour (throttled behind the reserved concurrency)
# is dropped. Ranges: 0..2 retries, 60..21600 s
# (https://docs.aws.amazon.com/lambda/latest/api/API_FunctionEventInvokeConfig.html).
ASYNC_RETRIES = 0
MAX_REQUEST_BYTES = 6_000_000
ASYNC_MAX_EVENT_AGE_S = 3600


def environment(cfg: DeployConfig, bucket: str) -> dict[str, str]:
    """The serving contract's variables (TTS_API_KEYS is added from the secret, api_keys.py)."""
    root = f"s3://{bucket}"
    return {
        "TTS_MODEL_PATH": f"{root}/{cfg.model_prefix}",
        "TTS_MODEL_VARIANT": cfg.model_variant,
        "TTS_VOICES_PATH": f"{root}/{VOICES_PREFIX.rstrip('/')}",
        "TTS_BATCH_INPUT": f"{root}/{BATCH_IN_PREFIX.rstrip('/')}",
        "TTS_BATCH_OUTPUT": f"{root}/{BATCH_OUT_PREFIX.rstrip('/')}",
        "TTS_CACHE_DIR": CACHE_DIR,
        "AWS_LWA_INVOKE_MODE": ADAPTER_INVOKE_MODE,
        "AWS_LWA_READINESS_CHECK_PATH": HEALTH_PATH,
        "AWS_LWA_PASS_THROUGH_PATH": EVENTS_PATH,
        # A synchronous invocation's payload is at most 6 MB
        # (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): Lambda refuses a
        # larger request before the app sees it, so the app's own 413 (with its JSON body) says so first.
        "TTS_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
    }


def _with_keys(env: Mapping[str, str], keys: str) -> dict[str, str]:
    return dict(check_environment_size({**env, "TTS_API_KEYS": keys}))


class TtsFunction(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        *,
        image_uri: str,
        role_arn: pulumi.Input[str],
        bucket: str,
        log_group: pulumi.Input[str],
        api_keys: pulumi.Output[str] | None,
        after: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts-aws:infra:TtsFunction", name, None, opts)
        env = dict(check_environment_size(environment(cfg, bucket)))
        variables: pulumi.Input[Mapping[str, str]] = (
            env if api_keys is None else pulumi.Output.secret(api_keys.apply(lambda k: _with_keys(env, k)))
        )
        self.function = aws.lambda_.Function(
            name,
            name=cfg.function_name,
            description="Bangla XTTS v2 text-to-speech (CPU, int8) behind a streaming Function URL",
            package_type="Image",
            image_uri=image_uri,
            role=role_arn,
            architectures=[ARCHITECTURE],
            memory_size=cfg.memory_mb,
            ephemeral_storage=aws.lambda_.FunctionEphemeralStorageArgs(size=cfg.ephemeral_storage_mb),
            timeout=cfg.timeout_s,
            # Left out: no reservation (the provider's -1), the account's unreserved pool.
            reserved_concurrent_executions=cfg.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
            # The app writes its own JSON lines; Text keeps them as they are.
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=log_group),
            tags=cfg.tags,
            # `after`: the log group (else Lambda creates it, unmanaged and kept forever), the role's
            # policy and the repository's pull policy (else the first invocations fail).
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        self.url = aws.lambda_.FunctionUrl(
            name,
            function_name=self.function.name,
            authorization_type=cfg.auth_type,
            invoke_mode=URL_INVOKE_MODE,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.permissions: list[aws.lambda_.Permission] = []
        if cfg.auth_type == AUTH_NONE:
            # A public URL still needs the function's resource policy to let anyone in, and since
            # October 2025 with both actions: InvokeFunctionUrl for URLs whose auth type is NONE,
            # and InvokeFunction only when it comes through a function URL, so neither opens the
            # plain Invoke API (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
            self.permissions = [
                aws.lambda_.Permission(
                    f"{name}-url",
                    function=self.function.name,
                    action="lambda:InvokeFunctionUrl",
                    principal="*",
                    function_url_auth_type=AUTH_NONE,
                    statement_id="FunctionURLAllowPublicAccess",
                    opts=pulumi.ResourceOptions(parent=self),
                ),
                aws.lambda_.Permission(
                    f"{name}-url-invoke",
                    function=self.function.name,
                    action="lambda:InvokeFunction",
                    principal="*",
                    invoked_via_function_url=True,
                    statement_id="FunctionURLInvokeAllowPublicAccess",
                    opts=pulumi.ResourceOptions(parent=self),
                ),
            ]
        self.async_config = aws.lambda_.FunctionEventInvokeConfig(
            name,
            function_name=self.function.name,
            maximum_retry_attempts=ASYNC_RETRIES,
            maximum_event_age_in_seconds=ASYNC_MAX_EVENT_AGE_S,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"function": self.function.name, "url": self.url.function_url})
