"""Ingestion: the site registry, pollers that fetch and parse the 15 sites' surfaces,
change detection that publishes observations to ``sightings``, the raw snapshot store,
source health (the recorded-sites server the demo, tests and benchmarks poll is in ``demo/``);
and the disclosure-website check of each city's credit site (``disclosure.py``).

Data shape through one poll of one surface::

    Surface (registry)  --fetch-->  FetchResult (raw bytes, headers)
        --decode-->  str  --parse-->  [Headline]  --diff-->  [Observation]  --> sightings
"""
