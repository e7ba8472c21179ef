"""The component registry: entry-point metadata listed, a module imported on first build, a config
validated against a pydantic model of the constructor's signature. Components are found by registered
name only. Switches: ``POSEKIT_LOAD_PLUGINS=dist-a,dist-b`` (only these and the core),
``POSEKIT_DISABLE_PLUGINS``, ``POSEKIT_STRICT_PLUGINS=1`` (failures are errors), ``POSEKIT_PLUGINS_DIR``
(:mod:`posekit.plugins_dir`); an unknown name a filtered or skipped distribution registers says so."""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import typing
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from posekit.errors import ConfigError, DuplicateComponentError, PluginLoadError, PosekitError, UnknownComponentError
from posekit.shipped import install_hint

#: kind -> entry-point group
GROUPS: dict[str, str] = {
    "backbone": "posekit.backbones",
    "neck": "posekit.necks",
    "head": "posekit.heads",
    "codec": "posekit.codecs",
    "loss": "posekit.losses",
    "data_preprocessor": "posekit.data_preprocessors",
    "estimator": "posekit.estimators",
    "dataset": "posekit.datasets",
    "transform": "posekit.transforms",
    "metric": "posekit.metrics",
    "metainfo": "posekit.metainfo",
    "detector": "posekit.detectors",
    "synthesizer": "posekit.synthesizers",
    "optim_constructor": "posekit.optim_constructors",
    "lr_phase": "posekit.lr_phases",
    "backend": "posekit.backends",
    "serving": "posekit.servings",
}
HOOKS_GROUP = "posekit.hooks"
CORE_DIST = "posekit"
#: config keys that MMPose writes and posekit ignores
IGNORED_KEYS = frozenset({"_scope_"})


@dataclass(frozen=True)
class Entry:
    """One registered component: where it lives and who ships it."""

    kind: str
    name: str
    value: str  # "module:attr"
    dist: str
    version: str

    @property
    def qualified(self) -> str:
        return f"{self.dist}:{self.name}"

    def load(self) -> Any:
        """Import the component's module and return the object; errors name the plugin."""
        module_name, _, attr = self.value.partition(":")
        try:
            import importlib

            obj: Any = importlib.import_module(module_name)
            for part in attr.split(".") if attr else ():
                obj = getattr(obj, part)
        except Exception as e:
            raise PluginLoadError(
                f"plugin {self.dist} {self.version}: entry point {self.name} = {self.value} "
                f"(group {GROUPS.get(self.kind, self.kind)}) failed to load: {type(e).__name__}: {e}"
            ) from e
        return obj


@dataclass(frozen=True)
class Problem:
    """A distribution or entry point that was skipped, for ``posekit plugins``."""

    dist: str
    version: str
    kind: str
    name: str
    error: str


def _env_set(var: str) -> set[str] | None:
    raw = os.environ.get(var, "").strip()
    return {_norm(x) for x in raw.split(",") if x.strip()} if raw else None


def _norm(dist: str) -> str:
    return dist.strip().lower().replace("_", "-").replace(".", "-")


def strict() -> bool:
    return os.environ.get("POSEKIT_STRICT_PLUGINS", "") not in ("", "0")


def _incompatible(dist: Any, core_version: str | None) -> str | None:
    """Why ``dist`` cannot run with the installed core, or None."""
    if core_version is None or _norm(dist.metadata["Name"]) == CORE_DIST:
        return None
    from packaging.requirements import InvalidRequirement, Requirement

    for line in dist.requires or ():
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if _norm(req.name) == CORE_DIST and (req.marker is None or req.marker.evaluate({"extra": ""})):
            if req.specifier and not req.specifier.contains(core_version, prereleases=True):
                return f"requires posekit{req.specifier} but posekit {core_version} is installed"
    return None


def _filtered(dist: str) -> str | None:
    """Why the environment switches leave ``dist`` out, or None."""
    d = _norm(dist)
    deny = _env_set("POSEKIT_DISABLE_PLUGINS")
    if deny and d in deny:
        return f"filtered: listed in POSEKIT_DISABLE_PLUGINS={os.environ['POSEKIT_DISABLE_PLUGINS']}"
    allow = _env_set("POSEKIT_LOAD_PLUGINS")
    if allow is not None and d not in allow and d != CORE_DIST:
        return f"filtered: not listed in POSEKIT_LOAD_PLUGINS={os.environ['POSEKIT_LOAD_PLUGINS']}"
    return None


@dataclass(frozen=True)
class Scan:
    """What reading the installed metadata found."""

    entries: tuple[Entry, ...]
    problems: tuple[Problem, ...]  # distributions that cannot be used (e.g. an incompatible core)
    skipped: tuple[tuple[Entry, str], ...]  # entries left out, with the reason


@functools.cache
def _scan() -> Scan:
    """Read every installed distribution's posekit entry points (metadata only)."""
    from importlib import metadata

    groups = {g: k for k, g in GROUPS.items()}
    groups[HOOKS_GROUP] = "hook"
    try:
        core_version: str | None = metadata.version(CORE_DIST)
    except metadata.PackageNotFoundError:
        core_version = None
    found: list[Entry] = []
    problems: list[Problem] = []
    skipped: list[tuple[Entry, str]] = []
    seen: set[str] = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or _norm(name) in seen:
            continue
        eps = [ep for ep in dist.entry_points if ep.group in groups]
        if not eps:
            continue
        seen.add(_norm(name))
        version = dist.version
        dist_entries = [Entry(groups[ep.group], ep.name, ep.value, name, version) for ep in eps]
        why = _filtered(name)
        if why is None:
            why = _incompatible(dist, core_version)
            if why:
                why = f"skipped: {why}"
                problems.append(Problem(name, version, "*", "*", why))
        if why:
            skipped.extend((e, why) for e in dist_entries)
            continue
        found.extend(dist_entries)
    folder = os.environ.get("POSEKIT_PLUGINS_DIR", "").strip()
    if folder:
        from posekit.plugins_dir import scan_folder

        local, local_problems = scan_folder(folder)
        found.extend(local)
        problems.extend(local_problems)
    return Scan(tuple(found), tuple(problems), tuple(skipped))


def refresh() -> None:
    """Forget what was read (after installing or removing a plugin in this process)."""
    _scan.cache_clear()
    load_entry.cache_clear()
    _signature_model.cache_clear()
    from importlib import invalidate_caches

    invalidate_caches()


def entries(kind: str | None = None) -> list[Entry]:
    """Registered entries, optionally of one kind (``"hook"`` for hook plugins)."""
    if kind is not None and kind not in GROUPS and kind != "hook":
        raise UnknownComponentError(f"unknown component kind {kind!r}; kinds are: {', '.join(GROUPS)}")
    return [e for e in _scan().entries if kind is None or e.kind == kind]


def skipped() -> list[tuple[Entry, str]]:
    """Entries of filtered (``POSEKIT_LOAD_PLUGINS``/``POSEKIT_DISABLE_PLUGINS``) or skipped distributions."""
    return list(_scan().skipped)


def problems() -> list[Problem]:
    """Distributions skipped while scanning, plus entry points that failed to load so far."""
    return list(_scan().problems) + list(_failures.values())


def _module_found(module: str) -> bool:
    """Whether ``module`` (``a.b.c``) can be found, without running any package's ``__init__``."""
    from importlib.machinery import PathFinder
    from importlib.util import find_spec

    parts = module.split(".")
    spec = find_spec(parts[0])
    for i in range(1, len(parts)):
        if spec is None or spec.submodule_search_locations is None:
            return False
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), list(spec.submodule_search_locations))
    return spec is not None


def missing_modules() -> list[Problem]:
    """Entries whose module cannot be found (an uninstalled or moved package); imports nothing."""
    return [
        Problem(e.dist, e.version, e.kind, e.name, f"{e.value}: module not found; re-install {e.dist}")
        for e in entries()
        if e.dist != "plugins-dir" and not _module_found(e.value.partition(":")[0])
    ]


_failures: dict[tuple[str, str, str], Problem] = {}


def list_components(kind: str | None = None) -> dict[str, list[str]]:
    """``{kind: [name, ...]}`` of every registered component (reads metadata only)."""
    return {k: sorted({e.name for e in entries(k)}) for k in ([kind] if kind is not None else GROUPS)}


def resolve(kind: str, name: str) -> Entry:
    """The entry for ``name`` (or ``dist-name:Name``) of ``kind``; errors list alternatives."""
    if not isinstance(name, str):
        raise ConfigError(f"{kind} 'type' must be a registered name (a string), got {type(name).__name__}")
    dist, sep, short = name.rpartition(":")
    pool = entries(kind)
    matches = [e for e in pool if e.name == short and (not sep or _norm(e.dist) == _norm(dist))]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        dists = ", ".join(f"{e.dist} {e.version} ({e.value})" for e in matches)
        raise DuplicateComponentError(
            f"{kind} {short!r} is registered by more than one distribution: {dists}. "
            f"Pick one explicitly with type: {' or '.join(repr(e.qualified) for e in matches)}, or uninstall one."
        )
    hint = " Components are built by registered name only, never by import path." if "." in name and not sep else ""
    names = sorted({e.name for e in pool})
    close = difflib.get_close_matches(short, names, n=3, cutoff=0.6)
    msg = f"unknown {kind} {name!r}.{hint}"
    left_out = [(e, why) for e, why in skipped() if e.kind == kind and e.name == short]
    msg += "".join(f" {e.dist} {e.version} registers it but was {why}." for e, why in left_out)
    if close:
        msg += f" Did you mean: {', '.join(close)}?"
    msg += f" Installed {kind} names: {', '.join(names) if names else '(none)'}."
    msg += f" A plugin registers one under the entry-point group {GROUPS[kind]!r}; `posekit plugins` lists them."
    raise UnknownComponentError(msg + install_hint(kind, short))


def record_failure(entry: Entry, message: str) -> None:
    """Remember a failed entry point so ``posekit plugins`` can show it."""
    _failures[(entry.kind, entry.name, entry.dist)] = Problem(
        entry.dist, entry.version, entry.kind, entry.name, message
    )


@functools.cache
def load_entry(entry: Entry) -> Any:
    """``entry.load()`` once per process; a failure is remembered for ``posekit plugins``."""
    try:
        return entry.load()
    except PluginLoadError as e:
        record_failure(entry, str(e))
        raise


def get(kind: str, name: str) -> Any:
    """The registered class (or object) for ``name``; imports its module on first use."""
    return load_entry(resolve(kind, name))


def _split(kind: str, cfg: Mapping[str, Any] | str) -> tuple[str, dict[str, Any]]:
    if isinstance(cfg, str):
        return cfg, {}
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"a {kind} config must be a mapping with a 'type' key, got {type(cfg).__name__}")
    if "type" not in cfg:
        raise ConfigError(f"a {kind} config needs a 'type' key naming a registered {kind}; got keys {sorted(cfg)}")
    args = {k: v for k, v in cfg.items() if k != "type" and k not in IGNORED_KEYS}
    return cfg["type"], args


def _constructor_fields(obj: Any) -> tuple[dict[str, Any], bool]:
    """``({name: (annotation, default)}, takes_any)`` of ``obj``'s keyword constructor; ``**kwargs`` adds its
    base's parameters (minus its class attribute ``fixed_arguments``), takes any only over an untyped base."""
    from types import MappingProxyType

    from pydantic import BaseModel, Field

    if inspect.isclass(obj) and issubclass(obj, BaseModel):  # a pydantic model: its fields are its arguments
        return {name: (f.annotation, f) for name, f in obj.model_fields.items()}, False
    target = obj.__init__ if inspect.isclass(obj) else obj
    sig = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:
        hints = {}
    fields: dict[str, Any] = {}
    takes_any = False
    for i, (pname, p) in enumerate(sig.parameters.items()):
        if i == 0 and inspect.isclass(obj) and pname == "self":
            continue
        if p.kind is p.VAR_KEYWORD:
            base = _base_constructor(obj) if inspect.isclass(obj) else None
            if base is None:
                takes_any = True
            else:
                inherited, takes_any = _constructor_fields(base)
                fixed = getattr(obj, "fixed_arguments", {})
                fields = {**{k: v for k, v in inherited.items() if k not in fixed}, **fields}
            continue
        if p.kind is p.VAR_POSITIONAL:
            continue
        ann = hints.get(pname, Any)
        if p.default is p.empty:
            fields[pname] = (ann, ...)
        elif isinstance(p.default, MappingProxyType):  # an immutable mapping default: copy it per build
            fields[pname] = (ann, Field(default_factory=functools.partial(dict, p.default)))
        else:
            fields[pname] = (ann, p.default)
    return fields, takes_any


def constructor_fields(obj: Any) -> dict[str, Any]:
    """``{name: (annotation, default)}`` of the arguments ``obj``'s constructor accepts (``**kwargs`` followed)."""
    return _constructor_fields(obj)[0]


def _base_constructor(cls: type) -> type | None:
    """The nearest base class of ``cls`` defining ``__init__``; None when that one is untyped (torch's, object's)."""
    base = next((c for c in cls.__mro__[1:] if "__init__" in vars(c)), object)
    return None if base is object or base.__module__.startswith("torch.") else base


@functools.cache
def _signature_model(obj: Any) -> Any:
    """A pydantic model of ``obj``'s keyword constructor (see :func:`_constructor_fields`)."""
    from pydantic import ConfigDict, create_model

    fields, takes_any = _constructor_fields(obj)
    name = getattr(obj, "__name__", "Component")
    cfg = ConfigDict(extra="allow" if takes_any else "forbid", arbitrary_types_allowed=True, protected_namespaces=())
    return create_model(f"{name}Config", __config__=cfg, **fields)


def _short_repr(value: Any) -> str:
    """``repr(value)`` cut to a few items per level and 200 characters, without expanding the rest."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxdict, short.maxlist, short.maxtuple, short.maxstring = 3, 6, 6, 6, 80
    text = short.repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _format_errors(kind: str, name: str, exc: Any, where: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        path = f"{where}.{loc}" if where else loc
        if err["type"] == "extra_forbidden":
            lines.append(f"  {path}: unexpected argument of {kind} {name}")
        elif err["type"] == "missing":
            lines.append(f"  {path}: required argument of {kind} {name} is missing")
        elif err["type"] == "value_error":  # a nested component's own, already complete message
            lines.append(f"  {path}: {err['msg'].removeprefix('Value error, ')}")
        else:
            got = _short_repr(err.get("input"))
            lines.append(f"  {path}: {err['msg']} (got {got})")
    return "\n".join(lines)


def validate(kind: str, cfg: Mapping[str, Any] | str, where: str = "") -> dict[str, Any]:
    """The validated kwargs of ``cfg`` (imports the component's module, builds nothing); a
    :class:`ConfigError` names the component, the field path and the expectation."""
    from pydantic import ValidationError

    name, args = _split(kind, cfg)
    obj = get(kind, name)
    model = _signature_model(obj)
    try:
        validated = model.model_validate(args)
    except ValidationError as e:
        accepted = ", ".join(n for n in model.model_fields) or "(none)"
        raise ConfigError(
            f"invalid arguments for {kind} {name}{f' at {where}' if where else ''}:\n"
            f"{_format_errors(kind, name, e, where)}\n  {name} accepts: {accepted}"
        ) from e
    return {k: getattr(validated, k) for k in args}


def validate_nested(kind: str, cfg: Mapping[str, Any] | str) -> None:
    """:func:`validate` inside a pydantic validator: every failure is a ``ConfigError`` (a ``ValueError``,
    which pydantic reports with its field path)."""
    try:
        validate(kind, cfg)
    except ConfigError:
        raise
    except PosekitError as e:
        raise ConfigError(str(e)) from e


def build(kind: str, cfg: Mapping[str, Any] | str | Any, where: str = "") -> Any:
    """Build a component of ``kind`` from ``{"type": Name, **kwargs}`` (validated first); an object
    already built (not a mapping or a name) is returned unchanged."""
    if not isinstance(cfg, (Mapping, str)):
        return cfg
    args = validate(kind, cfg, where)
    name = cfg if isinstance(cfg, str) else cfg["type"]
    obj = get(kind, name)
    if not callable(obj):
        return obj
    try:
        built = obj(**args)
    except (ValueError, TypeError, RuntimeError) as e:  # torch's refusal of e.g. a negative kernel size
        if isinstance(e, PosekitError):
            raise
        raise ConfigError(
            f"{kind} {name}{f' at {where}' if where else ''} cannot be built from its arguments: "
            f"{type(e).__name__}: {str(e)[:300]}"
        ) from e
    try:
        _BUILT_FROM[built] = {"type": cfg} if isinstance(cfg, str) else dict(cfg)
    except TypeError:  # not weakly referenceable or unhashable: its config is not kept
        pass
    return built


#: the config each component was built from, while the component lives
_BUILT_FROM: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def config_of(component: Any) -> dict[str, Any] | None:
    """The config :func:`build` made ``component`` from (``{"type": Name, **kwargs}``); None if not built by it."""
    try:
        return _BUILT_FROM.get(component)
    except TypeError:
        return None
