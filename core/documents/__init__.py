"""Documents: validate, extract through Moonshot's files API, store, and bring into answers."""
