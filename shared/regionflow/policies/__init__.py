"""Policy as code: CrossGuard rules (:mod:`.rules`), their offline evaluation (:mod:`.offline`), the
real policy pack (``pack/``) and the parliament IAM lint (:mod:`.iam_lint`)."""
