"""aiortc pieces every WebRTC transport shares (peer-to-peer and Janus): the paced outbound
audio and video tracks, Opus with DTX, inbound decoding, and all process-wide aiortc tuning."""
