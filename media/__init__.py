"""Packets: the SFU that forwards RTP without decoding, keyframes, NACK cache, speaker levels (issue 3)."""
