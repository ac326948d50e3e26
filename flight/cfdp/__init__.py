"""CCSDS File Delivery Protocol (727.0-B-5) entity: PDUs, transactions, file store, persistence."""
