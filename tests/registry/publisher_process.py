"""A real publisher process for the concurrency and crash tests.

Usage::

    python publisher_process.py ROOT NAME COUNT TAG [--go FILE] [--pause-at EVENT]

Publishes COUNT versions of NAME, each tagged ``{"publisher": TAG, "index": i}``
in its training config. With ``--go FILE`` it prints ``ready`` and waits for
FILE to exist before starting, so two processes start at the same moment.
With ``--pause-at EVENT`` the last publish stops at that step of the publish
protocol (see ``streamgmm.registry.publish._hook``), prints ``paused`` and
sleeps, waiting to be killed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from streamgmm.core.params import MixtureParameters
from streamgmm.registry import ModelRegistry, publish


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("name")
    parser.add_argument("count", type=int)
    parser.add_argument("tag")
    parser.add_argument("--go")
    parser.add_argument("--pause-at")
    args = parser.parse_args()

    registry = ModelRegistry(args.root)
    if args.go:
        print("ready", flush=True)
        while not Path(args.go).exists():
            time.sleep(0.005)
    for index in range(args.count):
        if args.pause_at and index == args.count - 1:
            publish._hook = _pause_at(args.pause_at)
        rng = np.random.default_rng([index, len(args.tag)])
        parameters = MixtureParameters.from_covariances(
            rng.dirichlet(np.ones(2)), rng.normal(size=(2, 3)), rng.uniform(0.5, 2, (2, 3)), "diag"
        )
        registry.publish(
            args.name, parameters, training_config={"publisher": args.tag, "index": index}
        )


def _pause_at(target: str):
    def hook(event: str, path: Path) -> None:
        if event == target:
            print(f"paused {path}", flush=True)
            time.sleep(300)  # the test kills us here
            sys.exit("not killed")

    return hook


if __name__ == "__main__":
    main()
