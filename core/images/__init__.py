"""Images users send: checked and stored once, shown to Kimi's vision models as ``image_url``
parts within a token budget, or read as text (OCR) when no vision model is served."""
