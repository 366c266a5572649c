"""Thin deployment entrypoints named by ``prefect.yaml`` (``flows/batch_fit.py:batch_fit``).

Each module re-exports one flow of :mod:`streamgmm.orchestration`, where the code
lives (and ships in the wheel); ``python -m flows.<name> CONFIG`` runs it from the
repository root, the same as ``streamgmm <command> CONFIG`` from anywhere.
"""
