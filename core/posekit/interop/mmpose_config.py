"""MMPose model configs (``model = dict(...)`` in a ``.py`` file, or JSON) to posekit experiments.

A ``.py`` config is parsed with :mod:`ast` and never executed: the value of its top-level
``model = ...`` is evaluated from literals, ``dict(...)``/``list(...)``/``tuple(...)`` calls,
names bound by simple top-level assignments in the same file (``codec = dict(...)``,
``input_size = (192, 256)``), subscripts of those (``codec['input_size']``), arithmetic on
numbers and strings, and single-loop comprehensions over literals
(``tuple([s // 32 for s in codec['input_size']])``). Anything else is an error naming the line.
"""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from posekit.errors import ConfigError, UnknownComponentError

#: MMPose dataset class -> posekit keypoint definition name
DATASET_METAINFO: dict[str, str] = {
    "CocoDataset": "coco",
    "MpiiDataset": "mpii",
    "Human36mDataset": "h36m",
    "AP10KDataset": "ap10k",
    "OneHand10KDataset": "onehand10k",
    "WFLWDataset": "wflw",
    "CrowdPoseDataset": "crowdpose",
}

#: model-dict keys whose ``{"type": ...}`` value is a registered component, and its kind
_COMPONENT_KEYS: dict[str, str] = {
    "backbone": "backbone",
    "neck": "neck",
    "head": "head",
    "decoder": "codec",
    "encoder": "codec",
    "data_preprocessor": "data_preprocessor",
}

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_CALLS: dict[str, Callable[..., Any]] = {"dict": dict, "list": list, "tuple": tuple}


class _Evaluator:
    """Evaluates the whitelisted expression subset against the file's top-level assignments."""

    def __init__(self, assignments: dict[str, ast.expr], source: str) -> None:
        self.assignments = assignments
        self.source = source
        self.cache: dict[str, Any] = {}
        self.resolving: list[str] = []

    def fail(self, node: ast.AST, what: str) -> ConfigError:
        line = getattr(node, "lineno", "?")
        return ConfigError(
            f"{self.source}:{line}: {what}; posekit reads MMPose .py configs without running them "
            "(literals, dict(...), names assigned at the top level, subscripts, arithmetic and simple "
            "comprehensions only): write the value out, or give the model dict as JSON"
        )

    def name(self, node: ast.Name, scope: Mapping[str, Any]) -> Any:
        if node.id in scope:
            return scope[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        if node.id in self.cache:
            return self.cache[node.id]
        if node.id not in self.assignments:
            raise self.fail(node, f"name {node.id!r} is not assigned at the top level of the file")
        if node.id in self.resolving:
            raise self.fail(node, f"name {node.id!r} refers to itself")
        self.resolving.append(node.id)
        value = self.eval(self.assignments[node.id], {})
        self.resolving.pop()
        self.cache[node.id] = value
        return value

    def eval(self, node: ast.expr, scope: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node, scope)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.eval(e, scope) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise self.fail(node, "'**' unpacking in a dict literal is not supported")
            return {self.eval(k, scope): self.eval(v, scope) for k, v in zip(node.keys, node.values, strict=True)}
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        if isinstance(node, ast.Subscript):
            container = self.eval(node.value, scope)
            key = self.eval(node.slice, scope)
            try:
                return container[key]
            except (KeyError, IndexError, TypeError) as e:
                raise self.fail(node, f"subscript [{key!r}] fails: {type(e).__name__}: {e}") from e
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.eval(node.left, scope), self.eval(node.right, scope)
            if not all(isinstance(v, (int, float, str, tuple, list)) for v in (left, right)):
                raise self.fail(node, "arithmetic on something other than numbers, strings or sequences")
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.eval(node.operand, scope))
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self.comprehension(node, scope)
        raise self.fail(node, f"unsupported expression {type(node).__name__} ({ast.unparse(node)[:60]!r})")

    def call(self, node: ast.Call, scope: Mapping[str, Any]) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in _CALLS:
            raise self.fail(node, f"call of {ast.unparse(node.func)!r} (only dict, list and tuple are evaluated)")
        fn = _CALLS[node.func.id]
        if fn is dict:
            if node.args or any(k.arg is None for k in node.keywords):
                raise self.fail(node, "dict(...) with positional arguments or '**' unpacking is not supported")
            return {k.arg: self.eval(k.value, scope) for k in node.keywords}
        if node.keywords or len(node.args) > 1:
            raise self.fail(node, f"{node.func.id}(...) takes one positional argument here")
        return fn(self.eval(node.args[0], scope)) if node.args else fn()

    def comprehension(self, node: ast.ListComp | ast.GeneratorExp, scope: Mapping[str, Any]) -> list[Any]:
        if len(node.generators) != 1:
            raise self.fail(node, "comprehensions with more than one 'for' are not supported")
        gen = node.generators[0]
        if gen.ifs or gen.is_async or not isinstance(gen.target, ast.Name):
            raise self.fail(node, "only 'for NAME in ITERABLE' comprehensions without conditions are supported")
        iterable = self.eval(gen.iter, scope)
        if not isinstance(iterable, (list, tuple)):
            raise self.fail(node, "a comprehension must iterate over a list or tuple")
        return [self.eval(node.elt, {**scope, gen.target.id: item}) for item in iterable]


def parse_python_config(text: str, source: str = "<config>") -> dict[str, Any]:
    """The top-level names of an MMPose ``.py`` config needed for ``model`` (and ``dataset_type``).

    Returns ``{"model": {...}}`` plus ``dataset_type`` when the file assigns a string to it.
    """
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as e:
        raise ConfigError(f"{source}:{e.lineno}: not valid Python: {e.msg}") from e
    assignments: dict[str, ast.expr] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            assignments[stmt.targets[0].id] = stmt.value
    if "model" not in assignments:
        base = (
            " (it may come from a _base_ file: posekit does not follow _base_ inheritance)"
            if "_base_" in assignments
            else ""
        )
        raise ConfigError(f"{source}: no top-level 'model = dict(...)' assignment{base}")
    ev = _Evaluator(assignments, source)
    out: dict[str, Any] = {"model": ev.eval(assignments["model"], {})}
    if "dataset_type" in assignments:
        dataset_type = ev.eval(assignments["dataset_type"], {})
        if isinstance(dataset_type, str):
            out["dataset_type"] = dataset_type
    if not isinstance(out["model"], dict):
        raise ConfigError(f"{source}: 'model' must be a dict, got {type(out['model']).__name__}")
    return out


def read_mmpose_config(path: str | Path) -> dict[str, Any]:
    """Read an MMPose model config file: ``.py`` (parsed, never run) or ``.json``.

    A JSON file holds the bare model dict (with a ``type`` key) or ``{"model": {...}}``.
    Returns ``{"model": {...}}`` and, when known, ``dataset_type``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: MMPose config file not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return parse_python_config(text, str(path))
    if path.suffix != ".json":
        raise ConfigError(f"{path}: expected an MMPose .py config or a .json model dict, got {path.suffix!r}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the JSON top level must be an object, got {type(data).__name__}")
    if "type" in data:
        return {"model": data}
    if isinstance(data.get("model"), dict):
        return {k: data[k] for k in ("model", "dataset_type") if k in data}
    raise ConfigError(f"{path}: expected a model dict (with 'type') or an object with a 'model' dict")


def clean_model_dict(model: Mapping[str, Any], drop_pretrained: bool = False) -> dict[str, Any]:
    """A plain copy of an MMPose model dict: ``_scope_`` keys dropped, tuples as lists.

    Args:
        model: the model dict (nested dicts, lists and tuples).
        drop_pretrained: also drop ``init_cfg=dict(type='Pretrained', ...)`` (weights come from
            a checkpoint; MMPose's ``init_model`` never applies init_cfg either). Default False.
    """

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            out = {}
            for k, v in value.items():
                if k == "_scope_":
                    continue
                if drop_pretrained and k == "init_cfg" and _is_pretrained(v):
                    continue
                out[str(k)] = clean(v)
            return out
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return clean(model)


def _is_pretrained(init_cfg: Any) -> bool:
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(c, Mapping) and c.get("type") == "Pretrained" for c in items)


def check_components(model: Mapping[str, Any], source: str = "<config>") -> None:
    """Raise :class:`ConfigError` naming every component of ``model`` that posekit lacks.

    Walks the estimator, backbone, neck, head, codecs, losses and data preprocessor; each
    unknown name is reported with its field path and the installed names of that kind.
    """
    from posekit.registry import resolve

    missing: list[str] = []

    def check(kind: str, cfg: Mapping[str, Any], path: str) -> None:
        try:
            resolve(kind, cfg["type"])
        except (UnknownComponentError, ConfigError) as e:
            missing.append(f"  {path}: {kind} {cfg['type']!r} — {e}")

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                sub = f"{path}.{key}"
                kind = _COMPONENT_KEYS.get(str(key)) or ("loss" if "loss" in str(key) else None)
                if kind is not None and isinstance(value, Mapping) and "type" in value:
                    check(kind, value, sub)
                walk(value, sub)
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    if "type" not in model:
        raise ConfigError(f"{source}: the model dict has no 'type' (expected e.g. 'TopdownPoseEstimator')")
    check("estimator", model, "model")
    walk(model, "model")
    if missing:
        raise ConfigError(
            f"{source}: posekit has no component for:\n" + "\n".join(missing) + "\n  Install the plugin that "
            "provides it (`posekit plugins` lists what is installed), or change the config."
        )


def to_experiment(parsed: Mapping[str, Any], source: str = "<config>") -> dict[str, Any]:
    """A posekit experiment mapping (``model``, and ``metainfo`` when the dataset is known), validated.

    Args:
        parsed: ``{"model": {...}}`` as :func:`read_mmpose_config` returns it, optionally with
            ``dataset_type``.
        source: the file name used in error messages.
    """
    from posekit.config import validate_experiment

    model = clean_model_dict(parsed["model"])
    check_components(model, source)
    experiment: dict[str, Any] = {"model": model}
    metainfo = DATASET_METAINFO.get(str(parsed.get("dataset_type", "")))
    if metainfo is not None:
        experiment["metainfo"] = metainfo
    validate_experiment(experiment, source)
    return experiment


def convert_mmpose_config(path: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the posekit experiment YAML of an MMPose model config; returns the experiment mapping.

    Args:
        path: the MMPose ``.py`` config or ``.json`` model dict.
        out: the YAML file to write (its folder is created).
    """
    import yaml

    experiment = to_experiment(read_mmpose_config(path), str(path))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# posekit experiment converted from the MMPose config {Path(path).name}\n"
    out.write_text(header + yaml.safe_dump(experiment, sort_keys=False), encoding="utf-8")
    return experiment
