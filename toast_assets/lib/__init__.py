"""Small shared building blocks: retries with backoff and structured JSON log lines."""
