"""What every command needs: the settings from ``--config``, and the ledger as last committed."""

from __future__ import annotations

import argparse

from inbox_agent import config
from inbox_agent.adapters.store import Store
from inbox_agent.core.ledger import Ledger


def settings_of(args: argparse.Namespace) -> config.Settings:
    """The config named by ``--config``, else ``$INBOX_AGENT_CONFIG``, else ``./config.toml``."""
    return config.load(config.config_path(args.config))


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
