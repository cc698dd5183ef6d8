"""Model backends behind four base classes (VAD, STT, LLM, TTS); see `base`."""
