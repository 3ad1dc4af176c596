"""API keys: the app's own keys (TTS_API_KEYS), stored in Secrets Manager and handed to the
function's environment at deploy time.

Why at deploy time and not at run time: Lambda has no native secret-to-environment injection. The
alternative, the AWS Parameters and Secrets Lambda Extension, ships as a layer, and a container
image function takes no layers: it would have to be copied into the image's /opt/extensions
(https://docs.aws.amazon.com/lambda/latest/dg/extensions-configuration.html#invocation-extensions-images)
and the app taught to fetch the keys from its localhost endpoint, while the serving contract reads
a plain TTS_API_KEYS. Resolved here, the keys are one Output from the secret version to the
environment: Pulumi keeps them encrypted in the state and masked in its output, and Lambda
encrypts environment variables at rest with KMS (Securing environment variables,
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html). What that costs:
whoever may call lambda:GetFunctionConfiguration (the console) reads the keys, and a key changed
in Secrets Manager alone reaches the function only with the next `pulumi up`; rotate with
`pulumi config set --secret apiKeys ...` and `pulumi up`, which writes both. The function's role
gets no secretsmanager permission at all.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra_aws.config import DeployConfig

# A deleted secret's name stays taken for its recovery window; 7 days is the shortest window that
# still allows a restore (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html).
RECOVERY_WINDOW_DAYS = 7


class ApiKeys(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        keys: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts-aws:infra:ApiKeys", name, None, opts)
        self.secret = aws.secretsmanager.Secret(
            name,
            name=f"{cfg.name}/api-keys",
            description="Bangla XTTS API keys (comma-separated), the app's TTS_API_KEYS",
            recovery_window_in_days=RECOVERY_WINDOW_DAYS,
            tags=cfg.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.version = aws.secretsmanager.SecretVersion(
            name,
            secret_id=self.secret.id,
            secret_string=pulumi.Output.secret(keys),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The stored value, still a secret Output: the environment takes it from here.
        stored: pulumi.Output[str] = self.version.secret_string.apply(lambda v: v or "")
        self.value: pulumi.Output[str] = pulumi.Output.secret(stored)
        self.register_outputs({"secret": self.secret.arn})
