"""Product feeds → Product[] + Rejection[] (Google Merchant Center columns)."""
