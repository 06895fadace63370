"""The write side: intake, routing, workflow, deadlines, moderation, access, publication.

Domain functions take a session and never commit: the handler or worker owns the transaction.
"""
