"""Load-testing the streaming path: simulated devices and readers against teleconsult servers.

One concept per module: ``profile`` (how many devices when), ``plan`` (what a worker
does, where devices and readers connect), ``fleet`` (devices and readers in one
process), ``worker`` (the worker process), ``run`` (the parent: workers, sampling,
merging), ``targets`` (servers and Redis to start), ``seed`` (accounts), ``verify``
(what the server stored), ``histogram``/``metrics``/``results`` (measurements and their
merging), ``resources`` (CPU/RSS from /proc), ``thresholds`` (``--fail-if``),
``progress``, ``report`` (table, JSON), ``plots``/``htmlreport`` (HTML), ``cli``.
``reader`` is a ``websockets`` reader client used by end-to-end tests.
"""
