"""The operator console (``python -m ground console``): a full-screen terminal UI on the ground
station, or on an archived pass replayed. docs/console.md."""
