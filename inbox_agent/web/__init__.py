"""The staff page the daemon serves (``[web] listen``): conversations and their actions.

On the same floor as ``commands/``: it may use the agent layer, the adapters and the core;
only the daemon's wiring (``agent/cycle.py``), ``commands/web.py`` and ``commands/check.py``
(the logins, in ``auth``, which imports no aiohttp) import it. ``app``
(routes, sessions, CSRF, headers), ``auth`` (logins, cookies, the rate limit), ``views`` (what
the pages show), ``service`` (the daemon service); ``templates/`` and ``static/`` are package
data.
"""
