"""The ``roadedge`` command: run profiles in one process, the demo, and the project's tools.

ROS is imported only by the subcommands that need it, so ``roadedge --help`` and the
offline tools work without a ROS environment.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from roadedge.config import ConfigError

#: Subcommands implemented elsewhere: name -> ("module:function", help). Each function
#: takes the remaining argv and returns an exit code.
DELEGATED: dict[str, tuple[str, str]] = {
    "hil": (
        "roadedge.ros.hil_runner:hil_main",
        "run a HIL scenario (hil/scenarios/*.yaml) and print its verdict",
    ),
    "record": ("roadedge.bag.recorder:record_main", "record topics to a rosbag2 (MCAP or sqlite3)"),
    "replay": (
        "roadedge.bag.replay:replay_main",
        "replay a rosbag2 with /clock, rate, offset, filters, remaps",
    ),
    "regress": (
        "roadedge.bag.regression:regress_main",
        "record a HIL scenario run, replay its inputs through the stack, compare with golden outputs",
    ),
    "v2x-pki": ("roadedge.v2x.pki:pki_main", "generate keys and certificates of a V2X test PKI"),
}


def _run(args: argparse.Namespace) -> int:
    from roadedge.profiles import load_profile
    from roadedge.ros.runner import run_profile

    profile = load_profile(args.profile)
    deployment = tuple(Path(p) for p in args.params_file) if args.params_file else None
    names = ", ".join(n.name for n in profile.nodes)
    print(f"roadedge run {profile.name}: {len(profile.nodes)} nodes ({names})")
    return run_profile(
        profile,
        duration=args.duration,
        deployment=deployment,
        use_sim_time=args.use_sim_time,
        threads=args.threads,
    )


def _demo(args: argparse.Namespace) -> int:
    return _delegate("hil")(["--default", *(["--quiet"] if args.quiet else [])])


def _delegate(name: str) -> Callable[[list[str]], int]:
    target, _ = DELEGATED[name]
    module_name, _, func = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            raise SystemExit(f"roadedge {name}: not available in this installation ({err})") from err
        raise
    function: Callable[[list[str]], int] = getattr(module, func)
    return function


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roadedge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a profile's nodes in one process (config/profiles/<profile>.yaml)")
    run.add_argument(
        "profile", help="profile name (e.g. slice, hil, vehicle, roadside) or path to a profile YAML"
    )
    run.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    run.add_argument(
        "--params-file", action="append", default=[], help="deployment parameter file replacing the profile's"
    )
    run.add_argument("--use-sim-time", action="store_true", help="nodes follow /clock")
    run.add_argument(
        "--threads", type=int, default=1, help="executor threads (1: single-threaded, as under launch)"
    )
    run.set_defaults(func=_run)

    demo = sub.add_parser("demo", help="the default HIL scenario (what `make demo` runs)")
    demo.add_argument("--quiet", action="store_true", help="only the verdict table")
    demo.set_defaults(func=_demo)

    for name, (_, help_text) in DELEGATED.items():
        delegated = sub.add_parser(name, help=help_text, add_help=False)
        delegated.add_argument("rest", nargs=argparse.REMAINDER)
        delegated.set_defaults(func=lambda a, n=name: _delegate(n)(a.rest))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:  # their own parsers take every remaining argument
        return _delegate(argv[0])(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as err:
        print(f"roadedge: configuration error: {err}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
