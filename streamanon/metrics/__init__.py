"""Evaluation of anonymized faces: independent judges, per-face metrics, video metrics, reports, benchmark.

``streamanon eval`` (``metrics.cli``) is the entry point; see ../shared/DESIGN.md section 5 for the contract.
"""
