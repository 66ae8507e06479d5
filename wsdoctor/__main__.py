"""``python -m wsdoctor``."""

from wsdoctor.cli import run

run()
