"""Synthetic skill generators (LEGO reasoning chains, multi-digit addition), usable on their own."""
