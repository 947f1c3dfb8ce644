"""The demo and the test harness, not production ingestion (that is ``streams/``).

- ``timeline``: a news day as frames (which headline each site's surfaces show, when);
- ``pages``: those frames rendered in each site's own page shape (HTML, RSS, JSON lists);
- ``sites``: the recorded-sites server playing a timeline over HTTP;
- ``run``: ``citycredit demo``, the whole product (broker, worker, pollers) against it.

The production image leaves this package out; the pollers cannot tell these sites from the
real ones, which is what the end-to-end tests rely on.
"""
