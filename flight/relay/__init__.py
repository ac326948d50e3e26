"""Store-and-forward of files across the laser mesh: the contact plan, routing, and the relay."""
