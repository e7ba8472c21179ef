"""The restricted Python evaluator behind :mod:`posekit_mmpose.pyconfig`: an ``ast`` walk, nothing executed.

Evaluated: literals, f-strings, names bound earlier, ``dict(...)`` (``dict(other, k=v)`` too),
``list``/``tuple``/``range``/``len``, subscripts, attribute reads of dicts, arithmetic and
comparisons, comprehensions with any targets and conditions, starred items; statements:
assignments, top-level ``for`` loops, ``x.update(...)``/``x.append(...)`` and
``from module import Name`` (binding the string ``"Name"``). Results are bounded
(:data:`MAX_INT_BITS`, :data:`MAX_ITEMS`): ``9 ** 9 ** 9`` is refused before it is computed.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from posekit.errors import ConfigError

#: the largest integer a config may compute, in bits
MAX_INT_BITS = 4096
#: the most elements (sequence items, string characters) all values of one file may hold together
MAX_ITEMS = 2_000_000

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
}


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 1


class Evaluator:
    """Evaluates one file's statements into a namespace; every refusal names the file and line."""

    def __init__(self, source: str, scope: dict[str, Any]) -> None:
        self.source = source
        self.scope = scope
        self.assigned: set[str] = set()  # top-level names the file binds itself
        self.items = 0

    def fail(self, node: ast.AST | None, what: str) -> ConfigError:
        line = getattr(node, "lineno", "?")
        return ConfigError(
            f"{self.source}:{line}: {what}; posekit reads MMPose .py configs without running them "
            "(literals, dict(...), names bound earlier, subscripts, arithmetic, comprehensions and "
            "range only): write the value out"
        )

    def count(self, node: ast.AST, value: Any) -> Any:
        self.items += _size(value)
        if self.items > MAX_ITEMS:
            raise self.fail(node, f"the config builds more than {MAX_ITEMS} elements")
        return value

    # ---- expressions ----

    def eval(self, node: ast.expr, local: Mapping[str, Any]) -> Any:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, f"unsupported expression {type(node).__name__} ({ast.unparse(node)[:60]!r})")
        return method(node, local)

    def _Constant(self, node: ast.Constant, local: Mapping[str, Any]) -> Any:
        return node.value

    def _Name(self, node: ast.Name, local: Mapping[str, Any]) -> Any:
        if node.id in local:
            return local[node.id]
        if node.id in self.scope:
            return self.scope[node.id]
        raise self.fail(node, f"name {node.id!r} is not bound earlier in the file or its bases")

    def _JoinedStr(self, node: ast.JoinedStr, local: Mapping[str, Any]) -> str:
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                if value.format_spec is not None or value.conversion != -1:
                    raise self.fail(node, "f-string conversions and format specs are not supported")
                item = self.eval(value.value, local)
                if not isinstance(item, (str, int, float)):
                    raise self.fail(node, f"f-string of a {type(item).__name__}")
                parts.append(str(item))
            else:
                parts.append(self.eval(value, local))
        return self.count(node, "".join(parts))

    def _items(self, elts: list[ast.expr], local: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                out.extend(self._iterable(elt.value, local))
            else:
                out.append(self.eval(elt, local))
        return out

    def _List(self, node: ast.List, local: Mapping[str, Any]) -> list[Any]:
        return self.count(node, self._items(node.elts, local))

    def _Tuple(self, node: ast.Tuple, local: Mapping[str, Any]) -> tuple[Any, ...]:
        return self.count(node, tuple(self._items(node.elts, local)))

    def _Dict(self, node: ast.Dict, local: Mapping[str, Any]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                out.update(self._mapping(value, local))
            else:
                out[self.eval(key, local)] = self.eval(value, local)
        return self.count(node, out)

    def _mapping(self, node: ast.expr, local: Mapping[str, Any]) -> dict[Any, Any]:
        value = self.eval(node, local)
        if not isinstance(value, Mapping):
            raise self.fail(node, f"'**' of a {type(value).__name__}, not a dict")
        return dict(value)

    def _iterable(self, node: ast.expr, local: Mapping[str, Any]) -> list[Any]:
        value = self.eval(node, local)
        if isinstance(value, (list, tuple, str, range)):
            return list(value)
        if isinstance(value, Mapping):
            return list(value)
        raise self.fail(node, f"cannot iterate over a {type(value).__name__}")

    def _Subscript(self, node: ast.Subscript, local: Mapping[str, Any]) -> Any:
        container = self.eval(node.value, local)
        if isinstance(node.slice, ast.Slice):
            parts = (node.slice.lower, node.slice.upper, node.slice.step)
            key: Any = slice(*(None if p is None else self.eval(p, local) for p in parts))
        else:
            key = self.eval(node.slice, local)
        if not isinstance(container, (list, tuple, str, dict)):
            raise self.fail(node, f"subscript of a {type(container).__name__}")
        try:
            return container[key]
        except (KeyError, IndexError, TypeError) as e:
            raise self.fail(node, f"subscript [{key!r}] fails: {type(e).__name__}: {e}") from e

    def _Attribute(self, node: ast.Attribute, local: Mapping[str, Any]) -> Any:
        value = self.eval(node.value, local)
        if isinstance(value, Mapping) and node.attr in value:
            return value[node.attr]
        raise self.fail(node, f"attribute {node.attr!r} of a {type(value).__name__} (only dict keys are read)")

    def _BinOp(self, node: ast.BinOp, local: Mapping[str, Any]) -> Any:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.fail(node, f"operator {type(node.op).__name__} is not supported")
        left, right = self.eval(node.left, local), self.eval(node.right, local)
        if not all(isinstance(v, (int, float, str, tuple, list)) for v in (left, right)):
            raise self.fail(node, "arithmetic on something other than numbers, strings or sequences")
        self._check_size(node, left, right)
        try:
            result = op(left, right)
        except (ArithmeticError, TypeError, ValueError) as e:
            raise self.fail(node, f"{ast.unparse(node)[:60]!r} fails: {type(e).__name__}: {e}") from e
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise self.fail(node, f"the result has more than {MAX_INT_BITS} bits")
        return self.count(node, result) if isinstance(result, (str, list, tuple)) else result

    def _check_size(self, node: ast.BinOp, left: Any, right: Any) -> None:
        """Refuse (before computing) a power or a repetition whose result would be huge."""
        ints = isinstance(left, int) and isinstance(right, int)
        if isinstance(node.op, ast.Pow) and ints and right > 0:
            if abs(left) > 1 and right * abs(left).bit_length() > MAX_INT_BITS + right:
                raise self.fail(node, f"{ast.unparse(node)[:60]!r} would have more than {MAX_INT_BITS} bits")
        if isinstance(node.op, ast.Mult):
            seq, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_ITEMS:
                raise self.fail(node, f"{ast.unparse(node)[:60]!r} would hold more than {MAX_ITEMS} elements")

    def _UnaryOp(self, node: ast.UnaryOp, local: Mapping[str, Any]) -> Any:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise self.fail(node, f"operator {type(node.op).__name__} is not supported")
        operand = self.eval(node.operand, local)
        if not isinstance(operand, (int, float, bool)) and not isinstance(node.op, ast.Not):
            raise self.fail(node, f"unary operator on a {type(operand).__name__}")
        return op(operand)

    def _BoolOp(self, node: ast.BoolOp, local: Mapping[str, Any]) -> Any:
        value: Any = None
        for item in node.values:
            value = self.eval(item, local)
            if bool(value) is isinstance(node.op, ast.Or):
                return value
        return value

    def _Compare(self, node: ast.Compare, local: Mapping[str, Any]) -> bool:
        left = self.eval(node.left, local)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comparator, local)
            try:
                if not _CMPOPS[type(op)](left, right):
                    return False
            except TypeError as e:
                raise self.fail(node, f"comparison fails: {e}") from e
            left = right
        return True

    def _IfExp(self, node: ast.IfExp, local: Mapping[str, Any]) -> Any:
        return self.eval(node.body if self.eval(node.test, local) else node.orelse, local)

    def _Call(self, node: ast.Call, local: Mapping[str, Any]) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name == "__base_ref__" and len(node.args) == 1 and isinstance(node.args[0], ast.Constant):
            return self._base_value(node, str(node.args[0].value))  # a rewritten {{_base_.a.b}}
        if name == "dict" and name not in self.scope:
            if len(node.args) > 1:
                raise self.fail(node, "dict(...) takes at most one positional argument")
            out = self._mapping(node.args[0], local) if node.args else {}
            for kw in node.keywords:
                if kw.arg is None:
                    out.update(self._mapping(kw.value, local))
                else:
                    out[kw.arg] = self.eval(kw.value, local)
            return self.count(node, out)
        if name in ("list", "tuple", "range", "len") and name not in self.scope:
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise self.fail(node, f"{name}(...) takes positional arguments only")
            args = [self.eval(a, local) for a in node.args]
            return self._builtin(node, name, args)
        raise self.fail(node, f"call of {ast.unparse(node.func)!r} (only dict, list, tuple, range and len)")

    def _base_value(self, node: ast.AST, path: str) -> Any:
        value: Any = self.scope.get("_base_", {})
        for part in path.split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise self.fail(node, f"{{{{_base_.{path}}}}}: the _base_ files set no {part!r}")
            value = value[part]
        return value

    def _builtin(self, node: ast.Call, name: str, args: list[Any]) -> Any:
        if name == "range":
            if not 1 <= len(args) <= 3 or not all(isinstance(a, int) for a in args):
                raise self.fail(node, "range(...) takes 1 to 3 integers")
            value = range(*args)
            if len(value) > MAX_ITEMS:
                raise self.fail(node, f"range of more than {MAX_ITEMS} items")
            return value
        if len(args) > 1:
            raise self.fail(node, f"{name}(...) takes one argument")
        if name == "len":
            if len(args) != 1 or not isinstance(args[0], (list, tuple, str, dict, range)):
                raise self.fail(node, "len(...) of something without a length")
            return len(args[0])
        if not args:
            return [] if name == "list" else ()
        if not isinstance(args[0], (list, tuple, str, range, dict)):
            raise self.fail(node, f"{name}(...) of a {type(args[0]).__name__}")
        return self.count(node, list(args[0]) if name == "list" else tuple(args[0]))

    # ---- comprehensions ----

    def _bind(self, target: ast.expr, value: Any, local: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            local[target.id] = value
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            items = list(value) if isinstance(value, (list, tuple)) else None
            if items is None or len(items) != len(target.elts):
                raise self.fail(target, f"cannot unpack {value!r} into {ast.unparse(target)!r}")
            for sub, item in zip(target.elts, items, strict=True):
                self._bind(sub, item, local)
            return
        raise self.fail(target, f"unsupported loop target {ast.unparse(target)!r}")

    def _generate(self, gens: list[ast.comprehension], local: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if not gens:
            yield local
            return
        gen = gens[0]
        if gen.is_async:
            raise self.fail(gen.iter, "async comprehensions are not supported")
        for item in self._iterable(gen.iter, local):
            inner = dict(local)
            self._bind(gen.target, item, inner)
            if all(self.eval(cond, inner) for cond in gen.ifs):
                yield from self._generate(gens[1:], inner)

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp, local: Mapping[str, Any]) -> list[Any]:
        out = []
        for inner in self._generate(node.generators, dict(local)):
            out.append(self.eval(node.elt, inner))
            self.count(node, None)
        return out

    _ListComp = _comprehension
    _GeneratorExp = _comprehension

    def _DictComp(self, node: ast.DictComp, local: Mapping[str, Any]) -> dict[Any, Any]:
        out = {}
        for inner in self._generate(node.generators, dict(local)):
            out[self.eval(node.key, inner)] = self.eval(node.value, inner)
            self.count(node, None)
        return out

    # ---- statements ----

    def run(self, body: list[ast.stmt], local: dict[str, Any] | None = None) -> None:
        """Execute the allowed statements of ``body``, binding names in the file's scope."""
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                value = self.eval(stmt.value, local or {})
                for target in stmt.targets:
                    self._assign(target, value, local)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                self._assign(stmt.target, self.eval(stmt.value, local or {}), local)
            elif isinstance(stmt, ast.Expr):
                self._statement_call(stmt.value, local or {})
            elif isinstance(stmt, ast.For) and not stmt.orelse:
                inner: dict[str, Any] = dict(local or {})
                for item in self._iterable(stmt.iter, inner):
                    self._bind(stmt.target, item, inner)
                    self.run(stmt.body, inner)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self._import(stmt)
            elif isinstance(stmt, ast.Pass):
                continue
            else:
                raise self.fail(stmt, f"unsupported statement {type(stmt).__name__}")

    def _assign(self, target: ast.expr, value: Any, local: dict[str, Any] | None) -> None:
        if local is not None and isinstance(target, ast.Name):
            local[target.id] = value  # a loop body's names live in the loop
            return
        if isinstance(target, ast.Name):
            self.scope[target.id] = value
            self.assigned.add(target.id)
            return
        if isinstance(target, ast.Subscript):
            container = self.eval(target.value, local or {})
            if not isinstance(container, (dict, list)):
                raise self.fail(target, f"item assignment into a {type(container).__name__}")
            container[self.eval(target.slice, local or {})] = value
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            names: dict[str, Any] = {}
            self._bind(target, value, names)
            for name, item in names.items():
                self._assign(ast.Name(id=name), item, local)
            return
        raise self.fail(target, f"unsupported assignment target {ast.unparse(target)!r}")

    def _statement_call(self, node: ast.expr, local: Mapping[str, Any]) -> None:
        if isinstance(node, ast.Constant):
            return  # a docstring
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = self.eval(node.func.value, local)
            method = node.func.attr
            if method == "update" and isinstance(owner, dict):
                for arg in node.args:
                    owner.update(self._mapping(arg, local))
                for kw in node.keywords:
                    if kw.arg is None:
                        owner.update(self._mapping(kw.value, local))
                    else:
                        owner[kw.arg] = self.eval(kw.value, local)
                return
            if method in ("append", "extend") and isinstance(owner, list) and len(node.args) == 1:
                arg = self.eval(node.args[0], local)
                owner.append(arg) if method == "append" else owner.extend(self._iterable(node.args[0], local))
                self.count(node, None)
                return
        raise self.fail(node, f"unsupported statement {ast.unparse(node)[:60]!r} (only dict.update and list.append)")

    def _import(self, stmt: ast.Import | ast.ImportFrom) -> None:
        """``from m import C`` binds ``C`` to ``"C"`` (a component's type name)."""
        if isinstance(stmt, ast.Import):
            raise self.fail(stmt, "'import' of a module (only 'from MODULE import Name' binds type names)")
        for alias in stmt.names:
            if alias.name == "*":
                raise self.fail(stmt, "'from ... import *' outside 'with read_base()'")
            self.scope[alias.asname or alias.name] = alias.name
