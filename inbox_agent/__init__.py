"""inbox-agent: looks after a support mailbox and keeps every promise made to a customer."""

__version__ = "0.1.0"
