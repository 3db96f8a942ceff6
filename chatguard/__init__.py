"""Command line and local development tools for chatguard."""
