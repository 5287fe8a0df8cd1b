"""``Output.json_dumps`` and ``Output.concat`` with the same results and far fewer Outputs.

The SDK's versions lift their whole argument through ``Output.from_input``, which makes an Output for
every dict, list and constant string inside it (a policy document of ten statements becomes a few
hundred Outputs, each a task on the event loop, each checked for unknowns). These lift only the
parts that are Outputs, through the same public ``Output.all``, and build the string once, in one
``apply``. The resolved value, the resources it depends on, and whether it is known or secret are
the SDK's (see ``pulumi/output.py``: ``all`` combines them the same way over the same
``from_input`` of each Output part, and ``apply`` returns an unknown, non-applied Output exactly when
``json_dumps`` does). Anything else (awaitables, input classes, non-string keys, non-string parts
of a concat) goes to the SDK's own function unchanged.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Iterator
from typing import Any, cast

import pulumi

_PLAIN = (str, int, float, bool, type(None))


def _collect(value: Any, leaves: list[pulumi.Output[Any]]) -> bool:
    """Append the Outputs inside ``value`` to ``leaves``; False if ``value`` holds anything but JSON and Outputs."""
    if isinstance(value, pulumi.Output):
        leaves.append(value)
        return True
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, dict):
        return all(isinstance(key, str) and _collect(item, leaves) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return all(_collect(item, leaves) for item in value)
    return False


def _fill(value: Any, resolved: Iterator[Any]) -> Any:
    """``value`` with each Output replaced by the next resolved value, in :func:`_collect`'s order."""
    if isinstance(value, pulumi.Output):
        return next(resolved)
    if isinstance(value, dict):
        return {key: _fill(item, resolved) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_fill(item, resolved) for item in value]
    return value


def json_dumps(obj: Any, *, sdk: Callable[..., pulumi.Output[str]] | None = None, **options: Any) -> pulumi.Output[str]:
    """``pulumi.Output.json_dumps(obj)`` lifting only the Output leaves; with ``options`` (``indent``...), the SDK's."""
    leaves: list[pulumi.Output[Any]] = []
    if options or not _collect(obj, leaves):
        return (sdk or pulumi.Output.json_dumps)(obj, **options)
    if not leaves:
        return pulumi.Output.from_input(json.dumps(obj))

    def render(values: list[Any]) -> str:
        return json.dumps(_fill(obj, iter(values)))

    return pulumi.Output.all(*leaves).apply(render)


def concat(*args: pulumi.Input[str], sdk: Callable[..., pulumi.Output[str]] | None = None) -> pulumi.Output[str]:
    """``pulumi.Output.concat(*args)``, lifting only the parts that are Outputs."""
    if not all(isinstance(arg, (str, pulumi.Output)) for arg in args):
        return (sdk or pulumi.Output.concat)(*args)
    outputs = [arg for arg in args if isinstance(arg, pulumi.Output)]
    if not outputs:
        return pulumi.Output.from_input("".join(arg for arg in args if isinstance(arg, str)))

    def join(values: list[Any]) -> str:
        resolved = iter(values)
        # Every part is a str or an Output (checked above); an Output's value that is not a str fails
        # in join, as it does in the SDK's concat. Constant parts go in as they are, like the SDK's
        # "".join: str() of a (str, Enum) member would give its name, not its value.
        return "".join([next(resolved) if isinstance(arg, pulumi.Output) else cast(str, arg) for arg in args])

    return pulumi.Output.all(*outputs).apply(join)


def require_output(
    reference: pulumi.StackReference,
    name: pulumi.Input[str],
    *,
    sdk: Callable[[pulumi.StackReference, pulumi.Input[str]], pulumi.Output[Any]],
) -> pulumi.Output[Any]:
    """``reference.require_output(name)`` without lifting every other output of the stack into Outputs.

    The SDK (``pulumi/stack_reference.py``) computes ``Output.all(name, self.outputs)`` and picks the
    entry, which lifts the whole outputs dict, value by value, once per call. The outputs Output is
    already unknown when any value in it is (``_OutputData`` checks the value), so applying to it
    directly gives the same value, resources and known-ness; secrecy comes from the SDK's own
    per-name check, as in the SDK. Falls back to ``sdk`` for a non-string name or an SDK without that check.
    """
    is_secret_name = getattr(reference, "_StackReference__is_secret_name", None)
    if not isinstance(name, str) or is_secret_name is None:
        return sdk(reference, name)

    def pick(outputs: dict[str, Any]) -> Any:
        # The SDK hands out a fresh copy (from_input rebuilds every dict and list); so does this.
        return copy.deepcopy(outputs[name])

    value = reference.outputs.apply(pick)
    is_secret = asyncio.ensure_future(is_secret_name(name))
    return pulumi.Output(value.resources(), value.future(), value.is_known(), is_secret)
