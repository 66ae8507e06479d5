"""The cause of each drop, from plain observations: the cluster's evidence first, then the
pattern (all at once, one replica, a repeated quiet time or age, silence)."""

from __future__ import annotations

from tests.watch_support import conn, watch
from wsdoctor.kube.timeouts import ConfiguredTimeout
from wsdoctor.models import Resource
from wsdoctor.watch.attribution import PathContext, PodFacts, attribute, same_duration
from wsdoctor.watch.model import ClusterEvent, FailedAttempt


def test_durations_within_a_quarter_second_or_one_percent_are_the_same() -> None:
    """Given two timings of one timeout, they match; a second apart at 10 s they do not."""
    assert same_duration(60.0, 60.2) and same_duration(3600.0, 3630.0)
    assert not same_duration(10.0, 11.0)


def test_a_repeated_quiet_time_is_an_idle_timeout_named_by_its_defaults() -> None:
    """Given three silent connections closed by a FIN 60 s after their 101 at different
    moments, each drop is an idle timeout of 60 s (ingress-nginx's default among others)."""
    obs = watch(conn(1, 0.0, 60.0), conn(2, 0.5, 60.5), conn(3, 1.0, 61.0))
    causes = attribute(obs)
    assert {c.kind for c in causes.values()} == {"idle_timeout"}
    assert causes[3].seconds == 60.0
    assert any("ingress-nginx" in name for name in causes[3].components)
    assert "a proxy" in causes[1].summary


def test_a_configured_timeout_is_named_before_the_defaults() -> None:
    """Given the cluster configured a 3600 s proxy-read-timeout, drops after 3600 s quiet name
    that setting and its Ingress."""
    ingress = Resource(kind="Ingress", namespace="chat", name="chat")
    path = PathContext(timeouts=(ConfiguredTimeout(
        component="ingress-nginx", setting="proxy-read-timeout", seconds=3600, scope="idle",
        resource=ingress),))
    obs = watch(conn(1, 0.0, 3600.0), conn(2, 10.0, 3610.0))
    cause = attribute(obs, path)[1]
    assert cause.kind == "idle_timeout" and cause.resource == ingress
    assert cause.components[0].startswith("ingress-nginx proxy-read-timeout 3600 s")


def test_one_drop_at_an_unknown_quiet_time_is_unexplained_until_it_repeats() -> None:
    """Given a single drop after 17.3 s quiet (no known default), it is unexplained."""
    assert attribute(watch(conn(1, 0.0, 17.3)))[1].kind == "unexplained"


def test_one_drop_at_a_known_default_is_an_idle_timeout_seen_once() -> None:
    """Given one silent connection closed after exactly 100 s, Cloudflare's default is named."""
    cause = attribute(watch(conn(1, 0.0, 100.0)))[1]
    assert cause.kind == "idle_timeout" and "seen once" in cause.summary


def test_a_repeated_age_despite_traffic_is_a_lifetime_timeout() -> None:
    """Given connections with traffic up to their end, all cut at age 30 s at different
    moments, the cause is a lifetime timeout (the GCP load balancer's default)."""
    obs = watch(conn(1, 0.0, 30.0, traffic=29.5), conn(2, 3.0, 33.0, traffic=32.8),
                conn(3, 7.0, 37.0, traffic=36.9), heartbeat=1.0)
    cause = attribute(obs)[2]
    assert cause.kind == "lifetime_timeout" and cause.seconds == 30.0
    assert any("GCP" in name for name in cause.components)


def test_connections_of_different_ages_cut_at_once_everywhere_are_a_proxy_reload() -> None:
    """Given every open connection, on two replicas and of different ages, cut within 0.1 s
    by a FIN and reconnected at the first attempt, the cause is a proxy reload."""
    obs = watch(conn(1, 0.0, 40.0, traffic=39.8, replica="r1"),
                conn(2, 5.0, 40.05, traffic=39.9, replica="r2"),
                conn(3, 12.0, 40.1, traffic=39.9, replica="r1"),
                conn(4, 40.6, None, slot=0), heartbeat=1.0)
    causes = attribute(obs)
    assert {causes[i].kind for i in (1, 2, 3)} == {"proxy_reload"}
    assert causes[1].together == (1, 2, 3)


def test_reconnects_that_fail_after_everything_was_cut_make_it_a_restart() -> None:
    """Given the same cut, but reconnects refused for 4 s, the proxy restarted."""
    attempts = tuple(FailedAttempt(slot=s, at=40.6 + k, address="127.0.0.1:443",
                                   outcome="connect_failed") for s in (0, 1) for k in (0, 2))
    obs = watch(conn(1, 0.0, 40.0, traffic=39.8, replica="r1"),
                conn(2, 5.0, 40.05, traffic=39.9, replica="r2"),
                conn(5, 44.5, None, slot=0, reconnect_s=4.5, attempts=3),
                attempts=attempts, heartbeat=1.0)
    cause = attribute(obs)[1]
    assert cause.kind == "proxy_restart" and "restarted" in cause.summary


def test_a_later_drops_failed_reconnect_does_not_make_an_earlier_reload_a_restart() -> None:
    """Given every connection cut at once and reconnected at the first attempt, then 9 s later
    one of the new connections dropped and its reconnect failed, the first cut stays a reload
    (measured: an HAProxy reload, then a killed replica behind it)."""
    attempts = (FailedAttempt(slot=0, at=52.5, address="127.0.0.1:443",
                              outcome="refused"),)
    obs = watch(conn(1, 0.0, 40.0, traffic=39.8, replica="r1"),
                conn(2, 5.0, 40.05, traffic=39.9, replica="r2"),
                conn(3, 40.6, 49.0, slot=0, traffic=48.0, replica="r2", reconnect_s=0.6),
                conn(4, 40.6, None, slot=1, replica="r1", reconnect_s=0.55),
                conn(5, 53.0, None, slot=0, replica="r1", reconnect_s=4.0, attempts=2),
                attempts=attempts, heartbeat=1.0)
    cause = attribute(obs)[1]
    assert cause.kind == "proxy_reload", cause.summary
    assert "reconnects succeeded at once" in cause.summary


def test_connections_each_ended_at_the_same_age_half_a_second_apart_are_no_event() -> None:
    """Given two connections opened 0.5 s apart, each closed by the application at exactly
    age 45 s (0.5 s apart: a timer per connection, as socket.io's unanswered heartbeat), they
    are not 'connections of different ages cut at once' by a proxy reload."""
    obs = watch(conn(1, 0.0, 45.0, ending="close_frame", close_code=1005, traffic=25.0),
                conn(2, 0.5, 45.5, ending="close_frame", close_code=1005, traffic=25.5))
    causes = attribute(obs)
    assert {c.kind for c in causes.values()} == {"app_close"}, causes[1].summary


def test_connections_opened_together_and_cut_together_once_are_an_event() -> None:
    """Given connections reopened together after a reload and cut together again at an age
    seen nowhere else, the second cut is an event too, not a timeout."""
    obs = watch(conn(1, 40.5, 71.2, traffic=71.0, replica="r1"),
                conn(2, 40.55, 71.25, traffic=71.0, replica="r2"), heartbeat=1.0)
    assert attribute(obs)[1].kind == "proxy_reload"


def test_one_replicas_connections_cut_at_once_while_the_others_live_are_that_replica() -> None:
    """Given both connections on r1 cut at once while the one on r2 stays open, the cause is
    replica r1."""
    obs = watch(conn(1, 0.0, 20.0, replica="r1", traffic=19.9),
                conn(2, 4.0, 20.02, replica="r1", traffic=19.9),
                conn(3, 2.0, None, replica="r2"), heartbeat=1.0)
    cause = attribute(obs)[2]
    assert cause.kind == "replica" and cause.resource == Resource(kind="Replica", name="r1")


def test_the_connections_through_one_address_cut_at_once_are_that_addresss_proxy() -> None:
    """Given the connections through 10.0.0.1 cut at once while those through 10.0.0.2 live,
    and no replica names, the proxy at 10.0.0.1 is blamed."""
    obs = watch(conn(1, 0.0, 20.0, replica=None, address="10.0.0.1:443", traffic=19.9),
                conn(2, 4.0, 20.02, replica=None, address="10.0.0.1:443", traffic=19.9),
                conn(3, 2.0, None, replica=None, address="10.0.0.2:443"), heartbeat=1.0)
    cause = attribute(obs)[1]
    assert cause.kind == "proxy_reload" and cause.resource == Resource(kind="Address",
                                                                       name="10.0.0.1:443")


def test_an_unanswered_ping_is_a_silent_drop() -> None:
    """Given a connection ended by silence (its ping unanswered), the path dropped the flow;
    the summary brackets when."""
    record = conn(1, 0.0, 12.5, ending="silent", traffic=10.0, last_alive_at=10.0,
                  pending_ping_at=12.0)
    cause = attribute(watch(record, heartbeat=2.0))[1]
    assert cause.kind == "silent_drop"
    assert "alive at age 10.0 s" in cause.summary and "age 12.0 s" in cause.summary


def test_an_application_close_frame_without_a_pattern_is_an_app_close() -> None:
    """Given one close frame 4000 from the application, no pattern: the application closed it."""
    record = conn(1, 0.0, 17.3, ending="close_frame", close_code=4000, traffic=17.0)
    assert attribute(watch(record, heartbeat=1.0))[1].kind == "app_close"


def _terminating(at: float, pod: str = "chat-aaaaa") -> ClusterEvent:
    return ClusterEvent(at=at, kind="Pod", namespace="chat", name=pod, change="terminating",
                        detail="deletionTimestamp set (grace 30 s)", pods=[pod], grace_s=30.0)


def test_a_drop_after_its_pod_started_terminating_is_that_pods() -> None:
    """Given pod chat-aaaaa marked terminating at 10.0 s, the connections it served that drop
    at 10.3 s are attributed to it by the cluster; the other pod's connection is not."""
    rollout = ClusterEvent(at=9.0, kind="Deployment", namespace="chat", name="chat",
                           change="modified", detail="template changed (rollout)")
    obs = watch(conn(1, 0.0, 10.3, replica="chat-aaaaa", traffic=10.1),
                conn(2, 1.0, 10.31, replica="chat-aaaaa", traffic=10.1),
                conn(3, 2.0, 40.0, replica="chat-bbbbb", traffic=20.0),
                events=(rollout, _terminating(10.0)), heartbeat=1.0)
    causes = attribute(obs)
    assert causes[1].kind == "pod_terminated" and causes[1].evidence == "cluster"
    assert causes[1].resource == Resource(kind="Pod", namespace="chat", name="chat-aaaaa")
    assert causes[1].trigger is not None and "Deployment chat/chat" in causes[1].trigger
    assert causes[3].kind != "pod_terminated"


def test_a_drop_long_after_the_grace_period_is_not_the_pods() -> None:
    """Given a pod with a 5 s grace period terminating at 10 s, a drop at 30 s on it is not
    attributed to its termination."""
    path = PathContext(pods={"chat-aaaaa": PodFacts(pre_stop=False, grace_s=5.0)})
    event = _terminating(10.0).model_copy(update={"grace_s": None})
    obs = watch(conn(1, 0.0, 30.0, replica="chat-aaaaa", traffic=29.0), events=(event,),
                heartbeat=1.0)
    assert attribute(obs, path)[1].kind != "pod_terminated"


def test_without_a_replica_name_only_a_lone_pod_ending_is_evidence() -> None:
    """Given the application names no replica, a drop right after the only terminating pod is
    attributed to it (with that caveat); with two pods ending then, to neither."""
    record = conn(1, 0.0, 10.2, replica=None, traffic=10.0)
    one = attribute(watch(record, events=(_terminating(10.0),), heartbeat=1.0))[1]
    assert one.kind == "pod_terminated" and "names no replica" in one.summary
    two = attribute(watch(record, events=(_terminating(10.0), _terminating(10.0, "chat-b")),
                          heartbeat=1.0))[1]
    assert two.kind != "pod_terminated"


def test_a_cut_after_a_configmap_change_is_that_reload_named_with_its_drain_time() -> None:
    """Given the controller's ConfigMap changed at 5.0 s and every connection was cut 3.0 s
    later (worker-shutdown-timeout 3 s), the reload of that change is the cause."""
    change = ClusterEvent(at=5.0, kind="ConfigMap", namespace="ingress-nginx",
                          name="ingress-nginx-controller", change="modified",
                          detail="data changed (worker-shutdown-timeout)")
    path = PathContext(controller="ingress-nginx", shutdown_s=3.0,
                       shutdown_setting="worker-shutdown-timeout 3 s in ConfigMap x/y")
    obs = watch(conn(1, 0.0, 8.0, replica="a", traffic=7.9),
                conn(2, 1.0, 8.01, replica="b", traffic=7.9), events=(change,), heartbeat=1.0)
    cause = attribute(obs, path)[1]
    assert cause.kind == "proxy_reload" and cause.evidence == "cluster"
    assert cause.resource == Resource(kind="ConfigMap", namespace="ingress-nginx",
                                      name="ingress-nginx-controller")
    assert cause.seconds == 3.0 and "worker-shutdown-timeout 3 s" in cause.summary


def test_connections_reopened_together_and_cut_by_a_reload_are_the_reloads() -> None:
    """Given four connections that reconnected together after a pod ended, then were all cut
    3.0 s after a ConfigMap change (worker-shutdown-timeout 3 s) at an age one earlier drop
    happened to share, the reload is the cause of every one, not a lifetime timeout
    (measured: the exporter counted 1 proxy_reload and 3 lifetime_timeout)."""
    change = ClusterEvent(at=36.0, kind="ConfigMap", namespace="ingress-nginx",
                          name="ingress-nginx-controller", change="modified",
                          detail="changed (proxy-body-size)")
    path = PathContext(controller="ingress-nginx", shutdown_s=3.0)
    first = [conn(i + 1, i * 0.5, 20.0, replica="b", traffic=19.0) for i in range(4)]
    again = [conn(5 + i, 20.5 + i * 0.03, 39.0, slot=i, replica="a", traffic=38.0,
                  reconnect_s=0.5) for i in range(4)]
    obs = watch(*first, *again, events=(_terminating(19.9, "b"), change), heartbeat=5.0)
    causes = attribute(obs, path)
    assert {causes[i].kind for i in range(5, 9)} == {"proxy_reload"}, \
        {i: causes[i].kind for i in range(5, 9)}


def test_a_lone_drop_among_several_open_connections_is_not_a_reload() -> None:
    """Given a ConfigMap change, one connection of three cut alone is not blamed on the
    reload (a reload cuts every connection of the old configuration)."""
    change = ClusterEvent(at=5.0, kind="ConfigMap", namespace="x", name="y", change="modified",
                          detail="data changed")
    obs = watch(conn(1, 0.0, 8.0, traffic=7.9), conn(2, 1.0, None), conn(3, 2.0, None),
                events=(change,), heartbeat=1.0)
    assert attribute(obs)[1].kind != "proxy_reload"


def test_one_replica_cut_at_once_but_reached_again_at_once_is_what_is_in_front_of_it() -> None:
    """Given the only replica's connections cut at once and every slot reconnected to that
    same replica at the first attempt, the replica did not end: a proxy in front reloaded."""
    obs = watch(conn(1, 0.0, 20.0, replica="r1", traffic=19.9),
                conn(2, 4.0, 20.02, replica="r1", traffic=19.9),
                conn(3, 20.6, None, slot=0, replica="r1", reconnect_s=0.6),
                conn(4, 20.7, None, slot=1, replica="r1", reconnect_s=0.7), heartbeat=1.0)
    assert attribute(obs)[1].kind == "proxy_reload"
    gone = watch(conn(1, 0.0, 20.0, replica="r1", traffic=19.9),
                 conn(2, 4.0, 20.02, replica="r1", traffic=19.9),
                 conn(3, 25.0, None, slot=0, replica="r2", reconnect_s=5.0, attempts=3),
                 heartbeat=1.0)
    assert attribute(gone)[1].kind == "replica"
