"""Entry point of the regionflow policy pack; the Pulumi CLI runs it and talks to it over gRPC."""

from pulumi_policy import EnforcementLevel, PolicyPack

from regionflow.policies.rules import POLICIES

PolicyPack(
    name="regionflow",
    # Each rule sets its own level; this only applies to a rule that forgot to.
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
