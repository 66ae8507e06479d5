"""What the two HAProxy ingress controllers read, as data with its source: annotation and
ConfigMap keys with the places each is read from, and the keys people confuse.

haproxytech (kubernetes-ingress, ``haproxy.org/``): documentation/annotations.md of
haproxytech/kubernetes-ingress at commit fc1206761aa7948e051eebd56c736802e1d7e226 (v3.2),
whose table marks each key as read from the ConfigMap, an Ingress and/or a Service; the
annotation prefixes ``haproxy.org/``, ``haproxy.com/`` and ``ingress.kubernetes.io/`` are
the same annotation.

jcmoraisjr haproxy-ingress (``haproxy-ingress.github.io/``): the key constants of
pkg/converters/ingress/types/global.go and annotations.go of jcmoraisjr/haproxy-ingress at
commit 465a51ce67a788872faa4f04027defa6805ff87f, and its keys.md: Global and Frontend keys
are read from the ConfigMap only; Ingresses take Host, Backend (and Path) and TCP keys,
Services Backend keys; the annotation prefixes are ``haproxy-ingress.github.io/`` and
``ingress.kubernetes.io/``."""

from __future__ import annotations


def _keys(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TECH_CONFIGMAP = _keys(
    """
    clean-certs client-ca client-crt-optional client-strict-sni dontlognull
    frontend-config-snippet generate-certificates-signer global-config-snippet
    hard-stop-after http-connection-mode http-keep-alive http-server-close log-format
    log-format-tcp logasap maxconn nbthread proxy-protocol quic-alt-svc-max-age
    ssl-certificate stats-config-snippet syslog-server timeout-client timeout-client-fin
    timeout-connect timeout-http-keep-alive timeout-http-request timeout-queue
    timeout-server-fin timeout-tunnel tls-alpn
"""
)
_TECH_CONFIGMAP_INGRESS = _keys(
    """
    allow-list auth-realm auth-secret auth-type blacklist cors-allow-credentials
    cors-allow-headers cors-allow-methods cors-allow-origin cors-enable cors-max-age
    deny-list path-rewrite rate-limit-period rate-limit-requests rate-limit-size
    rate-limit-status-code rate-limit-whitelist request-capture request-capture-len
    request-redirect request-redirect-code request-set-header response-set-header
    set-host src-ip-header ssl-redirect ssl-redirect-code ssl-redirect-port whitelist
"""
)
_TECH_EVERYWHERE = _keys(
    """
    backend-config-snippet check check-http check-interval forwarded-for load-balance
    pod-maxconn scale-server-slots send-proxy-protocol server-ca server-crt server-proto
    server-ssl ssl-passthrough timeout-check timeout-server
"""
)
_TECH_CONFIGMAP_SERVICE = _keys(
    """
    cookie-persistence cookie-persistence-no-dynamic
"""
)
_TECH_INGRESS_SERVICE = _keys(
    """
    standalone-backend
"""
)
_TECH_SERVICE = _keys(
    """
    route-acl
"""
)

#: Keys the haproxytech code reads that annotations.md does not list (pkg/annotations,
#: pkg/controller/global.go, pkg/service/endpoints.go at the same commit): cookie options,
#: the custom-resource references, legacy names of scale-server-slots.
_TECH_CODE_ONLY = {
    "cookie-indirect": "cs",
    "cookie-nocache": "cs",
    "cookie-type": "cs",
    "cors-respond-to-options": "ci",
    "abortonclose": "cis",
    "cr-global": "c",
    "cr-defaults": "c",
    "cr-frontend-http": "c",
    "cr-frontend-https": "c",
    "cr-frontend-stats": "c",
    "cr-backend": "cis",
    "default-backend-service": "c",
    "prometheus-endpoint-auth-secret": "c",
    "servers-increment": "cis",
    "server-slots": "cis",
}

#: haproxytech: key → where it is read ("c" ConfigMap, "i" Ingress, "s" Service).
HAPROXYTECH: dict[str, str] = {
    **_TECH_CODE_ONLY,
    **dict.fromkeys(_TECH_CONFIGMAP, "c"),
    **dict.fromkeys(_TECH_CONFIGMAP_INGRESS, "ci"),
    **dict.fromkeys(_TECH_EVERYWHERE, "cis"),
    **dict.fromkeys(_TECH_CONFIGMAP_SERVICE, "cs"),
    **dict.fromkeys(_TECH_INGRESS_SERVICE, "is"),
    **dict.fromkeys(_TECH_SERVICE, "s"),
}

_INGRESS_GLOBAL = _keys(
    """
    acme-emails acme-endpoint acme-expiring acme-shared acme-terms-agreed
    allow-local-bind auth-log-format auth-proxy auth-tls-default-secret
    bind-ip-addr-healthz bind-ip-addr-prometheus bind-ip-addr-stats bind-ip-addr-tcp
    close-sessions-duration config-defaults config-frontend config-frontend-early
    config-frontend-late config-global config-peers config-proxy config-sections
    config-tcp cookie-key cpu-map create-default-frontends cross-namespace-secrets-ca
    cross-namespace-secrets-crt cross-namespace-secrets-passwd cross-namespace-services
    default-backend-redirect default-backend-redirect-code dns-accepted-payload-size
    dns-cluster-domain dns-hold-obsolete dns-hold-valid dns-resolvers dns-timeout-retry
    drain-support drain-support-redispatch external-has-lua fcgi-enabled-apps forwardfor
    fronting-proxy-port groupname healthz-port http-frontends http-log-format
    http-passthrough-port http-port http-response-404 http-response-prometheus-root
    https-log-format https-port https-to-http-port load-server-state
    master-exit-on-failure max-connections modsecurity-args modsecurity-endpoints
    modsecurity-timeout-connect modsecurity-timeout-hello modsecurity-timeout-idle
    modsecurity-timeout-processing modsecurity-timeout-server modsecurity-use-coraza
    nbthread no-redirect-locations no-tls-redirect-locations original-forwarded-for-hdr
    path-type-order peers-name peers-port peers-table-global prometheus-port real-ip-hdr
    ssl-dh-default-max-size ssl-dh-param ssl-engine ssl-headers-prefix ssl-mode-async
    ssl-options ssl-redirect-code stats-auth stats-port stats-proxy-protocol
    stats-ssl-cert strict-host syslog-endpoint syslog-format syslog-length syslog-tag
    tcp-log-format timeout-client timeout-client-fin timeout-stop use-chroot use-cpu-map
    use-haproxy-user username worker-max-reloads
"""
)
_INGRESS_FRONTEND = _keys(
    """
    bind-fronting-proxy bind-http bind-http-passthrough bind-https bind-ip-addr-http
    http-frontend http-passthrough redirect-from-code redirect-to-code
    use-forwarded-proto use-proxy-protocol
"""
)
_INGRESS_HOST = _keys(
    """
    acme-preferred-chain app-root auth-tls-error-page auth-tls-secret auth-tls-strict
    auth-tls-verify-client cert-signer http-response-421 http-response-495
    http-response-496 redirect-from redirect-from-regex server-alias server-alias-regex
    ssl-always-add-https ssl-always-follow-redirect ssl-cipher-suites ssl-ciphers
    ssl-options-host ssl-passthrough ssl-passthrough-http-port tls-alpn var-namespace
"""
)
_INGRESS_BACKEND = _keys(
    """
    affinity agent-check-addr agent-check-interval agent-check-port agent-check-send
    allowlist-source-header allowlist-source-range assign-backend-server-id
    auth-external-placement auth-headers-fail auth-headers-request auth-headers-succeed
    auth-method auth-realm auth-secret auth-signin auth-tls-cert-header auth-url
    backend-check-interval backend-protocol backend-server-naming
    backend-server-slots-increment balance-algorithm blue-green-balance
    blue-green-cookie blue-green-deploy blue-green-header blue-green-mode config-backend
    config-backend-early config-backend-late cors-allow-credentials cors-allow-headers
    cors-allow-methods cors-allow-origin cors-allow-origin-regex cors-enable
    cors-expose-headers cors-max-age denylist-source-range dynamic-scaling fcgi-app
    headers health-check-addr health-check-fall-count health-check-interval
    health-check-port health-check-rise-count health-check-uri hsts
    hsts-include-subdomains hsts-max-age hsts-preload http-header-match
    http-header-match-regex http-response-200 http-response-400 http-response-401
    http-response-403 http-response-405 http-response-407 http-response-408
    http-response-410 http-response-413 http-response-425 http-response-429
    http-response-500 http-response-501 http-response-502 http-response-503
    http-response-504 initial-weight limit-connections limit-rps limit-whitelist
    maxconn-server maxqueue-server oauth oauth-headers oauth-uri-prefix path-type
    peers-table proxy-body-size proxy-protocol redirect-to request-add-headers
    request-del-headers request-set-headers response-add-headers response-del-headers
    response-set-headers rewrite-target secure-backends secure-crt-secret secure-sni
    secure-verify-ca-secret secure-verify-hostname service-upstream
    session-cookie-domain session-cookie-dynamic session-cookie-keywords
    session-cookie-name session-cookie-preserve session-cookie-same-site
    session-cookie-shared session-cookie-strategy session-cookie-value-strategy
    slots-min-free source-address-intf ssl-cipher-suites-backend ssl-ciphers-backend
    ssl-fingerprint-lower ssl-fingerprint-sha2-bits ssl-options-backend ssl-redirect
    timeout-connect timeout-http-request timeout-keep-alive timeout-queue timeout-server
    timeout-server-fin timeout-tunnel use-resolver waf waf-mode whitelist-source-range
"""
)
_INGRESS_TCP = _keys(
    """
    config-tcp-service tcp-service-log-format tcp-service-port
    tcp-service-proxy-protocol
"""
)

#: haproxy-ingress (jcmoraisjr): key → scope (global and frontend: ConfigMap only; host,
#: backend, tcp: ConfigMap or Ingress; backend also a Service).
HAPROXY_INGRESS: dict[str, str] = {
    **dict.fromkeys(_INGRESS_GLOBAL, "global"),
    **dict.fromkeys(_INGRESS_FRONTEND, "frontend"),
    **dict.fromkeys(_INGRESS_HOST, "host"),
    **dict.fromkeys(_INGRESS_BACKEND, "backend"),
    **dict.fromkeys(_INGRESS_TCP, "tcp"),
}

PREFIXES = {
    "haproxytech": ("haproxy.org/", "haproxy.com/", "ingress.kubernetes.io/"),
    "haproxy-ingress": ("haproxy-ingress.github.io/", "ingress.kubernetes.io/"),
}

#: Keys written for the other controller (or for neither): the key that does it here.
REAL_KEY = {
    "haproxytech": {
        "balance-algorithm": "load-balance",
        "option-http-server-close": "http-server-close",
        "cookie": "cookie-persistence",
        "affinity": "cookie-persistence",
        "session-cookie-name": "cookie-persistence",
        "rate-limit-sessions": "rate-limit-requests",
        "limit-rps": "rate-limit-requests",
        "limit-connections": "pod-maxconn",
        "max-connections": "maxconn",
        "health-check-interval": "check-interval",
        "backend-check-interval": "check-interval",
        "timeout-keep-alive": "timeout-http-keep-alive",
        "whitelist-source-range": "allow-list",
    },
    "haproxy-ingress": {
        "load-balance": "balance-algorithm",
        "option-http-server-close": "config-defaults",
        "http-server-close": "config-defaults",
        "cookie": "affinity",
        "cookie-persistence": "affinity",
        "rate-limit-sessions": "limit-connections",
        "rate-limit-requests": "limit-rps",
        "check-interval": "backend-check-interval",
        "maxconn": "max-connections",
        "pod-maxconn": "maxconn-server",
        "timeout-http-keep-alive": "timeout-keep-alive",
        "allow-list": "allowlist-source-range",
        "deny-list": "denylist-source-range",
    },
}


#: The Path HAProxy gives the cookie it inserts (``cookie NAME insert``): always ``path=/``,
#: so its own cookie covers every path. An ``attr "Path=/x"`` on the cookie line is written
#: after it ("NAME=s1; path=/; Path=/x"), and a browser keeps the last Path (RFC 6265 §5.3
#: step 7). haproxytech has no key for either (its cookie keys: cookie-persistence,
#: cookie-persistence-no-dynamic, cookie-indirect, cookie-nocache, cookie-type);
#: haproxy-ingress passes ``session-cookie-keywords`` (default, insert strategy: "indirect
#: nocache httponly", pkg/converters/ingress/annotations/backend.go) onto the cookie line.
INSERTED_COOKIE_PATH = "/"
INSERTED_COOKIE_PATH_SOURCE = (
    "measured on HAProxy 2.6 in the lab: 'cookie SERVERID insert indirect nocache' set "
    "'SERVERID=s1; path=/'; with attr \"Path=/api\" it set 'SERVERID=s1; path=/; Path=/api' "
    "(tests/integration/test_affinity_behaviour_lab.py)"
)
