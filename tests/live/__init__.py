"""The live contract suite: the ten operations against your account (``--live``) or the emulator."""
