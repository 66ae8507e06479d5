"""What the hostile-output tests assert of every output: no secret the user gave, in any
form a hostile server echoes it (raw, percent-encoded, base64, JSON-escaped, a Basic
credential decoded, its first or last ten characters), and no raw character a terminal acts
on or XML cannot carry."""

from __future__ import annotations

import re

from wsdoctor.lab.echoing import encodings

#: What a terminal acts on or XML cannot carry, raw.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                 "\ufffe\uffff]")


class Secrets:
    """The secrets a test gives wsdoctor, and the check that an output holds none of them."""

    def __init__(self, *secrets: str, echoed: tuple[str, ...] = ()) -> None:
        """``secrets`` in every form and cut at either end; ``echoed`` (whole header values
        such as ``Bearer TOKEN``) in every form, their cut ends being their secrets'."""
        self.forms = sorted({form for secret in secrets
                             for form in [*encodings(secret), secret[:10], secret[-10:]]}
                            | {form for value in echoed for form in encodings(value)})

    def assert_clean(self, text: str, where: str) -> None:
        """No secret in any echoed form, no raw escape or XML-invalid character."""
        leaked = [form for form in self.forms if form in text]
        assert not leaked, f"{where} leaks {leaked}"
        raw = RAW.search(text)
        assert raw is None, (f"{where} has a raw {raw.group()!r} at {raw.start()}: "
                             f"{text[max(raw.start() - 80, 0):raw.start()]!r}")
