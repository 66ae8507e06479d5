"""The commands of the command line, one module each; ``wsdoctor.cli`` dispatches."""
