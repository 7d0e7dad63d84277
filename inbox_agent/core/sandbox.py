"""The sandbox staff templates run in: what a template may do, for how long, and how big.

Jinja2's ImmutableSandboxedEnvironment already stops attribute walks (``__class__``,
``__globals__``) and mutation of the data. It leaves two things open, which this module closes:
a template can run for ever without writing a character, and it can build a value of a gigabyte
in one expression. Both must be refused *while* they happen, not when output is yielded: a loop
that writes nothing yields nothing, and ``'x'.ljust(10**9)`` is a gigabyte before anything sees
its length.

**Time.** Every render runs inside :func:`render_budget`, a :class:`Budget` held in a
``ContextVar`` for the length of that one render (so ``templates check``, ``preview`` and the
agent are bounded alike, and a render in one thread or task never spends another's budget). The
budget counts steps (``MAX_RENDER_STEPS``) and, when the app gives it a monotonic stopwatch,
watches a deadline (``MAX_RENDER_SECONDS``); core reads no clock of its own. :func:`tick`
spends one step. Where it is called is the point: a template can only repeat work through a
``for`` loop, a call (macros, ``caller()``, a recursive ``loop()``) or a template load
(``include``, ``import``, ``extends``: a template including itself twice doubles without any
loop), so

- the code generator (``Environment.code_generator_class``, public Jinja2 API) puts a tick at the
  head of every loop body and inside every loop's ``if`` test (a filtered loop steps through
  its items without entering the body), recursive loops included;
- the sandbox's ``call`` ticks on every call a template makes, and ``_load_template`` on
  every load.

What is left is straight-line code, no longer than its source. Other ways were weighed and
refused: checking the clock where output is yielded misses silent loops (the bug this fixes);
the sandbox's hooks alone (``call``, ``getattr``, operators) never see a ``for`` step through a
string; a signal (``SIGALRM``) works only in the main thread and would interrupt the event loop
and the mail protocols, not just the template; a thread cannot be killed; a process per render
costs more than the render.

**Size.** Every operation that can make a value much bigger than its inputs estimates the size
of its result *before* doing it and refuses above ``MAX_VALUE_CHARS``: the operators ``*``,
``**``, ``+``, ``%`` (:meth:`BoundedSandbox.call_binop`) and ``~`` (the code generator);
str methods (``ljust``, ``center``, ``zfill``, ``expandtabs``, ``replace``, ``join``,
``format``/``format_map`` widths and precisions...; :meth:`BoundedSandbox.call`, through which
every call a template makes passes); ``str()`` of a container, when it is printed or joined
(``finalize``); and the text captured by ``{% set %}...{% endset %}``, macros, call blocks and
``{% filter %}`` (:class:`OutputBuffer`). Filters are called by generated code directly, not
through ``call``, so the ones that build text (``center``, ``indent``, ``wordwrap``, ``join``,
``replace``, ``format``, ``string``) are replaced with bounded versions, and the ones a mail
template has no use for and that loop or build on their own (``batch``, ``slice``, ``map``,
``sum``, ``tojson``, ...) are removed: :data:`FILTERS` is the whole list a template gets.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, time
from typing import Any, cast

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.filters import do_center, do_format, do_indent, do_join, do_replace, do_wordwrap
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_environment, pass_eval_context

MAX_RENDER_SECONDS = 2.0
MAX_RENDER_STEPS = 1_000_000  # loop steps, calls and loads in one render: a mail needs hundreds
CALL_STEPS = 10  # a call (a macro's above all) costs some ten loop steps' time
LOAD_STEPS = 20  # and a template load (include, import) some twenty
MAX_VALUE_CHARS = 1_000_000  # any one value a template builds (text, list, captured output)
MAX_INT_DIGITS = 4_300  # as Python's own int-to-text limit: beyond it a number cannot be shown


class OverBudget(Exception):  # noqa: N818  (a template's mistake, reported, not a bug)
    """A render ran out of steps or time: a runaway loop."""


@dataclass
class Budget:
    """What one render may still spend."""

    stopwatch: Callable[[], float] | None
    started: float
    steps: int = 0


_budget: ContextVar[Budget | None] = ContextVar("inbox_agent_render_budget", default=None)


@contextmanager
def render_budget(stopwatch: Callable[[], float] | None) -> Iterator[Budget]:
    """Bound every template step made inside the ``with`` (one render)."""
    budget = Budget(stopwatch, stopwatch() if stopwatch else 0.0)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def tick(steps: int = 1) -> None:
    """Spend ``steps`` of the render in progress; raise OverBudget when they are spent."""
    budget = _budget.get()
    if budget is None:  # compile-time constant folding: no render in progress
        return
    budget.steps += steps
    if budget.steps > MAX_RENDER_STEPS:
        raise OverBudget(
            f"rendering took over {MAX_RENDER_STEPS:,} steps; check for a runaway loop"
        )
    if budget.stopwatch is not None and budget.stopwatch() - budget.started > MAX_RENDER_SECONDS:
        raise OverBudget(f"rendering took over {MAX_RENDER_SECONDS:g} s; check for a runaway loop")


def charge(what: str, size: int) -> None:
    """One step, and refuse a value of ``size`` characters when it is over the limit."""
    tick()
    if size > MAX_VALUE_CHARS:
        raise SecurityError(
            f"{what} too large: it would make {size:,} characters, the limit is {MAX_VALUE_CHARS:,}"
        )


def size_of(value: Any) -> int:
    """How long ``str(value)`` is, at least; counting stops past the limit, so measuring a
    huge container costs no more than a small one."""
    if isinstance(value, str | bytes):
        return len(value)
    total, stack = 0, [value]
    while stack and total <= MAX_VALUE_CHARS:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 2  # quotes in a repr
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() * 3 // 10 + 1
        elif isinstance(item, Mapping | list | tuple | set | frozenset):
            total += 2 + 2 * len(item)  # brackets and separators, before looking inside
            if total <= MAX_VALUE_CHARS:
                stack.extend(item.items() if isinstance(item, Mapping) else item)
        else:  # numbers, dates, None, Undefined...: short when printed
            total += 8
    return total


# -- the code generator: a step on every loop iteration, bounded text in ~ and buffers ------


def _hook(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    """A call to ``environment.<name>`` written into template code (EnvironmentAttribute:
    Jinja's node for exactly this; no template can write one)."""
    return nodes.Call(
        nodes.EnvironmentAttribute(name, lineno=lineno), args, [], None, None, lineno=lineno
    )


_HOOKS = frozenset({"tick", "ticked"})


class BoundedCodeGenerator(CodeGenerator):
    """Jinja2's code generator with the budget's checks written into the template code."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:  # noqa: N802
        line = node.lineno
        step = nodes.ExprStmt(_hook("tick", [], line), lineno=line)
        test = None if node.test is None else _hook("ticked", [cast(nodes.Expr, node.test)], line)
        bounded = nodes.For(
            node.target,
            node.iter,
            [step, *node.body],
            node.else_,
            test,
            node.recursive,
            lineno=line,
            environment=node.environment,
        )
        super().visit_For(bounded, frame)

    def visit_Call(  # noqa: N802
        self,
        node: nodes.Call,
        frame: Frame,
        forward_caller: bool = False,
    ) -> None:
        if isinstance(node.node, nodes.EnvironmentAttribute) and node.node.name in _HOOKS:
            # Our own hooks are called directly, not through the sandbox's call(): one step.
            self.write(f"environment.{node.node.name}(")
            for arg in node.args:
                self.visit(arg, frame)
            self.write(")")
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)

    def buffer(self, frame: Frame) -> None:
        # Captured output ({% set %} blocks, macros, call blocks, filter blocks) is joined into
        # one value at the end: bound it as it grows, like any value.
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"{join}(environment.concat_parts((")  # sized before they are joined
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write(")))")


class OutputBuffer(list[str]):
    """Captured template output that refuses to grow past ``MAX_VALUE_CHARS``."""

    chars = 0

    def append(self, item: str) -> None:
        self._grow(len(item))
        super().append(item)

    def extend(self, items: Any) -> None:
        parts = tuple(items)
        self._grow(sum(len(part) for part in parts))
        super().extend(parts)

    def _grow(self, chars: int) -> None:
        self.chars += chars
        if self.chars > MAX_VALUE_CHARS:
            raise SecurityError(
                f"captured output too large: over {MAX_VALUE_CHARS:,} "
                "characters; check for a runaway loop"
            )


# -- the sandbox -----------------------------------------------------------------------------


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, bounded in steps, time and the size of every value."""

    code_generator_class = BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    tick = staticmethod(tick)
    output_buffer = OutputBuffer

    @staticmethod
    def ticked(value: Any) -> Any:
        """``value``, after one step (a filtered loop's test)."""
        tick()
        return value

    @staticmethod
    def concat_parts(parts: tuple[Any, ...]) -> tuple[Any, ...]:
        """The parts of a ``~``, once their joined size is known to be allowed."""
        charge("~", sum(size_of(part) for part in parts))
        return parts

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        tick()
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context: jinja2.runtime.Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        tick(CALL_STEPS)  # every call: macros, caller(), a recursive loop(), methods
        args = _checked_call(obj, args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja wraps str.format / format_map when they are looked up, not when called, so
        # this is where their result's size is estimated.
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template, name = str(value.__self__), value.__name__

        def bounded(*args: Any, **kwargs: Any) -> str:
            given = (
                [*args, *kwargs.values()]
                if name == "format"
                else list(args[0].values())
                if args and isinstance(args[0], Mapping)
                else []
            )
            charge(f"{name}()", _format_size(template, given))
            return wrapped(*args, **kwargs)

        return bounded

    def _load_template(self, name: str, globals: Any) -> jinja2.Template:
        tick(LOAD_STEPS)  # include / import / extends, which can recurse without a loop
        return super()._load_template(name, globals)


def finalize(value: Any) -> Any:
    """Every printed value (``{{ x }}``): a container's text is sized before it is made."""
    if not isinstance(value, str):
        charge("printing a value", size_of(value))
    return value


# -- estimates: how big a result would be, before it is made --------------------------------


def _check_binop(operator: str, left: Any, right: Any) -> None:
    numbers = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
    if operator == "**" and isinstance(right, int) and abs(right) > 100:
        raise SecurityError(f"** {right}: exponent too large")
    if numbers and operator in {"*", "**"}:
        bits = (
            left.bit_length() * max(right, 1)
            if operator == "**"
            else left.bit_length() + right.bit_length()
        )
        if bits * 3 // 10 > MAX_INT_DIGITS:
            raise SecurityError(f"{operator}: number too large: over {MAX_INT_DIGITS:,} digits")
    sized = (str, bytes, list, tuple)
    if operator == "*" and not numbers:
        length = next((len(v) for v in (left, right) if isinstance(v, sized)), 0)
        count = next((v for v in (left, right) if isinstance(v, int)), 0)
        charge("repetition (*)", length * max(count, 0))
    elif operator == "+" and isinstance(left, sized) and isinstance(right, sized):
        charge("+", len(left) + len(right))
    elif operator == "%" and isinstance(left, str | bytes):
        charge("% formatting", _percent_size(str(left), right))


def _checked_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """``args`` for calling ``obj``, once the result is known to be of an allowed size (an
    iterable given to ``join`` is read once here, so the arguments may change)."""
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if isinstance(owner, str | bytes):
        if name in {"translate", "maketrans"}:
            raise SecurityError(f"{name}() is not available in templates")
        if name == "join" and args:
            items = tuple(args[0])
            charge("join()", sum(size_of(i) for i in items) + len(owner) * len(items))
            return (items, *args[1:])
        estimate = _METHOD_SIZES.get(name)
        if estimate is not None:
            charge(f"{name}()", estimate(owner, args, kwargs))
    elif isinstance(owner, int) and name == "to_bytes":
        charge("to_bytes()", _number(_arg(args, kwargs, 0, "length", 1)))
    elif isinstance(owner, date | time) and name == "strftime":
        charge("strftime()", 12 * size_of(_arg(args, kwargs, 0, "format", "")))
    return args


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _number(value: Any) -> int:
    return int(value) if isinstance(value, int) else 0


def _replace_size(text: str | bytes, old: Any, new: Any, count: Any) -> int:
    if not isinstance(old, type(text)) or not isinstance(new, type(text)):
        return len(text)  # the call fails with a TypeError of its own
    found = len(text) + 1 if not old else text.count(old)  # type: ignore[arg-type]
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _format_size(template: str, values: list[Any]) -> int:
    """At most how long ``template.format(*values)`` is: each field is as long as the
    longest value, widened by the numbers in its spec (width, precision)."""
    longest = max((size_of(v) for v in values), default=0)
    biggest = max((abs(v) for v in values if isinstance(v, int)), default=0)
    total = 0
    for literal, field, spec, _conversion in string.Formatter().parse(template):
        total += len(literal)
        if field is not None:
            written = spec or ""
            total += (
                longest
                + 12 * len(written)
                + _spec_numbers(written)
                + (biggest if "{" in written else 0)
            )  # a width taken from the values
    return total


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[^a-zA-Z%]*[a-zA-Z%]")


def _percent_size(template: str, values: Any) -> int:
    """At most how long ``template % values`` is (``%`` and the ``format`` filter)."""
    given = (
        list(values.values())
        if isinstance(values, Mapping)
        else list(values)
        if isinstance(values, tuple)
        else [values]
    )
    specs = _PERCENT_SPEC.findall(template)
    longest = max((size_of(v) for v in given), default=0)
    biggest = max((abs(v) for v in given if isinstance(v, int)), default=0)
    return len(template) + sum(
        longest + _spec_numbers(spec) + (biggest if "*" in spec else 0) for spec in specs
    )


def _spec_numbers(spec: str) -> int:
    """The numbers written in a format spec, added up (an absurdly long one counts as over
    the limit without being converted)."""
    return sum(
        int(run) if len(run) <= 9 else MAX_VALUE_CHARS + 1 for run in re.findall(r"\d+", spec)
    )


def _width(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return max(len(text), _number(_arg(args, kwargs, 0, "width", 0)))


def _expandtabs(text: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    tabs = text.count(b"\t") if isinstance(text, bytes) else text.count("\t")
    return len(text) + tabs * max(_number(_arg(args, kwargs, 0, "tabsize", 8)), 0)


_METHOD_SIZES: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any]], int]] = {
    "ljust": _width,
    "rjust": _width,
    "center": _width,
    "zfill": _width,
    "expandtabs": _expandtabs,
    "replace": lambda s, a, k: _replace_size(
        s, _arg(a, k, 0, "old", ""), _arg(a, k, 1, "new", ""), _arg(a, k, 2, "count", -1)
    ),
    "encode": lambda s, a, k: 4 * len(s),
    "hex": lambda s, a, k: 3 * len(s),
}


# -- filters: the ones a mail template gets, text-building ones bounded ---------------------


def _center(value: Any, width: int = 80) -> str:
    charge("center", max(size_of(value), _number(width)))
    return do_center(value, width)


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    lines = s.count("\n") + 1 if isinstance(s, str) else size_of(s)
    pad = len(width) if isinstance(width, str) else _number(width)
    charge("indent", size_of(s) + lines * max(pad, 0))
    return do_indent(s, width, first, blank)


@pass_environment
def _wordwrap(  # noqa: PLR0917  (Jinja's signature for this filter)
    environment: jinja2.Environment,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = str(s) if isinstance(s, str) else ""
    lines = len(text.split()) + text.count("\n") + 1 if text else size_of(s)
    joint = wrapstring if wrapstring is not None else environment.newline_sequence
    charge("wordwrap", size_of(s) + lines * size_of(joint))
    return do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


@pass_eval_context
def _join(
    eval_ctx: jinja2.nodes.EvalContext, value: Any, d: str = "", attribute: str | int | None = None
) -> str:
    items = list(value)  # read once: it may be an iterator
    values = (
        items if attribute is None else [eval_ctx.environment.getitem(i, attribute) for i in items]
    )
    charge("join", sum(size_of(v) for v in values) + size_of(d) * len(items))
    joined: str = do_join(eval_ctx, items, d, attribute)
    return joined


@pass_eval_context
def _replace(
    eval_ctx: jinja2.nodes.EvalContext, s: Any, old: Any, new: Any, count: int | None = None
) -> str:
    charge("replace", size_of(s))  # its text, before that is made
    text = s if isinstance(s, str) else str(s)
    grown = str(new) * (5 if eval_ctx.autoescape else 1)  # '&' escaped is '&#38;'
    charge("replace", _replace_size(text, str(old), grown, -1 if count is None else count))
    return do_replace(eval_ctx, s, old, new, count)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    charge(
        "format",
        _percent_size(value if isinstance(value, str) else "%s", kwargs or args) + size_of(value),
    )
    return do_format(value, *args, **kwargs)


_SOFT_STR = DEFAULT_FILTERS["string"]  # markupsafe's soft_str: keeps Markup as Markup


def _string(value: Any) -> str:
    charge("string", size_of(value))
    text: str = _SOFT_STR(value)
    return text


_KEPT = (
    "abs",
    "attr",
    "capitalize",
    "count",
    "d",
    "default",
    "e",
    "escape",
    "first",
    "float",
    "forceescape",
    "int",
    "last",
    "length",
    "list",
    "lower",
    "max",
    "min",
    "reverse",
    "round",
    "safe",
    "sort",
    "striptags",
    "title",
    "trim",
    "truncate",
    "unique",
    "upper",
    "wordcount",
)

FILTERS: dict[str, Callable[..., Any]] = {
    **{name: DEFAULT_FILTERS[name] for name in _KEPT},
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "join": _join,
    "replace": _replace,
    "format": _format,
    "string": _string,
}
