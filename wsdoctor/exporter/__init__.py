"""``wsdoctor probe``: the scheduled health probe — a Prometheus exporter with a
blackbox-style ``/probe`` endpoint, and the metrics of one-shot runs (textfile, Pushgateway).

- ``schema``: the models of the YAML file; ``config``: loading it, with errors that name the
  file, line and key, into the frozen specs the scheduler runs.
- ``metrics``: a pure function from a :class:`~wsdoctor.report.Report` to metric families.
- ``scheduler``: runs every target on its interval, with jitter, a concurrency bound and a
  time limit, so that a slow or dead target never delays the others.
- ``server``: the aiohttp web server (``/metrics``, ``/probe``, ``/healthz``, ``/reports``).
"""

DEFAULT_PORT = 9120
"""9115 is blackbox_exporter's own port; wsdoctor sits next to it so both can run side by side."""
DEFAULT_LISTEN = f":{DEFAULT_PORT}"
