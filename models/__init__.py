"""The moderation model and what decides with it: normalizer, features, classifier, policy,
rules and learned lists, and the signed, versioned registry that stores any ``Scorer``.
Pure Python, no Kafka."""
