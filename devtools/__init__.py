"""Development tools: the local Kafka broker, sample traffic, a topic printer, data generators.

Installed with the rest (``chatguard broker|produce|tail`` work from any install) but never
imported by a worker: ``streams``, ``models`` and ``training`` do not depend on this package.
"""
