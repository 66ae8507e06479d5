"""Every check's observation type, told apart by ``check``: what a check report's observation
is. Imported when a schema is built from it (see ``wsdoctor.report._EveryObservation``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from wsdoctor.checks.affinity import AffinityObservation
from wsdoctor.checks.capture import CaptureObservation
from wsdoctor.checks.dns import DnsObservation
from wsdoctor.checks.handshake_model import HandshakeObservation
from wsdoctor.checks.hops_model import HopsObservation
from wsdoctor.checks.http2 import Http2Observation
from wsdoctor.checks.http_probe import HttpObservation
from wsdoctor.checks.idle import IdleObservation
from wsdoctor.checks.keepalive import KeepaliveObservation
from wsdoctor.checks.messages_model import MessagesObservation
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.checks.tls_probe import TlsObservation
from wsdoctor.kube.observation import ClusterObservation
from wsdoctor.load.model import LoadObservation
from wsdoctor.watch.model import WatchObservation

ObservationUnion = Annotated[
    DnsObservation
    | TcpObservation
    | TlsObservation
    | HttpObservation
    | HandshakeObservation
    | Http2Observation
    | MessagesObservation
    | IdleObservation
    | KeepaliveObservation
    | CaptureObservation
    | AffinityObservation
    | ClusterObservation
    | HopsObservation
    | WatchObservation
    | LoadObservation,
    Field(discriminator="check"),
]
