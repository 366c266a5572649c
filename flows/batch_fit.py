"""Entrypoint ``flows/batch_fit.py:batch_fit`` of prefect.yaml: re-exports the packaged flow."""

if __name__ == "__main__":  # python -m flows.batch_fit CONFIG [--quiet]
    # Prefect's API server starts before the flow module (and Prefect) is imported.
    from streamgmm.orchestration._server import run_flow_module

    raise SystemExit(run_flow_module("streamgmm.orchestration.batch_fit"))

from streamgmm.orchestration.batch_fit import batch_fit, main  # noqa: E402, F401
