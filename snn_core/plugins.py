"""Plugin discovery and the name -> class registries.

Plugins are modules named by entry points in the ``snn_core`` group. Each is imported on
its own: one that fails to import (or registers a broken hook) is recorded with its error,
listed as broken by ``snn plugins list``, and only fails a run that asks for it.

``SNN_LOAD_PLUGINS=a,b`` loads only the entry points named ``a`` and ``b`` (an empty
value loads none); ``SNN_DISABLE_PLUGINS=a,b`` loads all but those.
"""

from __future__ import annotations

import difflib
import os
import traceback
from collections.abc import Mapping
from importlib import metadata
from types import ModuleType
from typing import Any

import attrs
import pluggy

from snn_core import hookspecs
from snn_core.errors import BrokenPluginError, PluginConflictError, UnknownPluginError
from snn_core.interfaces import KINDS, Plugin

ENTRY_POINT_GROUP = "snn_core"

#: Registration hook of each kind.
REGISTER_HOOKS = {
    "parser": "snn_register_parsers",
    "code": "snn_register_codes",
    "dataset": "snn_register_datasets",
    "normalizer": "snn_register_normalizers",
    "simulator": "snn_register_simulators",
}

#: Short kind names used in distribution names: ``snn-<short>-<name>``.
DIST_PREFIX = {
    "parser": "parser",
    "code": "code",
    "dataset": "dataset",
    "normalizer": "normalizer",
    "simulator": "sim",
}


def distribution_for(kind: str, name: str) -> str:
    """The conventional distribution name of plugin ``name`` of ``kind``."""
    return f"snn-{DIST_PREFIX[kind]}-{name.replace('_', '-').lower()}"


@attrs.frozen
class Source:
    """Where a registered module came from."""

    plugin: str
    distribution: str
    version: str
    module: str


@attrs.frozen
class PluginEntry:
    """One row of ``snn plugins list``."""

    kind: str
    name: str
    distribution: str
    version: str
    module: str
    status: str
    error: str | None = None
    description: str = ""
    cls: type | None = attrs.field(default=None, repr=False, eq=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the class)."""
        d = attrs.asdict(self, filter=lambda a, _: a.name != "cls")
        return d


@attrs.frozen
class Broken:
    """An entry point that could not be loaded."""

    plugin: str
    distribution: str
    version: str
    module: str
    error: str
    details: str


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


class Registry:
    """The plugin manager plus typed name -> class registries.

    Parameters
    ----------
    load_entrypoints
        Discover installed plugins through the ``snn_core`` entry-point group. Tests pass
        False and :meth:`register` their own plugin modules instead.
    environ
        Where ``SNN_LOAD_PLUGINS`` / ``SNN_DISABLE_PLUGINS`` are read (``os.environ``).
    """

    def __init__(self, load_entrypoints: bool = True, environ: Mapping[str, str] | None = None):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.sources: dict[str, Source] = {}
        self.broken: list[Broken] = []
        self._classes: dict[str, dict[str, tuple[type[Plugin], Source]]] | None = None
        self._class_errors: list[PluginEntry] = []
        if load_entrypoints:
            self._load_entrypoints(os.environ if environ is None else environ)

    @property
    def hook(self) -> Any:
        """The hook caller; always call hooks with keyword arguments."""
        return self.pm.hook

    # -- loading ------------------------------------------------------------------------
    def _load_entrypoints(self, environ: Mapping[str, str]) -> None:
        only = _names(environ.get("SNN_LOAD_PLUGINS"))
        skip = _names(environ.get("SNN_DISABLE_PLUGINS")) or set()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if (only is not None and ep.name not in only) or ep.name in skip:
                continue
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            try:
                module = ep.load()
            except Exception as exc:
                self.broken.append(
                    Broken(ep.name, dist, version, ep.value, _one_line(exc), traceback.format_exc())
                )
                continue
            try:
                self.register(module, name=ep.name, distribution=dist, version=version)
            except BrokenPluginError as exc:
                self.broken.append(Broken(ep.name, dist, version, ep.value, str(exc), str(exc)))

    def register(
        self,
        plugin: ModuleType | object,
        name: str | None = None,
        distribution: str = "(registered in process)",
        version: str = "",
    ) -> str:
        """Register a plugin module or object; return its plugin name.

        Raises
        ------
        BrokenPluginError
            If it implements a hook that does not exist or with the wrong arguments.
        """
        try:
            plugin_name = self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise BrokenPluginError(f"plugin {name!r}: {exc}") from None
        assert plugin_name is not None
        unknown = [
            attr
            for attr in dir(plugin)
            if attr.startswith("snn_")
            and callable(getattr(plugin, attr))
            and not hasattr(hookspecs, attr)
        ]
        if unknown:
            self.pm.unregister(plugin)
            valid = [h for h in dir(hookspecs) if h.startswith("snn_")]
            raise BrokenPluginError(
                f"plugin {plugin_name!r} implements unknown hook {unknown[0]!r}"
                f"{_close(unknown[0], valid)}"
            )
        module = getattr(plugin, "__name__", type(plugin).__module__)
        self.sources[plugin_name] = Source(plugin_name, distribution, version, module)
        self._classes = None
        return plugin_name

    def unregister(self, name: str) -> None:
        """Remove a registered plugin by name."""
        self.pm.unregister(name=name)
        self.sources.pop(name, None)
        self._classes = None

    # -- registries ----------------------------------------------------------------------
    def _fold(self) -> dict[str, dict[str, tuple[type[Plugin], Source]]]:
        if self._classes is not None:
            return self._classes
        classes: dict[str, dict[str, tuple[type[Plugin], Source]]] = {k: {} for k in KINDS}
        errors: list[PluginEntry] = []
        for kind, hook_name in REGISTER_HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                source = self.sources.get(impl.plugin_name, Source(impl.plugin_name, "?", "?", "?"))
                try:
                    result = impl.function()
                    found = list(result or [])
                    for cls in found:
                        if not (isinstance(cls, type) and issubclass(cls, Plugin)):
                            raise TypeError(
                                f"{hook_name} returned {cls!r}, not a snn_core.interfaces "
                                f"plugin class"
                            )
                        if cls.kind != kind or not cls.name:
                            raise TypeError(
                                f"{hook_name} returned {cls.__name__}, whose kind is "
                                f"{cls.kind!r} and name {cls.name!r}; expected kind {kind!r} "
                                "and a non-empty name"
                            )
                except Exception as exc:
                    errors.append(
                        PluginEntry(
                            kind,
                            source.plugin,
                            source.distribution,
                            source.version,
                            source.module,
                            "broken",
                            _one_line(exc),
                        )
                    )
                    continue
                for cls in found:
                    if cls.name in classes[kind]:
                        other = classes[kind][cls.name][1]
                        raise PluginConflictError(
                            f"two plugins register the {kind} {cls.name!r}: "
                            f"{other.distribution} ({other.module}) and "
                            f"{source.distribution} ({source.module}); uninstall one, or "
                            "disable one with SNN_DISABLE_PLUGINS"
                        )
                    classes[kind][cls.name] = (cls, source)
        self._classes = classes
        self._class_errors = errors
        return classes

    def classes(self, kind: str) -> dict[str, type[Plugin]]:
        """All registered classes of ``kind`` by name."""
        return {name: cls for name, (cls, _) in self._fold()[kind].items()}

    def get(self, kind: str, name: str) -> type[Plugin]:
        """The class registered as ``name`` for ``kind``.

        Raises
        ------
        BrokenPluginError
            If the plugin that would provide it is installed but failed to load.
        UnknownPluginError
            Listing what is installed, the close match and the package to install.
        """
        found = self._fold()[kind]
        if name in found:
            return found[name][0]
        dist = distribution_for(kind, name)
        for broken in self.broken:
            if broken.plugin == name or broken.distribution.replace("_", "-") == dist:
                raise BrokenPluginError(
                    f"the {kind} {name!r} comes from {broken.distribution} {broken.version}, "
                    f"which is installed but failed to load: {broken.error}"
                )
        for entry in self._class_errors:
            if entry.kind == kind and entry.name == name:
                raise BrokenPluginError(
                    f"the {kind} {name!r} ({entry.distribution}) failed to register: {entry.error}"
                )
        available = sorted(found)
        listing = ", ".join(available) if available else "none"
        raise UnknownPluginError(
            f"no {kind} named {name!r}{_close(name, available)} Installed {kind}s: {listing}. "
            f"A plugin named {name!r} would come from the package {dist} "
            f"(pip install {dist}); `snn plugins list` shows what is installed."
        )

    def source(self, kind: str, name: str) -> Source:
        """Which distribution provides ``name`` of ``kind``."""
        self.get(kind, name)
        return self._fold()[kind][name][1]

    def entries(self) -> list[PluginEntry]:
        """Every registered class and every broken plugin, for listing. Never raises
        on a plugin's fault (a name conflict is shown as two broken rows)."""
        rows: list[PluginEntry] = []
        try:
            folded = self._fold()
        except PluginConflictError as exc:
            self._classes = None
            return [
                PluginEntry("?", s.plugin, s.distribution, s.version, s.module, "broken", str(exc))
                for s in self.sources.values()
            ] + self._broken_rows()
        for kind in KINDS:
            for name, (cls, src) in sorted(folded[kind].items()):
                rows.append(
                    PluginEntry(
                        kind,
                        name,
                        src.distribution,
                        src.version,
                        src.module,
                        "ok",
                        None,
                        cls.describe(),
                        cls,
                    )
                )
        rows.extend(self._class_errors)
        rows.extend(self._broken_rows())
        return rows

    def _broken_rows(self) -> list[PluginEntry]:
        return [
            PluginEntry("?", b.plugin, b.distribution, b.version, b.module, "broken", b.error)
            for b in self.broken
        ]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _close(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {match[0]!r}?" if match else "."


_default: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry of installed plugins (created on first use)."""
    global _default
    if _default is None:
        _default = Registry()
    return _default


def set_registry(registry: Registry | None) -> None:
    """Replace the process-wide registry (tests), or reset it with None."""
    global _default
    _default = registry
