"""How a response body is quoted in findings: an HTML page by its title and visible text."""

from __future__ import annotations

import pytest

from wsdoctor.httpbody import body_text

CLOUDFLARE_LIKE = (
    "<!DOCTYPE html><html lang=\"en-US\"><head><title>Access denied | chat.example used "
    "Cloudflare to restrict access</title><meta charset=\"UTF-8\"><style>body{font:13px "
    "Arial}</style><script>window._cf = {a: 1 < 2};</script></head><body><div id=\"cf\">"
    "<h1>Sorry, you have been blocked</h1><p>You are unable to access &amp; reach "
    "chat.example</p><!-- ray id --></div></body></html>")


@pytest.mark.parametrize(("body", "quoted"), [
    ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
     "Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
     "502 Bad Gateway nginx"),
    (CLOUDFLARE_LIKE, "Access denied | chat.example used Cloudflare to restrict access: Sorry, "
     "you have been blocked You are unable to access & reach chat.example"),
    ("<html><head><title>Oops</title></head><body><p>the page was cut sh", "Oops: the page "
     "was cut sh"),
    ("No required SSL certificate was sent\r\n", "No required SSL certificate was sent"),
    ("a < b and c > d", "a < b and c > d"),
])
def test_html_pages_are_quoted_by_their_visible_text(body: str, quoted: str) -> None:
    """Given an error page, the quote is what a browser shows (title, then text), with no
    markup, script or style, entities decoded; other bodies only lose repeated whitespace."""
    assert body_text(body) == quoted


def test_the_quote_is_bounded() -> None:
    """A long page is cut at the limit with an ellipsis."""
    quoted = body_text("<html><body><p>" + "word " * 500 + "</p></body></html>", 50)
    assert len(quoted) == 50 and quoted.endswith("…")
