"""Head attributes the mode-switch hooks set: dotted paths resolved under ``model.head``, errors naming both."""

from __future__ import annotations

from typing import Any

from posekit.errors import ConfigError

_UNSET = object()


def head_of(trainer: Any, hook: str) -> Any:
    """``trainer.model.head``; an error naming hook ``hook`` when the model has none."""
    head = getattr(trainer.model, "head", None)
    if head is None:
        raise ConfigError(f"hooks.{hook}: the model ({type(trainer.model).__name__}) has no head to switch")
    return head


def resolve(head: Any, path: str, hook: str) -> tuple[Any, str]:
    """(object, attribute name) of the dotted ``path`` under ``head``; an error naming both when it is missing."""
    *parents, name = path.split(".")
    obj = head
    for part in [*parents, name]:
        owner, obj = obj, getattr(obj, part, _UNSET)
        if obj is _UNSET:
            raise ConfigError(
                f"hooks.{hook}: model.head ({type(head).__name__}) has no attribute {path!r} "
                f"({type(owner).__name__} has no {part!r})"
            )
    return owner, name
