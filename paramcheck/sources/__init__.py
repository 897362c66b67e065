"""Where a model comes from: a bundled id, a local folder or a hub repository, read once into a ``ModelSource``.

``resolve`` is the one interpreter of a model argument; every command and the pytest plugin call it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..errors import SourceError, UnknownModelError, suggest
from ..results import SourceInfo, SourceKind
from .bundled import bundled_ids, bundled_model
from .hub import REPO_ID, hub_source
from .local import read_folder
from .spec import ComponentSpec, ModelSource

__all__ = ["ComponentSpec", "ModelSource", "model_spec", "read_folder", "resolve"]


def model_spec(text: str, revision: str | None = None) -> str:
    """The argument as ``resolve`` reads it: ``hub:ORG/NAME[@REV]`` for the hub (``hub:`` written, or an ``ORG/NAME``
    that is neither a bundled id nor an existing path), else the text itself."""
    if text.startswith("hub:"):
        if revision is None:
            return text
        if "@" in text:
            raise SourceError(f"{text}: names a revision and --revision {revision} too; give only one")
        return f"{text}@{revision}"
    is_local = text in bundled_ids() or _lexists(text)
    if not is_local and REPO_ID.fullmatch(text.partition("@")[0]) and not text.startswith("."):
        if revision is not None and "@" in text:
            raise SourceError(f"{text}: names a revision and --revision {revision} too; give only one")
        return f"hub:{text}" + (f"@{revision}" if revision else "")
    if revision is not None:
        raise SourceError(f"{text}: --revision applies to hub repositories only (ORG/NAME or hub:ORG/NAME)")
    return text


def _shown(text: str) -> str:
    return text if text.isprintable() else repr(text)


def _lexists(text: str) -> bool:
    """Whether a path (or a link, even one that leads nowhere) is there; a name the system refuses (too long, NUL)
    is a one-line error naming it."""
    try:
        os.lstat(Path(text).expanduser())  # os.path.lexists would answer False for a name too long
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise SourceError(f"{_shown(text)[:200]}: not a usable path ({reason}); check the path") from None
    return True


def resolve(spec: str | Path, revision: str | None = None) -> ModelSource:
    """A bundled id, a local folder, or a hub repository (``hub:ORG/NAME[@REV]``, or ``ORG/NAME`` that is
    neither bundled nor a path), with ``revision`` for hub repositories."""
    text = model_spec(str(spec), revision)
    if text.startswith("hub:"):
        return hub_source(text[len("hub:") :])
    if text in bundled_ids():
        bundled = bundled_model(text)
        source = read_folder(bundled.folder, model=text, kind=SourceKind.BUNDLED)
        info = SourceInfo(kind=SourceKind.BUNDLED, location=bundled.hub_repo or text, weights=False)
        return dataclasses.replace(source, info=info)
    path = Path(text).expanduser()
    if path.exists():
        return read_folder(path)
    if _lexists(text):
        raise SourceError(f"{_shown(text)}: a link that leads nowhere (a loop or a missing target); check the path")
    if "/" in text or text.startswith("."):
        raise SourceError(f"{_shown(text)}: no such folder; give a bundled id or an existing folder")
    raise UnknownModelError(f"unknown model {text!r}; {suggest(text, bundled_ids())}")
