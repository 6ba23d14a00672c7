"""The metric rules of shared/analytics-semantics.md."""
