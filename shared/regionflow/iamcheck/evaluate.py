"""AWS policy evaluation, offline, following the IAM user guide.

Every rule here is the documented one; where the tool cannot decide, it says so (``UNKNOWN``)
instead of guessing:

* Evaluation order and the final decision: an explicit ``Deny`` in any policy wins; otherwise the
  request needs an ``Allow`` (identity policy, or a resource policy that names the principal), and
  when the role has a permissions boundary the boundary must allow it too. IAM user guide, "Policy
  evaluation logic", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
  and "Permissions boundaries for IAM entities",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
* KMS is the exception: a key policy must allow the request, either directly (the role is its
  principal) or through the account statement (``arn:aws:iam::<account>:root``), which is what lets
  IAM policies grant the key at all. Without such a statement IAM-only grants are ineffective.
  KMS developer guide, "Default key policy",
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
* Action matching is case-insensitive with ``*`` and ``?``; ``NotAction`` and ``NotResource`` apply
  the statement to everything they do not list. IAM user guide, "IAM JSON policy elements: Action /
  NotAction / NotResource".
* Resource ARNs match segment by segment (``arn:partition:service:region:account:resource``); ``*`` and
  ``?`` match within a segment, a ``*`` that ends a segment may expand beyond its colons, and the
  resource segment may itself hold colons and slashes. IAM user guide, "IAM JSON policy elements:
  Resource", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
  An action that has no resource type (the Service Authorization Reference lists none) is requested
  on ``*`` and only a ``Resource`` of ``*`` matches it.
* Conditions: a key absent from the request context makes an operator false, and a negated operator
  (``StringNotEquals``, ``ArnNotLike``, ...) true, except ``...IfExists`` (true when absent) and
  ``Null``. Several values of one key are ORed (NORed for negated operators); keys and operators are
  ANDed. IAM user guide, "Condition operators",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  and "Conditions with multiple context keys or values",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html
* A key the request context does not *know* (see :class:`RequestContext`) is never assumed present
  or absent: the condition is ``UNKNOWN`` and so is any decision that depends on it.
* A role's trust policy is, like a key policy, a resource-based policy that must allow
  ``sts:AssumeRole`` itself: directly, or through the account (then the caller's identity policy must
  allow it too). IAM user guide, "Policy evaluation logic" (role trust policies and KMS key policies are
  the exceptions in which an identity-based policy alone is not enough) and "How IAM roles differ from
  resource-based policies".
* Cross-account requests (the principal's account is not the resource's): the identity-based policy in
  the principal's account (and its permissions boundary) *and* a resource-based policy in the
  resource's account must allow, the latter naming the principal or its account. A resource without a
  resource-based policy admits no other account. IAM user guide, "Cross-account policy evaluation
  logic", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html

Not modelled (they do not occur in what regionflow deploys): service control policies, session
policies, VPC endpoint policies. Policy variables other than the escapes ``${*}``, ``${?}``, ``${$}``
make the element ``UNKNOWN``.
"""

from __future__ import annotations

import enum
import ipaddress
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


class Tri(enum.Enum):
    """Three-valued logic: a condition is true, false, or not decidable offline."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    def __and__(self, other: Tri) -> Tri:
        if Tri.FALSE in (self, other):
            return Tri.FALSE
        if Tri.UNKNOWN in (self, other):
            return Tri.UNKNOWN
        return Tri.TRUE

    def __or__(self, other: Tri) -> Tri:
        if Tri.TRUE in (self, other):
            return Tri.TRUE
        if Tri.UNKNOWN in (self, other):
            return Tri.UNKNOWN
        return Tri.FALSE

    def negate(self) -> Tri:
        return {Tri.TRUE: Tri.FALSE, Tri.FALSE: Tri.TRUE, Tri.UNKNOWN: Tri.UNKNOWN}[self]


def tri(value: bool) -> Tri:
    return Tri.TRUE if value else Tri.FALSE


# --- the request context --------------------------------------------------------------------


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN_KEY"


UNKNOWN_KEY: Any = _Unknown()


@dataclass(frozen=True)
class RequestContext:
    """The condition keys of one request, as far as they are known offline.

    ``values`` maps a key (any case; keys are case-insensitive) to its values. ``known`` lists keys
    whose *absence* is known too, and ``known_prefixes`` whole key families (``aws:ResourceTag/``)
    whose every member is known. A key outside all three is unknown, and a condition on it is
    reported as not evaluated.
    """

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    known: frozenset[str] = frozenset()
    known_prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        values = {k.lower(): tuple(v) for k, v in self.values.items()}
        known = frozenset(k.lower() for k in self.known) | frozenset(values)
        prefixes = tuple(p.lower() for p in self.known_prefixes)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "known", known)
        object.__setattr__(self, "known_prefixes", prefixes)
        # Contexts are compared (decisions are cached per context), so the key is computed once.
        object.__setattr__(self, "_fingerprint", (tuple(sorted(values.items())), tuple(sorted(known)), prefixes))

    def lookup(self, key: str) -> tuple[str, ...] | Any | None:
        """The key's values, ``None`` when it is known to be absent, or :data:`UNKNOWN_KEY`."""
        lowered = key.lower()
        if lowered in self.values:
            return self.values[lowered]
        if lowered in self.known or lowered.startswith(self.known_prefixes):
            return None
        return UNKNOWN_KEY

    def fingerprint(self) -> tuple[Any, ...]:
        found: tuple[Any, ...] = self.__dict__["_fingerprint"]
        return found


@dataclass(frozen=True)
class Request:
    principal: str  # the role's ARN
    account: str  # the principal's account
    action: str
    resource: str  # an ARN, or "*" for an action without a resource type
    context: RequestContext
    # The resource's account; None: the principal's own (an ARN without one, e.g. a bucket of the same account).
    resource_account: str | None = None

    @property
    def cross_account(self) -> bool:
        return self.resource_account is not None and self.resource_account != self.account


# --- matching ---------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


class UnresolvedVariableError(ValueError):
    """A policy variable other than the ``${*}``/``${?}``/``${$}`` escapes."""


def _glob_regex(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts: list[str] = []
    for index, piece in enumerate(_VARIABLE.split(pattern)):
        if index % 2:  # a ${...} variable
            if piece not in _ESCAPES:
                raise UnresolvedVariableError(piece)
            parts.append(re.escape(_ESCAPES[piece]))
            continue
        for char in piece:
            parts.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


@lru_cache(maxsize=8192)
def action_regex(pattern: str) -> re.Pattern[str]:
    """Actions match case-insensitively, ``*`` and ``?`` anywhere."""
    return _glob_regex(pattern, ignore_case=True)


@lru_cache(maxsize=8192)
def string_like_regex(pattern: str) -> re.Pattern[str]:
    return _glob_regex(pattern, ignore_case=False)


@lru_cache(maxsize=16384)
def arn_regex(pattern: str) -> re.Pattern[str] | None:
    """A compiled ARN pattern, or None when it holds a policy variable that cannot be resolved."""
    out: list[str] = []
    segment = 0
    index = 0
    text = pattern
    while index < len(text):
        char = text[index]
        if char == "$" and text.startswith("${", index):
            end = text.find("}", index)
            name = text[index + 2 : end] if end > 0 else ""
            if end < 0 or name not in _ESCAPES:
                return None
            out.append(re.escape(_ESCAPES[name]))
            index = end + 1
            continue
        if char == ":" and segment < 5:
            segment += 1
            out.append(":")
        elif char == "*":
            ends_segment = index + 1 == len(text) or text[index + 1] == ":"
            # Within the five leading segments a * stays inside its segment, unless it ends the
            # segment; in the resource segment it matches anything (colons and slashes included).
            out.append(".*" if segment >= 5 or ends_segment else "[^:]*")
        elif char == "?":
            out.append("." if segment >= 5 else "[^:]")
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out), re.DOTALL)


def arn_matches(pattern: str, arn: str) -> Tri:
    """Does a Resource (or ArnLike value) pattern match ``arn``? Case-sensitive, per segment."""
    if pattern == "*":
        return Tri.TRUE
    if arn == "*":
        # An action without a resource type: only Resource "*" names "every resource".
        return tri(set(pattern) == {"*"})
    compiled = arn_regex(pattern)
    if compiled is None:
        return Tri.UNKNOWN
    return tri(compiled.fullmatch(arn) is not None)


def action_matches(pattern: str, action: str) -> bool:
    return action_regex(pattern).fullmatch(action) is not None


# --- conditions -------------------------------------------------------------------------------

_STRING_OPS = {
    "stringequals": (False, False, False),  # (negated, ignore case, like)
    "stringnotequals": (True, False, False),
    "stringequalsignorecase": (False, True, False),
    "stringnotequalsignorecase": (True, True, False),
    "stringlike": (False, False, True),
    "stringnotlike": (True, False, True),
}
_ARN_OPS = {"arnequals": False, "arnlike": False, "arnnotequals": True, "arnnotlike": True}
_NUMERIC_OPS: dict[str, tuple[bool, Callable[[float, float], bool]]] = {
    "numericequals": (False, operator.eq),
    "numericnotequals": (True, operator.eq),
    "numericlessthan": (False, operator.lt),
    "numericlessthanequals": (False, operator.le),
    "numericgreaterthan": (False, operator.gt),
    "numericgreaterthanequals": (False, operator.ge),
}
_DATE_OPS = {
    "dateequals": False,
    "datenotequals": True,
    "datelessthan": False,
    "datelessthanequals": False,
    "dategreaterthan": False,
    "dategreaterthanequals": False,
}
_OTHER_OPS = {"bool": False, "binaryequals": False, "ipaddress": False, "notipaddress": True}


def _as_strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in values:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        else:
            out.append(str(item))
    return out


def _negated(name: str) -> bool | None:
    """Whether the base operator is a negated one; None for an operator this tool does not know."""
    if name in _STRING_OPS:
        return _STRING_OPS[name][0]
    if name in _ARN_OPS:
        return _ARN_OPS[name]
    if name in _NUMERIC_OPS:
        return _NUMERIC_OPS[name][0]
    if name in _DATE_OPS:
        return _DATE_OPS[name]
    if name in _OTHER_OPS:
        return _OTHER_OPS[name]
    return None


def _unescape(value: str) -> str:
    return value.replace("${*}", "*").replace("${?}", "?").replace("${$}", "$")


def _value_matches(op: str, policy_value: str, request_value: str) -> Tri:
    """Does one policy value match one request value, for the *positive* form of the op?"""
    if op in _STRING_OPS:
        _, ignore_case, like = _STRING_OPS[op]
        if like:
            return tri(string_like_regex(policy_value).fullmatch(request_value) is not None)
        policy_value = _unescape(policy_value)
        if ignore_case:
            return tri(policy_value.lower() == request_value.lower())
        return tri(policy_value == request_value)
    if op in _ARN_OPS:
        return arn_matches(policy_value, request_value)
    if op in _NUMERIC_OPS:
        try:
            return tri(_NUMERIC_OPS[op][1](float(request_value), float(policy_value)))
        except ValueError:
            return Tri.FALSE
    if op == "bool":
        return tri(policy_value.lower() == request_value.lower())
    if op == "binaryequals":
        return tri(policy_value == request_value)
    if op in ("ipaddress", "notipaddress"):
        try:
            return tri(ipaddress.ip_address(request_value) in ipaddress.ip_network(policy_value, strict=False))
        except ValueError:
            return Tri.FALSE
    return Tri.UNKNOWN  # dates: values are not compared offline


@dataclass(frozen=True)
class ConditionResult:
    value: Tri
    unknown: tuple[str, ...] = ()  # why it is UNKNOWN: "StringEquals aws:SourceVpc (not in the request context)"


def evaluate_condition_block(block: Mapping[str, Any], context: RequestContext) -> ConditionResult:
    """AND of every operator and key of a statement's ``Condition``."""
    result = Tri.TRUE
    unknown: list[str] = []
    for raw_operator, entries in block.items():
        if not isinstance(entries, Mapping):
            return ConditionResult(Tri.UNKNOWN, (f"{raw_operator} (malformed)",))
        for key, raw_values in entries.items():
            value, why = _evaluate_one(raw_operator, str(key), _as_strings(raw_values), context)
            if value is Tri.UNKNOWN:
                unknown.append(why)
            result = result & value
            if result is Tri.FALSE:
                return ConditionResult(Tri.FALSE)
    return ConditionResult(result, tuple(unknown) if result is Tri.UNKNOWN else ())


def _evaluate_one(raw_operator: str, key: str, values: list[str], context: RequestContext) -> tuple[Tri, str]:
    label = f"{raw_operator} {key}"
    op = raw_operator.lower()
    qualifier = ""
    if op.startswith(("foranyvalue:", "forallvalues:")):
        qualifier, op = op.split(":", 1)
    if_exists = op.endswith("ifexists")
    if if_exists:
        op = op[: -len("ifexists")]
    found = context.lookup(key)
    if found is UNKNOWN_KEY:
        return Tri.UNKNOWN, f"{label} (not in the request context)"
    request_values: tuple[str, ...] | None = found
    if op == "null":
        if qualifier or if_exists:
            return Tri.UNKNOWN, f"{label} (unsupported form)"
        wants_absent = values[0].lower() == "true" if values else True
        return tri((request_values is None) == wants_absent), label
    negated = _negated(op)
    if negated is None:
        return Tri.UNKNOWN, f"{label} (op not supported)"
    if op in _DATE_OPS and request_values is not None:
        return Tri.UNKNOWN, f"{label} (dates are not compared offline)"
    if request_values is None or (qualifier and not request_values):
        if qualifier == "forallvalues":
            return Tri.TRUE, label
        if qualifier == "foranyvalue":
            return Tri.FALSE, label
        if if_exists:
            return Tri.TRUE, label
        return tri(negated), label
    if any(name not in _ESCAPES for value in values for name in _VARIABLE.findall(value)):
        return Tri.UNKNOWN, f"{label} (policy variable)"

    def one(request_value: str) -> Tri:
        """The op, negation applied, for one request value: OR over the policy values (NOR if negated)."""
        matched = Tri.FALSE
        for policy_value in values:
            matched = matched | _value_matches(op, policy_value, request_value)
        return matched.negate() if negated else matched

    results = [one(request_value) for request_value in request_values]
    if qualifier == "forallvalues" or (negated and not qualifier):
        # Every request value must pass; for a plain negated op that means none matches.
        result = Tri.TRUE
        for item in results:
            result = result & item
    else:
        result = Tri.FALSE
        for item in results:
            result = result | item
    return result, label


# --- statements and policies ------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass(frozen=True)
class Principals:
    """A resource policy statement's principals, reduced to what matters for one role."""

    everyone: bool = False
    aws: tuple[str, ...] = ()  # role ARNs, account roots and account IDs
    other: bool = False  # Service or Federated principals

    @staticmethod
    def parse(raw: Any) -> Principals:
        if raw == "*":
            return Principals(everyone=True)
        if not isinstance(raw, Mapping):
            return Principals()
        aws = tuple(str(v) for v in as_list(raw.get("AWS")))
        return Principals(
            everyone="*" in aws,
            aws=tuple(v for v in aws if v != "*"),
            other=any(k != "AWS" for k in raw),
        )

    def names_role(self, role_arn: str) -> bool:
        return role_arn in self.aws

    def names_account(self, account: str) -> bool:
        return account in self.aws or f"arn:aws:iam::{account}:root" in self.aws


@dataclass(frozen=True)
class Grant:
    """One (action pattern, resource pattern) pair that an Allow statement grants: the unit of slack."""

    policy: str
    sid: str
    action: str
    resource: str


@dataclass(frozen=True)
class CompiledStatement:
    policy: str  # label of the policy document, e.g. "role rflow-prod-use1-deploy inline policy deploy"
    sid: str
    effect: str  # "Allow" or "Deny"
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]  # empty with no Resource element (trust policies)
    not_resource: bool
    condition: Mapping[str, Any]
    principals: Principals | None  # None in identity policies
    not_principal: Principals | None

    @property
    def label(self) -> str:
        return f"{self.policy} [{self.sid}]" if self.sid else self.policy

    def matching_actions(self, action: str) -> list[str]:
        return [pattern for pattern in self.actions if action_matches(pattern, action)]

    def action_applies(self, action: str) -> bool:
        matched = bool(self.matching_actions(action))
        return not matched if self.not_action else matched

    def resource_applies(self, resource: str) -> tuple[Tri, list[str]]:
        """Whether the statement covers ``resource``, and which of its patterns matched."""
        if not self.resources:
            return Tri.TRUE, []
        matched: list[str] = []
        verdict = Tri.FALSE
        for pattern in self.resources:
            result = arn_matches(pattern, resource)
            if result is Tri.TRUE:
                matched.append(pattern)
            verdict = verdict | result
        if self.not_resource:
            return verdict.negate(), []
        return verdict, matched

    def services(self) -> set[str]:
        """Service prefixes this statement can apply to ("*" for any), to index statements."""
        if self.not_action:
            return {"*"}
        found: set[str] = set()
        for pattern in self.actions:
            service = pattern.split(":", 1)[0].lower() if ":" in pattern else "*"
            found.add("*" if "*" in service or "?" in service else service)
        return found


def compile_document(label: str, document: Mapping[str, Any]) -> list[CompiledStatement]:
    compiled: list[CompiledStatement] = []
    for index, raw in enumerate(as_list(document.get("Statement"))):
        if not isinstance(raw, Mapping):
            continue
        not_action = "NotAction" in raw
        not_resource = "NotResource" in raw
        compiled.append(
            CompiledStatement(
                policy=label,
                sid=str(raw.get("Sid") or f"#{index}"),
                effect=str(raw.get("Effect", "")),
                actions=tuple(str(a) for a in as_list(raw.get("NotAction" if not_action else "Action"))),
                not_action=not_action,
                resources=tuple(str(r) for r in as_list(raw.get("NotResource" if not_resource else "Resource"))),
                not_resource=not_resource,
                condition=raw.get("Condition") or {},
                principals=Principals.parse(raw["Principal"]) if "Principal" in raw else None,
                not_principal=Principals.parse(raw["NotPrincipal"]) if "NotPrincipal" in raw else None,
            )
        )
    return compiled


class CompiledPolicy:
    """The statements of one or more documents; which statements an action can touch is cached."""

    def __init__(self, statements: Iterable[CompiledStatement]) -> None:
        self.statements = list(statements)
        self._by_service: dict[str, list[CompiledStatement]] = {}
        for statement in self.statements:
            for service in statement.services():
                self._by_service.setdefault(service, []).append(statement)
        self._applicable: dict[str, list[CompiledStatement]] = {}
        self._resource_matches: dict[tuple[int, str], tuple[Tri, list[str]]] = {}
        self._action_matches: dict[tuple[int, str], list[str]] = {}

    def matching_actions(self, statement: CompiledStatement, action: str) -> list[str]:
        key = (id(statement), action)
        found = self._action_matches.get(key)
        if found is None:
            found = self._action_matches[key] = statement.matching_actions(action)
        return found

    def resource_applies(self, statement: CompiledStatement, resource: str) -> tuple[Tri, list[str]]:
        key = (id(statement), resource)
        found = self._resource_matches.get(key)
        if found is None:
            found = self._resource_matches[key] = statement.resource_applies(resource)
        return found

    def candidates(self, action: str) -> list[CompiledStatement]:
        """The statements whose Action (or NotAction) covers ``action``, in document order."""
        key = action.lower()
        found = self._applicable.get(key)
        if found is None:
            service = key.split(":", 1)[0]
            pool = self._by_service.get(service, []) + self._by_service.get("*", [])
            order = {id(s): i for i, s in enumerate(self.statements)}
            found = sorted((s for s in pool if s.action_applies(action)), key=lambda s: order[id(s)])
            self._applicable[key] = found
        return found

    def grants(self) -> list[Grant]:
        """Every (action, resource) pair its Allow statements grant."""
        out: list[Grant] = []
        for statement in self.statements:
            if statement.effect != "Allow" or statement.not_action:
                continue
            for action in statement.actions:
                for resource in statement.resources or ("*",):
                    out.append(Grant(statement.policy, statement.sid, action, resource))
        return out


# --- the decision -----------------------------------------------------------------------------


class Outcome(str, enum.Enum):
    ALLOWED = "allowed"
    DENIED = "denied"
    UNEVALUATED = "unevaluated"


@dataclass
class Decision:
    outcome: Outcome
    reason: str = ""  # why it is denied, or why it could not be evaluated
    grants: list[Grant] = field(default_factory=list)  # identity grants that matched (slack accounting)


@dataclass(frozen=True)
class ResourcePolicy:
    """The resource-based policy that applies to a request's resource, if any."""

    label: str
    policy: CompiledPolicy | None  # None: the resource has a policy, but the tool cannot see it
    kms_key: bool = False  # a KMS key policy: it must allow (directly or through the account)
    trust: bool = False  # a role's trust policy: like a key policy, it must allow sts:AssumeRole itself

    @property
    def mandatory(self) -> bool:
        """Whether this policy must allow the request even within one account (key and trust policies)."""
        return self.kms_key or self.trust


@dataclass(frozen=True)
class Boundary:
    arn: str
    policy: CompiledPolicy | None  # None: the boundary document is unknown


@dataclass
class _Scan:
    value: Tri = Tri.FALSE
    unknown: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)


def _principal_applies(statement: CompiledStatement, request: Request) -> tuple[Tri, str]:
    """For resource policies: does the statement's principal cover the role? Returns (applies, how)."""
    if statement.not_principal is not None:
        excluded = statement.not_principal.names_role(request.principal) or statement.not_principal.names_account(
            request.account
        )
        return tri(not excluded), "other"
    principals = statement.principals
    if principals is None:
        return Tri.FALSE, ""
    if principals.everyone or principals.names_role(request.principal):
        return Tri.TRUE, "direct"
    if principals.names_account(request.account):
        return Tri.TRUE, "account"
    return Tri.FALSE, ""


def _scan(
    policy: CompiledPolicy,
    request: Request,
    effect: str,
    *,
    resource_policy: bool = False,
    principal_kind: str | None = None,
    collect_grants: bool = False,
) -> _Scan:
    scan = _Scan()
    for statement in policy.candidates(request.action):
        if statement.effect != effect:
            continue
        if resource_policy:
            applies, how = _principal_applies(statement, request)
            if applies is Tri.FALSE:
                continue
            if principal_kind is not None and effect == "Allow" and how != principal_kind:
                continue
        resource_match, matched_resources = policy.resource_applies(statement, request.resource)
        if resource_match is Tri.FALSE:
            continue
        if collect_grants and effect == "Allow" and not statement.not_action:
            # The statement is there for this request even when its condition does not hold: not slack.
            resources = matched_resources or (list(statement.resources) if statement.not_resource else ["*"])
            for action in policy.matching_actions(statement, request.action):
                for resource in resources:
                    scan.grants.append(Grant(statement.policy, statement.sid, action, resource))
        condition = evaluate_condition_block(statement.condition, request.context)
        verdict = resource_match & condition.value
        if verdict is Tri.FALSE:
            continue
        if verdict is Tri.UNKNOWN:
            why = list(condition.unknown) or ["a policy variable in Resource"]
            scan.unknown.extend(f"{statement.label}: {w}" for w in why)
        else:
            scan.labels.append(statement.label)
        scan.value = scan.value | verdict
    return scan


def decide(
    request: Request,
    identity: CompiledPolicy,
    *,
    boundary: Boundary | None = None,
    resource_policy: ResourcePolicy | None = None,
    unknown_identity: Sequence[str] = (),
) -> Decision:
    """Is ``request`` allowed? See the module docstring for the rules and their sources.

    ``unknown_identity`` names policies attached to the role that the tool cannot read (an AWS
    managed policy, say): they might allow what the known ones do not, so a would-be denial becomes
    "unevaluated".
    """
    denies = [_scan(identity, request, "Deny")]
    if boundary is not None and boundary.policy is not None:
        denies.append(_scan(boundary.policy, request, "Deny"))
    if resource_policy is not None and resource_policy.policy is not None:
        denies.append(_scan(resource_policy.policy, request, "Deny", resource_policy=True))
    deny = Tri.FALSE
    unknown: list[str] = []
    for scan in denies:
        deny = deny | scan.value
        unknown.extend(scan.unknown)
    allow = _scan(identity, request, "Allow", collect_grants=True)
    grants = allow.grants
    if deny is Tri.TRUE:
        labels = [label for scan in denies for label in scan.labels]
        return Decision(Outcome.DENIED, f"explicit Deny in {labels[0]}", grants)

    identity_allow = allow.value
    unknown_allow = list(allow.unknown)
    if unknown_identity and identity_allow is not Tri.TRUE:
        identity_allow = identity_allow | Tri.UNKNOWN
        unknown_allow.extend(f"policy {name} is not in the manifests" for name in unknown_identity)

    permitted = identity_allow
    reason_if_false = "no Allow in the role's policies"
    cross = request.cross_account
    if resource_policy is not None:
        if resource_policy.policy is None:
            if resource_policy.kms_key:
                return _unevaluated(f"the key policy of {resource_policy.label} is not known", unknown, grants)
            if resource_policy.trust or cross:
                # The policy would have to allow: without it nothing can be decided.
                return _unevaluated(f"the {resource_policy.label} is not known", unknown, grants)
            # An unknown bucket/topic/queue policy could only add a Deny (same account).
            unknown.append(f"the resource policy of {resource_policy.label} is not known")
            deny = deny | Tri.UNKNOWN
        elif resource_policy.mandatory or cross:
            direct = _scan(resource_policy.policy, request, "Allow", resource_policy=True, principal_kind="direct")
            via_account = _scan(
                resource_policy.policy, request, "Allow", resource_policy=True, principal_kind="account"
            )
            unknown_allow.extend(direct.unknown + via_account.unknown)
            if cross:
                # Cross-account: the caller's identity policy AND the resource's policy (naming the role or its
                # account) must allow (IAM user guide, "Cross-account policy evaluation logic").
                permitted = identity_allow & (direct.value | via_account.value)
            else:
                permitted = direct.value | (via_account.value & identity_allow)
            if direct.value is Tri.FALSE and via_account.value is Tri.FALSE:
                if resource_policy.kms_key and not cross:
                    reason_if_false = (
                        f"the key policy of {resource_policy.label} allows neither the role nor the account "
                        "(IAM policies cannot grant this key)"
                    )
                else:
                    reason_if_false = f"the {resource_policy.label} admits neither the role nor its account" + (
                        f" (cross-account: account {request.resource_account}'s policy must allow a principal of "
                        f"{request.account})"
                        if cross
                        else ""
                    )
        else:
            direct = _scan(resource_policy.policy, request, "Allow", resource_policy=True, principal_kind="direct")
            unknown_allow.extend(direct.unknown)
            permitted = identity_allow | direct.value
    elif cross:
        # No resource-based policy in the resource's account: nothing there admits another account.
        permitted = Tri.FALSE
        reason_if_false = (
            f"{request.resource} is in account {request.resource_account} and no resource-based policy there "
            f"admits account {request.account} (IAM user guide, cross-account policy evaluation logic)"
        )

    bounded = Tri.TRUE
    if boundary is not None:
        if boundary.policy is None:
            bounded = Tri.UNKNOWN
            unknown.append(f"boundary unknown: {boundary.arn} is not in the manifests and no resolver knows it")
        else:
            scan = _scan(boundary.policy, request, "Allow")
            bounded = scan.value
            unknown.extend(scan.unknown)

    final = permitted & bounded & deny.negate()
    if final is Tri.TRUE:
        return Decision(Outcome.ALLOWED, grants=grants)
    if permitted is Tri.FALSE:
        return Decision(Outcome.DENIED, reason_if_false, grants)
    if bounded is Tri.FALSE:
        assert boundary is not None
        return Decision(Outcome.DENIED, f"the permissions boundary {boundary.arn} does not allow it", grants)
    return _unevaluated("; ".join(dict.fromkeys(unknown + unknown_allow)) or "undecidable", [], grants)


def _unevaluated(reason: str, more: Sequence[str], grants: list[Grant]) -> Decision:
    text = "; ".join(dict.fromkeys([reason, *more]))
    return Decision(Outcome.UNEVALUATED, text, grants)
