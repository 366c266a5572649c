"""Entrypoint ``flows/score.py:score`` of prefect.yaml: re-exports the packaged flow."""

from streamgmm.orchestration.score import score, main  # noqa: F401

if __name__ == "__main__":  # python -m flows.score CONFIG [--quiet]
    raise SystemExit(main())
