"""Clinic cash desk <-> TM:MIS: invoices, payments, e-receipts."""
