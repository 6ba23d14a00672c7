"""The metric rules of contract/analytics-semantics.md."""
