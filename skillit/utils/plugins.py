"""Entry-point plugins: the specs other packages register (strategies, sources)."""

from __future__ import annotations

from importlib import metadata

from skillit.errors import SkillitError


def load_entry_points(group: str, spec_type: type, kind: str) -> list:
    """Every `spec_type` named by an entry point of `group` (an entry may name a spec or a
    function returning one); a plugin that fails to load is an error naming it."""
    specs = []
    for point in metadata.entry_points(group=group):
        try:
            spec = point.load()
            spec = spec() if not isinstance(spec, spec_type) and callable(spec) else spec
        except Exception as exc:
            raise SkillitError(
                f"the {kind} plugin {point.name!r} ({point.value}, entry point group {group}) "
                f"failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(spec, spec_type):
            raise SkillitError(
                f"the {kind} plugin {point.name!r} ({point.value}) is not a {spec_type.__name__}"
            )
        specs.append(spec)
    return specs
