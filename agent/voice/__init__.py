"""Speech in and out for the voice channel: audio formats, STT and TTS adapters."""
