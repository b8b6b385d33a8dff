"""Evaluation: top-1, per-class and Many / Medium / Few accuracy, prediction (multi-expert too), the teacher-fit
diagnosis and the feature / gradient / calibration analyses."""
