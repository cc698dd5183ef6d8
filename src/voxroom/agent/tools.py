"""Function tools: `@function_tool` methods on an Agent, described to the model by JSON schema.

The schema comes from type hints and the docstring (first paragraph = description; Google-style
`Args:` lines describe parameters). Calls are executed defensively: unknown tools, bad JSON,
wrong arguments and exceptions become an error message for the model, never a crash.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast, get_args, get_origin, overload

from voxroom.agent.tool_guard import SIDE_EFFECTS_MARK, SideEffects
from voxroom.providers.base import ToolCall, ToolSpec

TOOL_MARK = "__voxroom_tool__"
TOOL_TIMEOUT_S = 20.0
_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")
ToolFunction = TypeVar("ToolFunction", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True, slots=True)
class ToolResult:
    call: ToolCall
    output: str
    error: bool
    duration_ms: float
    refused: bool = False  # not run: side effects nobody asked for (`tool_guard`)


@overload
def function_tool(fn: ToolFunction, /) -> ToolFunction: ...


@overload
def function_tool(
    *, side_effects: bool = False, asked_by: Sequence[str] = ()
) -> Callable[[ToolFunction], ToolFunction]: ...


def function_tool(
    fn: ToolFunction | None = None,
    /,
    *,
    side_effects: bool = False,
    asked_by: Sequence[str] = (),
) -> ToolFunction | Callable[[ToolFunction], ToolFunction]:
    """Mark an async Agent method as a tool the model may call: `@function_tool`.

    A tool that acts on the world (books, sends, pays) declares it:
    `@function_tool(side_effects=True, asked_by=("taxi", "cab"))`. The engine then runs a
    call of it only when the user's words ask for it and contain its arguments
    (`tool_guard`); `asked_by` defaults to the words of the tool's name.
    """

    def mark(tool: ToolFunction) -> ToolFunction:
        if not inspect.iscoroutinefunction(cast(Any, tool)):
            raise TypeError(f"@function_tool needs an async function, got {tool.__name__}")
        setattr(tool, TOOL_MARK, tool_spec(tool))
        if side_effects:
            setattr(tool, SIDE_EFFECTS_MARK, SideEffects.of(tool.__name__, tuple(asked_by)))
        elif asked_by:
            raise TypeError("asked_by is for tools with side_effects=True")
        return tool

    return mark if fn is None else mark(fn)


def side_effects_of(tool: Callable[..., Awaitable[Any]]) -> SideEffects | None:
    """What asks for `tool` (a method or bound method), if it has side effects."""
    found = getattr(tool, SIDE_EFFECTS_MARK, None)
    return found if isinstance(found, SideEffects) else None


def tool_spec(fn: Callable[..., Any]) -> ToolSpec:
    hints = typing.get_type_hints(fn)
    docs = inspect.getdoc(fn) or ""
    description, arg_docs = _parse_docstring(docs)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, parameter in inspect.signature(fn).parameters.items():
        if name == "self":
            continue
        schema = _schema(hints.get(name, str))
        if name in arg_docs:
            schema["description"] = arg_docs[name]
        properties[name] = schema
        if parameter.default is inspect.Parameter.empty and not _optional(hints.get(name)):
            required.append(name)
    parameters = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return ToolSpec(fn.__name__, description or fn.__name__.replace("_", " "), parameters)


def _parse_docstring(docs: str) -> tuple[str, dict[str, str]]:
    description, _, rest = docs.partition("\n\n")
    arg_docs: dict[str, str] = {}
    in_args = False
    for line in rest.splitlines():
        if line.strip().lower() in ("args:", "arguments:", "parameters:"):
            in_args = True
        elif in_args and (match := _ARG_LINE.match(line)):
            arg_docs[match.group(1)] = match.group(2).strip()
    return " ".join(description.split()), arg_docs


def _optional(hint: Any) -> bool:
    return hint is not None and type(None) in get_args(hint)


def _schema(hint: Any) -> dict[str, Any]:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _schema(inner[0]) if len(inner) == 1 else {"anyOf": [_schema(a) for a in inner]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset):
        return {"type": "array", "items": _schema(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return {"type": simple.get(hint, "string")}


Tools = dict[str, tuple[ToolSpec, Callable[..., Awaitable[Any]]]]  # by name: schema, bound method


def agent_tools(agent: object) -> Tools:
    """The agent's tools by name, bound to the agent."""
    agent_class: type[Any] = type(agent)
    return {spec.name: (spec, getattr(agent, attr)) for attr, spec in _tool_specs(agent_class)}


_SPECS_BY_CLASS: dict[type[Any], tuple[tuple[str, ToolSpec], ...]] = {}


def _tool_specs(agent_class: type[Any]) -> tuple[tuple[str, ToolSpec], ...]:
    """Scanned once per class (`dir()` on every request cost ~8 µs on the reply path)."""
    if agent_class not in _SPECS_BY_CLASS:
        found = []
        for attr in dir(agent_class):
            spec = getattr(getattr(agent_class, attr, None), TOOL_MARK, None)
            if isinstance(spec, ToolSpec):
                found.append((attr, spec))
        _SPECS_BY_CLASS[agent_class] = tuple(found)
    return _SPECS_BY_CLASS[agent_class]


async def run_tool(call: ToolCall, tools: Tools) -> ToolResult:
    """Execute one call; every failure is reported as text for the model to read."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    def result(output: str, error: bool) -> ToolResult:
        return ToolResult(call, output, error, round((loop.time() - started) * 1000, 1))

    if call.name not in tools:
        return result(f"error: no tool named {call.name!r}; tools: {', '.join(tools)}", True)
    spec, fn = tools[call.name]
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as exc:
        return result(f"error: arguments are not valid JSON ({exc.msg})", True)
    if not isinstance(arguments, dict):
        return result("error: arguments must be a JSON object", True)
    unknown = set(arguments) - set(spec.parameters["properties"])
    missing = [p for p in spec.parameters["required"] if p not in arguments]
    if unknown or missing:
        return result(f"error: unknown arguments {sorted(unknown)}, missing {missing}", True)
    try:
        output = await asyncio.wait_for(fn(**arguments), TOOL_TIMEOUT_S)
    except TimeoutError:
        return result(f"error: {call.name} timed out", True)
    except Exception as exc:  # the tool's own failure is the model's to handle
        return result(f"error: {type(exc).__name__}: {exc}", True)
    text = output if isinstance(output, str) else json.dumps(output, default=str)
    return result(text, False)
