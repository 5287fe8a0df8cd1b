"""YAML parsing: PyYAML (libyaml when present) for our own files, Go yaml.v3 rules for Pulumi's.

Two readers, because two programs read our YAML:

- :func:`safe_load` reads the files only regionflow reads (buildspecs as we render them, the IAM-lint
  exceptions): ``yaml.safe_load`` through libyaml when PyYAML was built with it. PyYAML's pure-Python
  loader takes about 10 ms per file and the offline preview parses some twenty, so the C loader (same
  safe semantics) takes a visible share off every preview.
- :func:`load_pulumi_yaml` reads ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` the way the Pulumi CLI does.
  The CLI is written in Go and decodes them with ``gopkg.in/yaml.v3``, which follows the YAML 1.2 core
  schema: only ``true``/``True``/``TRUE`` (and the three ``false`` spellings) are booleans, so ``yes``,
  ``no``, ``on``, ``off``, ``y`` and ``n`` stay strings; ``~``, ``null`` (three spellings) and an empty
  value are null; integers take Go's ``strconv.ParseInt(s, 0, 64)`` forms (``0x``, ``0o``, ``0b``, a
  leading-0 octal, ``_`` separators); ``2001-12-14`` is a timestamp. PyYAML follows YAML 1.1, where
  ``yes``/``on`` are ``True``: a stack file that previewed offline with PyYAML could fail for real.
  Source: go-yaml/yaml (v3) ``resolve.go`` (``resolveMapList``, ``resolve``, ``parseTimestamp``).

Top-level config values keep their text. The CLI first decodes a config value *into a Go string* and
only if that fails (a mapping or a list) into an object it then hands to the program as JSON
(pulumi/pulumi ``sdk/go/common/resource/config/value.go``, ``unmarshalValue``: "First, try to
unmarshal as a string"). A scalar decoded into a string is its text as written (``0x10`` stays
``"0x10"``, ``True`` stays ``"True"``), and a null is the empty string. :class:`ScalarText` carries that
text for the stack-file reader.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load``, through libyaml when PyYAML was built with it."""
    # A safe loader (SafeLoader or libyaml's CSafeLoader): it constructs only plain YAML types.
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506  # nosec B506


# --- Go yaml.v3 scalar resolution (resolve.go) -------------------------------------------------------------

_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_SPECIAL_FLOATS = {
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
}  # fmt: skip
# yamlStyleFloat in resolve.go.
_YAML_STYLE_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
# Go's strconv.ParseInt(s, 0, 64) syntax: optional sign, then 0x/0o/0b prefixed digits, a leading-0
# octal, or decimal digits.
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_TIMESTAMP = re.compile(
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:(?P<sep>[Tt ])(?P<H>\d{1,2}):(?P<M>\d{1,2}):(?P<S>\d{1,2})(?P<frac>\.\d{1,9})?"
    r"(?P<tz>Z|[-+]\d{2}:\d{2})?)?$"
)


def _go_int(plain: str) -> int | None:
    if not _GO_INT.match(plain):
        return None
    sign = -1 if plain.startswith("-") else 1
    digits = plain.lstrip("+-")
    lowered = digits.lower()
    if lowered.startswith("0x"):
        value = int(lowered[2:], 16)
    elif lowered.startswith("0o"):
        value = int(lowered[2:], 8)
    elif lowered.startswith("0b"):
        value = int(lowered[2:], 2)
    elif len(digits) > 1 and digits.startswith("0"):
        value = int(digits, 8)  # ParseInt base 0: a leading 0 means octal (resolve.go keeps 1.1 octals)
    else:
        value = int(digits, 10)
    value *= sign
    # ParseInt (int64) or, for larger positive values, ParseUint (uint64).
    return value if -(2**63) <= value < 2**64 else None


def _timestamp(text: str) -> _dt.datetime | None:
    match = _TIMESTAMP.match(text)
    if match is None:
        return None
    try:
        if match["sep"] is None:
            return _dt.datetime(int(match["y"]), int(match["m"]), int(match["d"]), tzinfo=_dt.UTC)
        if match["sep"] == " " and match["tz"] is not None:
            return None  # "2006-1-2 15:4:5.999999999" has no zone in yaml.v3's formats
        if match["sep"] in "Tt" and match["tz"] is None:
            return None  # the RFC 3339 forms require a zone
        micro = int((match["frac"] or ".0")[1:].ljust(6, "0")[:6])
        zone = _dt.UTC
        if match["tz"] not in (None, "Z"):
            hours, minutes = match["tz"][1:].split(":")
            offset = _dt.timedelta(hours=int(hours), minutes=int(minutes))
            zone = _dt.timezone(offset if match["tz"][0] == "+" else -offset)
        return _dt.datetime(
            int(match["y"]), int(match["m"]), int(match["d"]),
            int(match["H"]), int(match["M"]), int(match["S"]), micro, tzinfo=zone,
        )  # fmt: skip
    except ValueError:
        return None


def resolve_plain_scalar(text: str) -> Any:
    """The value yaml.v3 gives an untagged plain scalar (``resolve`` in resolve.go)."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _NULL:
        return None
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if text[:1] == ".":
        try:
            return float(text)
        except ValueError:
            return text
    if text[:1].isdigit() or text[:1] in "+-":
        stamp = _timestamp(text)
        if stamp is not None:
            return stamp
        plain = text.replace("_", "")
        integer = _go_int(plain)
        if integer is not None:
            return integer
        if _YAML_STYLE_FLOAT.match(plain):
            return float(plain)
    return text


# --- Documents as the Pulumi CLI sees them -----------------------------------------------------------------


@dataclass(frozen=True)
class ScalarText:
    """A scalar's text as written (after quotes and escapes), and the value yaml.v3 resolves it to."""

    text: str
    value: Any
    line: int  # 1-based, for messages

    @property
    def is_null(self) -> bool:
        return self.value is None


class PulumiYamlError(ValueError):
    """The text is not YAML, or uses something the Pulumi CLI would not accept."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


def _construct(node: yaml.Node, *, keep_text: bool) -> Any:
    if isinstance(node, yaml.ScalarNode):
        # Quoted scalars are strings; plain ones resolve by yaml.v3's rules (an explicit tag such as
        # !!str on a plain scalar is rare in Pulumi files and not honoured here).
        # (PyYAML marks a plain scalar with style None, libyaml with "".)
        value = resolve_plain_scalar(node.value) if not node.style else node.value
        if keep_text:
            return ScalarText(node.value if value is not None else "", value, node.start_mark.line + 1)
        return value
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, keep_text=keep_text) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node, keep_text=False)
            if key_node.tag == "tag:yaml.org,2002:merge" or key == "<<":
                raise PulumiYamlError("merge keys (<<) are not supported here", key_node.start_mark.line + 1)
            # Pulumi turns map keys into strings with Go's %v (value.go, interfaceMapToStringMap).
            name = go_format(key)
            if name in mapping:
                raise PulumiYamlError(f"key {name!r} appears twice", key_node.start_mark.line + 1)
            mapping[name] = _construct(value_node, keep_text=keep_text)
        return mapping
    raise PulumiYamlError(f"unsupported YAML node {type(node).__name__}")  # pragma: no cover


def go_format(value: Any) -> str:
    """A resolved scalar as Go's ``fmt.Sprintf("%v", v)`` prints it (for map keys)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_pulumi_yaml(text: str, *, keep_text: bool = False) -> Any:
    """Parse ``Pulumi.yaml``/``Pulumi.<stack>.yaml`` with yaml.v3's scalar rules.

    With ``keep_text`` every scalar is a :class:`ScalarText` (its written text and resolved value);
    otherwise plain Python values. Raises :class:`PulumiYamlError` for invalid YAML.
    """
    try:
        node = yaml.compose(text, Loader=_SAFE_LOADER)  # nosec B506 - composing only, no constructors run
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise PulumiYamlError(
            f"is not valid YAML ({getattr(error, 'problem', None) or error})",
            mark.line + 1 if mark is not None else None,
        ) from None
    if node is None:
        return None
    return _construct(node, keep_text=keep_text)


def plain(value: Any) -> Any:
    """``value`` with every :class:`ScalarText` replaced by its resolved value."""
    if isinstance(value, ScalarText):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def to_go_json_value(value: Any) -> Any:
    """What Go's ``json.Marshal`` makes of a yaml.v3 value, as a Python JSON value.

    Timestamps become RFC 3339 strings (time.Time's MarshalJSON); integral floats stay numbers.
    NaN and infinities have no JSON form: Go fails with "unsupported value", and so does this.
    """
    if isinstance(value, _dt.datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise PulumiYamlError(f"{value} has no JSON form; the Pulumi CLI rejects it (quote it to make a string)")
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {k: to_go_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_go_json_value(v) for v in value]
    return value
