"""Billing: a monthly budget on the project's spend, with e-mail alerts at 50 %, 90 % and 100 % of
the amount and when the forecast passes it. Only with `billingAccount` (and `budgetAmount`) set.

A budget alerts, it does not stop spending: the cap on GPU spend is maxInstances (and
minInstances 0). The deployer needs `roles/billing.costsManager` on the billing account.

Budgets live on the billing account; the Billing Budgets API rejects end-user credentials without a
quota project ("requires a quota project"), so the budget gets its own provider that bills API use
to the stack's project (user_project_override + billing_project, as the provider documents for
google_billing_budget: https://www.pulumi.com/registry/packages/gcp/api-docs/billing/budget/).
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig

THRESHOLDS = (0.5, 0.9, 1.0)


class Budget(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        *,
        notification_channel: pulumi.Input[str],
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts:infra:Budget", name, None, opts)
        assert cfg.billing_account is not None and cfg.budget_amount is not None
        self.provider = gcp.Provider(
            f"{name}-provider",
            project=cfg.project,
            region=cfg.region,
            billing_project=cfg.project,
            user_project_override=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The filter takes the project *number* (projects/{number}); with the id the API stores the
        # number and every later run shows a diff.
        project = gcp.organizations.get_project_output(
            project_id=cfg.project, opts=pulumi.InvokeOutputOptions(depends_on=depends_on)
        )
        self.budget = gcp.billing.Budget(
            name,
            billing_account=cfg.billing_account,
            display_name=f"{cfg.name} ({cfg.stack}) monthly"[:60],
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[project.number.apply(lambda n: f"projects/{n}")],
                calendar_period="MONTH",
            ),
            # No currency: the billing account's own (the API refuses a different one).
            amount=gcp.billing.BudgetAmountArgs(
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(units=str(cfg.budget_amount))
            ),
            threshold_rules=[
                *(gcp.billing.BudgetThresholdRuleArgs(threshold_percent=t) for t in THRESHOLDS),
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=1.0, spend_basis="FORECASTED_SPEND"),
            ],
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=[notification_channel],
                # The billing account's admins are e-mailed too.
                disable_default_iam_recipients=False,
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=depends_on),
        )
        self.register_outputs({"budget": self.budget.name})
