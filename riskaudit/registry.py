"""Find checkers through the ``riskaudit.checks`` entry-point group.

Built-in checkers are registered in riskaudit's own ``pyproject.toml`` under that group,
exactly like third-party plugins; nothing is registered as an import side effect.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib import metadata
from typing import Iterable, Iterator, Mapping

from riskaudit.checks.base import Checker, Kind, Need, Option
from riskaudit.errors import PluginError

ENTRY_POINT_GROUP = "riskaudit.checks"
_ID_OK = set("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class PluginInfo:
    """A loaded checker class and where it came from."""

    checker: type[Checker]
    source: str
    """``distribution==version`` that registered it, or ``<local>`` for classes passed in."""
    entry_point: str


class Registry:
    """An immutable collection of checker classes keyed by id."""

    def __init__(self, plugins: Iterable[PluginInfo]):
        by_id: dict[str, PluginInfo] = {}
        for info in plugins:
            cid = info.checker.id
            if cid in by_id:
                raise PluginError(
                    f"checker id {cid!r} is registered twice: by {by_id[cid].source} "
                    f"({by_id[cid].entry_point}) and by {info.source} ({info.entry_point})")
            by_id[cid] = info
        self._plugins = dict(sorted(by_id.items(), key=lambda kv: (kv[1].checker.priority, kv[0])))

    @classmethod
    def from_classes(cls, classes: Iterable[type[Checker]]) -> Registry:
        """A registry of the given classes (tests, notebooks)."""
        infos = []
        for c in classes:
            validate_checker_class(c, f"{c.__module__}:{c.__qualname__}")
            infos.append(PluginInfo(c, "<local>", f"{c.__module__}:{c.__qualname__}"))
        return cls(infos)

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> Registry:
        """Load every checker registered under ``group``; a broken plugin raises PluginError."""
        infos = []
        sources: dict[object, str] = {}  # a distribution's metadata is parsed once, not per checker
        for ep in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            source = "<unknown>"
            if dist is not None:
                where_from = getattr(dist, "_path", None) or id(dist)
                if where_from not in sources:
                    meta = dist.metadata
                    sources[where_from] = f"{meta['Name']}=={meta['Version']}"
                source = sources[where_from]
            where = f"entry point {ep.name!r} = {ep.value!r} of {source}"
            try:
                obj = ep.load()
            except Exception as exc:  # a plugin's import error names the plugin
                raise PluginError(f"cannot load checker plugin {where}: "
                                  f"{type(exc).__name__}: {exc}") from exc
            validate_checker_class(obj, where)
            if obj.id != ep.name:
                raise PluginError(f"{where}: the entry-point name must equal the checker's id "
                                  f"{obj.id!r}")
            infos.append(PluginInfo(obj, source, ep.value))
        # Duplicate registrations of the same class by the same distribution (an editable
        # install seen twice on sys.path) are collapsed; different classes still collide.
        unique: dict[tuple, PluginInfo] = {}
        for info in infos:
            unique.setdefault((info.checker.id, info.entry_point, info.source), info)
        return cls(unique.values())

    def __iter__(self) -> Iterator[type[Checker]]:
        return (p.checker for p in self._plugins.values())

    def __len__(self) -> int:
        return len(self._plugins)

    def __contains__(self, cid: str) -> bool:
        return cid in self._plugins

    def __getitem__(self, cid: str) -> type[Checker]:
        return self._plugins[cid].checker

    def info(self, cid: str) -> PluginInfo:
        return self._plugins[cid]

    @property
    def ids(self) -> list[str]:
        return list(self._plugins)


def validate_checker_class(obj: object, where: str) -> None:
    """Raise PluginError naming ``where`` unless ``obj`` is a well-formed Checker subclass."""
    if not (inspect.isclass(obj) and issubclass(obj, Checker)):
        raise PluginError(f"{where} is not a subclass of riskaudit.checks.base.Checker")
    if inspect.isabstract(obj):
        raise PluginError(f"{where}: checker class {obj.__name__} does not implement run()")
    cid = getattr(obj, "id", None)
    if not isinstance(cid, str) or not cid or not set(cid) <= _ID_OK or cid[0].isdigit():
        raise PluginError(f"{where}: checker id must be a lower-case identifier, got {cid!r}")
    if not isinstance(getattr(obj, "description", None), str) or not obj.description.strip():
        raise PluginError(f"{where}: checker {cid!r} needs a one-line description")
    if not all(isinstance(n, Need) for n in obj.needs):
        raise PluginError(f"{where}: checker {cid!r} needs must be a set of riskaudit Need values")
    for name, opt in obj.options.items():
        if not isinstance(opt, Option):
            raise PluginError(f"{where}: option {name!r} of checker {cid!r} is not an Option")
    if not isinstance(obj.kinds, Mapping) or not obj.kinds:
        raise PluginError(f"{where}: checker {cid!r} declares no finding kinds")
    for name, kind in obj.kinds.items():
        if not isinstance(kind, Kind):
            raise PluginError(f"{where}: kind {name!r} of checker {cid!r} is not a Kind")
