"""Audio frames and conversions: pure functions and small classes, no I/O on the media path."""
