"""Entrypoint ``flows/online_update.py:online_update`` of prefect.yaml: re-exports the packaged flow."""

if __name__ == "__main__":  # python -m flows.online_update CONFIG [--quiet]
    # Prefect's API server starts before the flow module (and Prefect) is imported.
    from streamgmm.orchestration._server import run_flow_module

    raise SystemExit(run_flow_module("streamgmm.orchestration.online_update"))

from streamgmm.orchestration.online_update import online_update, main  # noqa: E402, F401
