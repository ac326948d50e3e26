"""The flight image: a signed, reproducible bundle of the flight software (docs/image.md), its
verification, its installation into A/B slots of a root tree, and the trial and rollback of a new
version."""
