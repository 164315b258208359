"""Gas station till <-> Megainsight loyalty (scan-qr)."""
