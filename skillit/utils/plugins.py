"""A registry of named specs (strategies, sources), with entry-point plugins.

Each spec type (skillit.mixing.registry.StrategySpec, skillit.sources.registry.SourceSpec) has one
:class:`SpecRegistry`: the built-in specs register at import; packages that ship more declare
entry points in the registry's group, each naming a spec (or a function returning one), loaded
the first time a name is not found.
"""

from __future__ import annotations

from importlib import metadata
from typing import Generic, TypeVar

from skillit.errors import SkillitError

Spec = TypeVar("Spec")


class SpecRegistry(Generic[Spec]):
    def __init__(self, spec_type: type, kind: str, key: str, group: str) -> None:
        self.spec_type = spec_type
        self.kind = kind  # "strategy", "source": for messages
        self.key = key  # the config key whose values are the names (mixing.strategy)
        self.group = group  # the entry point group of plugins
        self.specs: dict[str, Spec] = {}
        self.plugins_loaded = False

    def register(self, spec: Spec, replace: bool = False) -> Spec:
        """Add a spec; its name becomes a valid value of the key. Returns the spec."""
        if spec.name in self.specs and not replace:
            raise ValueError(f"a {self.kind} named {spec.name!r} is registered already")
        self.specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        """Remove a spec (for tests and notebooks)."""
        self.specs.pop(name, None)

    def known(self, name: str) -> bool:
        """Whether `name` is registered (looking at installed plugins when it is not)."""
        if name not in self.specs:
            self._load_plugins()
        return name in self.specs

    def names(self) -> tuple[str, ...]:
        return tuple(self.specs)

    def get(self, name: str) -> Spec:
        if not self.known(name):
            raise SkillitError(
                f"{self.key} {name!r} is unknown; valid {self.kind} names: {', '.join(self.specs)}"
            )
        return self.specs[name]

    def _load_plugins(self) -> None:
        if self.plugins_loaded:
            return
        self.plugins_loaded = True
        for point in metadata.entry_points(group=self.group):
            try:
                spec = point.load()
                spec = spec() if not isinstance(spec, self.spec_type) and callable(spec) else spec
            except Exception as exc:
                raise SkillitError(
                    f"the {self.kind} plugin {point.name!r} ({point.value}, entry point group "
                    f"{self.group}) failed to load: {type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(spec, self.spec_type):
                raise SkillitError(
                    f"the {self.kind} plugin {point.name!r} ({point.value}) is not a "
                    f"{self.spec_type.__name__}"
                )
            self.specs.setdefault(spec.name, spec)
