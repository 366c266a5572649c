"""Entrypoint ``flows/batch_fit.py:batch_fit`` of prefect.yaml: re-exports the packaged flow."""

from streamgmm.orchestration.batch_fit import batch_fit, main  # noqa: F401

if __name__ == "__main__":  # python -m flows.batch_fit CONFIG [--quiet]
    raise SystemExit(main())
