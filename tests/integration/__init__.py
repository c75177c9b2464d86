"""Issue 4's acceptance: the SDK running against the emulator, in process and over HTTP."""
