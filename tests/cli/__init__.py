"""The exotel-trunking command: in process, and as the installed script in child processes."""
