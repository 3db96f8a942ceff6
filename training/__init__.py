"""From labelled data to an evaluated, versioned, promoted model."""
