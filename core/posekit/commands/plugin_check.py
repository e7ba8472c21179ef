"""``posekit plugins --check``: import every plugin, build what can be built, run quick checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from posekit.registry import GROUPS, Entry, entries, get

#: kinds whose construction reads user files (annotations, models): imported, not built
_FILE_KINDS = frozenset({"dataset", "detector"})


def _default_check(entry: Entry) -> str:
    """Import the component and build and probe it with its ``example_config`` or its defaults.

    A component may declare ``example_config: ClassVar[dict]``, the keyword arguments of a
    small working instance; without one, it is built only when no argument is required.
    """
    import inspect

    from posekit.registry import _signature_model
    from posekit.testing import conformance

    obj = get(entry.kind, entry.name)
    if not inspect.isclass(obj) or entry.kind in _FILE_KINDS:
        return "ok (imported)"
    example = dict(getattr(obj, "example_config", {}) or {})
    model = _signature_model(obj)
    required = [n for n, f in model.model_fields.items() if f.is_required() and n not in example]
    if required:
        return f"ok (imported; needs {', '.join(required)} to build)"
    cfg = {"type": entry.qualified, **example}
    checks: dict[str, Callable[..., Any]] = {
        "backbone": lambda: conformance.check_backbone(cfg, input_shape=(1, 3, 64, 64)),
        "codec": lambda: conformance.check_codec(cfg),
    }
    if entry.kind in checks:
        checks[entry.kind]()
        return "ok (conformance)"
    from posekit.registry import build

    build(entry.kind, cfg)
    return "ok (built with defaults)"


def run_checks() -> int:
    """Print one row per component: ok / failed with the reason. Returns 1 if any failed."""
    rows: list[tuple[Entry, bool, str]] = []
    for kind in GROUPS:
        for entry in entries(kind):
            try:
                rows.append((entry, True, _default_check(entry)))
            except Exception as e:  # report and go on: one broken plugin must not hide the others
                rows.append((entry, False, f"{type(e).__name__}: {e}".splitlines()[0][:160]))
    width = max((len(e.name) for e, _, _ in rows), default=4)
    for entry, ok, note in rows:
        print(f"{'ok    ' if ok else 'FAILED'}  {entry.kind:<17} {entry.name:<{width}}  {entry.dist:<20} {note}")
    failed = sum(not ok for _, ok, _ in rows)
    print(f"\n{len(rows) - failed} ok, {failed} failed")
    return 1 if failed else 0
