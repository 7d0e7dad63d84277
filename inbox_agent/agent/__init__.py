"""The agent layer: the only code that joins the pure core to the adapters (one cycle: poll ->
file -> sweep -> outbox -> deliver -> commit)."""
