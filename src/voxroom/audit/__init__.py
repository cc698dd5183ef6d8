"""The audit trail: typed session events, their log, stores, recordings, cost, integrity."""
