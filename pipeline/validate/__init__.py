"""Validation suites: the pipeline's estimators run on many synthetic districts and
checked against the planted truth (``tierwise validate --suite NAME``)."""
