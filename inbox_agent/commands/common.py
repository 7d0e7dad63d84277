"""What every command needs: the settings from ``--config``, and the ledger as last committed."""

from __future__ import annotations

import argparse

from inbox_agent import config
from inbox_agent.adapters.store import Store
from inbox_agent.core.ledger import Ledger
from inbox_agent.errors import ConfigError


def settings_of(args: argparse.Namespace) -> config.Settings:
    """The config named by ``--config``, else ``$INBOX_AGENT_CONFIG``, else ``./config.toml``."""
    return config.load(config.config_path(args.config))


def templates_in_use(settings: config.Settings) -> str:
    """Which templates the agent sends, for ``check``, ``templates check`` and the log."""
    folder = settings.agent.templates_dir
    if folder.resolve() == config.packaged_templates().resolve():
        return f"the defaults that come with inbox-agent, in {folder}"
    return str(folder)


def need_templates_folder(settings: config.Settings) -> None:
    """A ConfigError, in one line, where the templates folder is not there at all (each
    template is then missing too, which says less)."""
    folder = settings.agent.templates_dir
    if folder.is_dir():
        return
    packaged = config.packaged_templates()
    if folder.resolve() == packaged.resolve():
        raise ConfigError(
            f"the default templates that come with inbox-agent are not in "
            f"{folder}; reinstall inbox-agent"
        )
    raise ConfigError(
        f"{settings.source}: [agent] templates_dir: no folder {folder}; copy the "
        f"default templates there to edit them ({packaged}), or remove "
        "templates_dir to use them as they are"
    )


def read_ledger(settings: config.Settings) -> Ledger:
    """The last committed state, read without the lock (safe beside a running daemon)."""
    return read_store(settings).ledger


def read_store(settings: config.Settings) -> Store:
    """The store as last committed, with its archive, read without the lock."""
    store = Store(settings.agent.data_dir, read_only=True).open()
    store.close()
    return store


def token(text: str) -> str:
    """A conversation token as people type it: ``#k7q2``, ``[#K7Q2]`` -> ``K7Q2``."""
    return text.strip().strip("[]#").upper()
