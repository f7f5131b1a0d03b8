"""rsvault: self-hosted backup for virtual machines and Linux servers."""

__version__ = "0.1.0"
