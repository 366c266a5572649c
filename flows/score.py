"""Entrypoint ``flows/score.py:score`` of prefect.yaml: re-exports the packaged flow."""

if __name__ == "__main__":  # python -m flows.score CONFIG [--quiet]
    # Prefect's API server starts before the flow module (and Prefect) is imported.
    from streamgmm.orchestration._server import run_flow_module

    raise SystemExit(run_flow_module("streamgmm.orchestration.score"))

from streamgmm.orchestration.score import score, main  # noqa: E402, F401
