"""Operator accounts: one store for the ground station, the web mission control and every client
(docs/security.md, Accounts)."""
