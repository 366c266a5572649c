"""Entrypoint ``flows/online_update.py:online_update`` of prefect.yaml: re-exports the packaged flow."""

from streamgmm.orchestration.online_update import online_update, main  # noqa: F401

if __name__ == "__main__":  # python -m flows.online_update CONFIG [--quiet]
    raise SystemExit(main())
