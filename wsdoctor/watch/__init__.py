"""``wsdoctor watch``: hold WebSocket connections for a long time and name what cut each one.

- :mod:`~wsdoctor.watch.model`: the observation: connections, drops, reconnects, cluster events.
- :mod:`~wsdoctor.watch.holder`: the engine that holds connections (reusable on its own).
- :mod:`~wsdoctor.watch.attribution`: pure: the cause of each drop, best evidence first.
- :mod:`~wsdoctor.watch.rules`: the finding codes, and the rule that turns causes into findings.
- :mod:`~wsdoctor.watch.kubewatch`: watch streams on the objects behind the target's route.
- :mod:`~wsdoctor.watch.session`: runs them together and writes the report as it goes.
"""
