"""Where templates come from: the templates folder, and nothing else.

An adapter: it reads files; core renders what it is given. A template, and anything
it includes, imports or extends, must be a regular ``.j2`` file whose real path (symlinks
followed) is inside the templates folder. Anything else is refused with a SecurityError, which
the renderer reports as ``file:line`` of the ``include`` (``{% include ... ignore missing %}``
does not hide it: that only skips files that are not there). So a link to a secret in the
folder, or ``'../../etc/passwd'``, can never end up in a customer's mail.

Links whose target is inside the folder still work: staff share wording between mailboxes and
languages that way (``sales/acknowledgement.txt.j2 -> ../acknowledgement.txt.j2``), and such a
link can show nothing that is not a template already. A link that leads out is refused however
it is reached, directly or through a linked folder.

The file is opened at its real path without following a link there (``O_NOFOLLOW``), and
without waiting (``O_NONBLOCK``: a FIFO named ``x.j2`` would otherwise hang the agent), and
checked again once open (``fstat``: a regular file, not too big).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import jinja2
from jinja2.exceptions import SecurityError

MAX_TEMPLATE_BYTES = 1_000_000  # a mail template is a few KB; a huge file is a mistake


class TemplatesFolder(jinja2.BaseLoader):
    """Serves the ``.j2`` files inside ``folder`` (symlinks only when they stay inside)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder).resolve()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        real = self._real_path(template)
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:  # changed since it was resolved, or not ours to read
            raise SecurityError(f"'{template}' cannot be read: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            _check_file(template, info)
            source = _text(template, file.read(MAX_TEMPLATE_BYTES + 1))
        path = self.folder / template

        def uptodate() -> bool:
            try:  # the same file, unchanged; a link moved elsewhere counts as a change, and
                # so does a file renamed over it (a save from the staff page) within the
                # filesystem's timestamp tick, which leaves the mtime as it was
                now = os.stat(real)
                return path.resolve() == real and (now.st_ino, now.st_mtime_ns) == (
                    info.st_ino,
                    info.st_mtime_ns,
                )
            except OSError:
                return False

        # The name, not the full path, is the file Jinja names in tracebacks: errors in an
        # included template then read "sales/greeting.txt.j2:3: ...".
        return source, template, uptodate

    def list_templates(self) -> list[str]:
        """Every ``.j2`` name in the folder (links included, so ``templates check`` reports a
        link that leads out instead of passing over it); linked folders are not walked."""
        found = []
        for root, _dirs, files in os.walk(self.folder):
            for name in files:
                if name.endswith(".j2"):
                    found.append(Path(root, name).relative_to(self.folder).as_posix())
        return sorted(found)

    def _real_path(self, template: str) -> Path:
        """The file ``template`` names, once it is known to be a template in the folder."""
        wanted = self.folder / template
        try:
            real = wanted.resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links
            raise SecurityError(f"'{template}' cannot be resolved: {exc}") from exc
        if not real.is_relative_to(self.folder):
            what = (
                "is outside"
                if ".." in Path(template).parts or template.startswith("/")
                else f"is a link to {real}, outside"
            )
            raise SecurityError(
                f"'{template}' {what} the templates folder; only templates in it can be included"
            )
        if not template.endswith(".j2"):
            raise SecurityError(
                f"'{template}' is not a template (a .j2 file); only templates "
                "in the templates folder can be included"
            )
        if not real.name.endswith(".j2"):
            raise SecurityError(
                f"'{template}' is a link to {real.name}, not to a template (a .j2 file)"
            )
        if not os.path.lexists(wanted) or not real.exists():
            raise jinja2.TemplateNotFound(template)
        return real


def _check_file(template: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise SecurityError(f"'{template}' is not a regular file")
    if info.st_size > MAX_TEMPLATE_BYTES:
        raise SecurityError(
            f"'{template}' is {info.st_size:,} bytes; a template is at most {MAX_TEMPLATE_BYTES:,}"
        )


def _text(template: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise jinja2.TemplateSyntaxError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8",
            1,
            template,
        ) from exc
