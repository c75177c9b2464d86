"""The emulator: its state, its two dialects, its served form, its command and its pytest plugin."""
