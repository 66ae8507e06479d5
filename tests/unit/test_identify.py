"""Fingerprints claim only what the evidence shows."""

from wsdoctor.fingerprints import identify


def test_plain_nginx_is_nginx() -> None:
    """A Server: nginx header names nginx, not a Kubernetes controller."""
    assert identify([("Server", "nginx/1.22.1")]) == ["nginx"]


def test_the_default_backend_page_names_ingress_nginx_first() -> None:
    """ingress-nginx's default backend page is the specific tell, listed before nginx."""
    found = identify([("Server", "nginx")], "default backend - 404")
    assert found == ["ingress-nginx default backend", "nginx"]
