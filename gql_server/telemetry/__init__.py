"""What an operator watches the server through: Prometheus metrics (metrics.py) and
OpenTelemetry traces (tracing.py). docs/operations.md says what each is for."""
