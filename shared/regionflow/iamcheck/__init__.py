"""``regionflow iam-check``: prove offline, from the preview's manifests, that every role can do its job.

* :mod:`~regionflow.iamcheck.requirements` - the provider table: per resource type and phase, the AWS calls
  of the Terraform AWS provider and the IAM actions they need;
* :mod:`~regionflow.iamcheck.model` - the manifests, indexed (roles, policies, boundaries, resource policies);
* :mod:`~regionflow.iamcheck.jobs` - each role's job, found by where the manifests use the role;
* :mod:`~regionflow.iamcheck.provider` and :mod:`~regionflow.iamcheck.backend` - what a job needs, from the
  table and from the Pulumi S3 backend and ``awskms`` secrets provider;
* :mod:`~regionflow.iamcheck.needs` - a required permission and its documented request context;
* :mod:`~regionflow.iamcheck.evaluate` - AWS's policy evaluation logic;
* :mod:`~regionflow.iamcheck.check` - the command: findings, slack, summary.
"""
