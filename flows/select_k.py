"""Entrypoint ``flows/select_k.py:select_k`` of prefect.yaml: re-exports the packaged flow."""

if __name__ == "__main__":  # python -m flows.select_k CONFIG [--quiet]
    # Prefect's API server starts before the flow module (and Prefect) is imported.
    from streamgmm.orchestration._server import run_flow_module

    raise SystemExit(run_flow_module("streamgmm.orchestration.select_k"))

from streamgmm.orchestration.select_k import select_k, main  # noqa: E402, F401
