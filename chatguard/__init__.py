"""The ``chatguard`` command, the settings every package reads, and the commands over models
(``keys``, ``classify``) and the broker's ACLs; development tools live in ``devtools``."""
