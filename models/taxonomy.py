"""The default taxonomy: the categories the bundled data, the seed corpus and user reports name.

A model scores whatever labels its training data has (a version's ``metadata.json`` says which);
this is the list the project's own data, generators and report reasons are written against.
"""

from __future__ import annotations

TAXONOMY: tuple[str, ...] = ("spam", "fraud", "sexual", "gambling", "extremism", "hate")
