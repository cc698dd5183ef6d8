"""Jobs and dispatch: who runs a session, and where.

`voxroom dev` runs every session in its own process (`inprocess`); a fleet hands jobs to
`voxroom worker` processes through Redis (`redis_dispatch` on the API side, `runner` on the
worker side). The HTTP API sees only the two small interfaces in `dispatch`.
"""
