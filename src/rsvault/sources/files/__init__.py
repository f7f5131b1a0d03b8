"""Files and folders on this machine: walking, metadata, and a safe restore target."""
