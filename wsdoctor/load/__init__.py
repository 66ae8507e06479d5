"""A bounded load run (``wsdoctor load``): open up to N WebSocket connections at a given rate,
hold them, optionally send messages on each, and find the connection cap and how it refuses.

- :mod:`wsdoctor.load.engine` holds the connections (websockets' sans-I/O protocol on bare
  asyncio transports: a few KiB per connection);
- :mod:`wsdoctor.load.causes` names why an attempt gave no connection;
- :mod:`wsdoctor.load.stats` summarises timings (k6-like percentiles) and the ramp;
- :mod:`wsdoctor.load.client` measures the client's own cost and limits (file descriptors,
  local ports, memory and CPU), so a cap is never the client's without saying so;
- :mod:`wsdoctor.load.plot` draws the ramp in a terminal.
"""
