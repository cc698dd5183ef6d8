"""The conversation engine: turn-taking, replies, and the public `Agent` class."""
