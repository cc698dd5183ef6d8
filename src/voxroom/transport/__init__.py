"""How frames enter and leave a session. `base` is the protocol; `p2p` the aiortc default."""
