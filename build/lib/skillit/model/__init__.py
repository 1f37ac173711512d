"""Models: a small decoder-only GPT, an optional Hugging Face backend, and the LightningModule."""
