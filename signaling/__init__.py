"""Messages and sessions: the typed protocol, join tokens, the WebSocket edge and the room bus.

Knows nothing of court rules: where it must ask "may this person join?", it calls a policy handed in.
"""
