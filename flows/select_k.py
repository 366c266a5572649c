"""Entrypoint ``flows/select_k.py:select_k`` of prefect.yaml: re-exports the packaged flow."""

from streamgmm.orchestration.select_k import select_k, main  # noqa: F401

if __name__ == "__main__":  # python -m flows.select_k CONFIG [--quiet]
    raise SystemExit(main())
