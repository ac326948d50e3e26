"""The web mission control: NASA Open MCT served with the project's plugins, on the ground station
(docs/web.md)."""
