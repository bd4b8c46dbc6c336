"""Where each domain's view modules are, so the web and API layers can register them."""

from __future__ import annotations

from pathlib import Path


def domain_modules(kind: str) -> list[str]:
    """The dotted names of every domain's view modules of one kind ("pages" or "api").

    A domain's view module is `app/<domain>/<kind>.py` or each module of the package
    `app/<domain>/<kind>/`; importing it registers its routes on the one blueprint.
    """
    root = Path(__file__).resolve().parent
    names = []
    for folder in sorted(p for p in root.iterdir() if (p / "__init__.py").exists()):
        if (folder / f"{kind}.py").exists():
            names.append(f"app.{folder.name}.{kind}")
        elif (folder / kind / "__init__.py").exists():
            modules = sorted((folder / kind).glob("*.py"))
            names += [f"app.{folder.name}.{kind}.{m.stem}" for m in modules if m.stem != "__init__"]
    return names
