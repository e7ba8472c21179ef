"""Reading config files (YAML, TOML, JSON), ``--set a.b=c`` overrides, validation with context."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from posekit.config.schema import Experiment
from posekit.errors import ConfigError

#: entry-point group of readers of other tools' config formats, named by file suffix (``py``):
#: ``read(path, partial: bool) -> experiment mapping`` (``partial``: leave out what does not convert)
FORMATS_GROUP = "posekit.config_formats"

MAX_CONFIG_BYTES = 16 * 2**20  # a config file larger than this is refused unread
MAX_CONFIG_NODES = 200_000  # values after YAML aliases are expanded (an alias bomb expands to billions)
MAX_CONFIG_DEPTH = 64


def check_size(data: Any, source: str) -> None:
    """Refuse a config (from ``source``) whose values, every YAML alias visit counted, exceed the bounds above:
    an alias bomb or a self-referencing list fails after ``MAX_CONFIG_NODES`` steps."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_NODES or depth > MAX_CONFIG_DEPTH:
            what = (
                f"more than {MAX_CONFIG_NODES} values"
                if count > MAX_CONFIG_NODES
                else f"nesting deeper than {MAX_CONFIG_DEPTH}"
            )
            raise ConfigError(
                f"{source}: the config has {what} once its YAML aliases (&anchor / *alias) are expanded; "
                "refused (an alias bomb or a recursive alias?). Write the values out, without nested aliases"
            )
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
            stack.extend((k, depth + 1) for k in node if not isinstance(k, str))
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)


def read_file(path: str | Path, partial: bool = False) -> dict[str, Any]:
    """The raw mapping in a ``.yaml``/``.yml``, ``.toml`` or ``.json`` file, or a plugin-read one (``partial``:
    leave out what does not convert)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size} bytes; a config file is refused above {MAX_CONFIG_BYTES}")
    suffix = path.suffix.lower()
    reader = _format_reader(suffix)
    if reader is not None:
        return dict(reader(path, partial=partial))
    try:
        text = path.read_text(encoding="utf-8")
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(
                f"{path}: unknown config format {suffix!r}; use .yaml, .toml or .json (a plugin can read "
                f"other formats: entry-point group {FORMATS_GROUP!r}, named by suffix)"
            )
    except ConfigError:
        raise
    except Exception as e:  # the parsers' own messages carry line and column
        raise ConfigError(f"{path}: cannot parse: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    check_size(data, str(path))
    return data


def _format_reader(suffix: str) -> Any:
    """The ``posekit.config_formats`` reader of ``suffix`` (None for the core's own formats)."""
    from importlib.metadata import entry_points

    if suffix in (".yaml", ".yml", ".toml", ".json"):
        return None
    for entry in entry_points(group=FORMATS_GROUP, name=suffix.lstrip(".")):
        try:
            return entry.load()
        except Exception as e:
            dist = entry.dist.name if entry.dist is not None else "?"
            raise ConfigError(f"the reader of {suffix} configs ({entry.value}, {dist}) failed to load: {e}") from e
    return None


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML; list items by index)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected KEY.PATH=VALUE")
        parts = key.strip().split(".")
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                node = node[_index(node, part, ".".join(parts[:depth]), item)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                raise ConfigError(f"override {item!r}: {where} is a {type(node).__name__}, not a mapping")
        last = parts[-1]
        value = _parse_value(raw)
        if isinstance(node, list):
            node[_index(node, last, ".".join(parts[:-1]), item)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"override {item!r}: cannot set {last!r} inside a {type(node).__name__}")
    return data


def _index(node: list[Any], part: str, where: str, item: str) -> int:
    try:
        i = int(part)
        node[i]
    except (ValueError, IndexError) as e:
        raise ConfigError(f"override {item!r}: {where} is a list of {len(node)}; {part!r} is not an index") from e
    return i


def validate_experiment(data: Mapping[str, Any], source: str = "<config>") -> Experiment:
    """Validate a raw mapping; errors name the source, the field path and the problem."""
    from pydantic import ValidationError

    try:
        return Experiment.model_validate(dict(data))
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"])
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            lines.append(f"  {loc}: {msg}")
        raise ConfigError(f"{source}: invalid config:\n" + "\n".join(lines)) from e
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from e


def load_config(path: str | Path | Mapping[str, Any] | Experiment, overrides: Iterable[str] = ()) -> Experiment:
    """A validated :class:`Experiment` from a file path, a mapping or an Experiment."""
    if isinstance(path, Experiment):
        if not overrides:
            return path
        data, source = path.model_dump(mode="json"), "<config>"
    elif isinstance(path, Mapping):
        import copy

        data, source = copy.deepcopy(dict(path)), "<config>"
    else:
        data, source = read_file(path), str(path)
    apply_overrides(data, overrides)
    check_size(data, source)
    return validate_experiment(data, source)


def dump_config(cfg: Experiment) -> str:
    """The resolved config (defaults included) as YAML."""
    import yaml

    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
