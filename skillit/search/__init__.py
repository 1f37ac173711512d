"""Offline mixture search (RegMix-style): sample mixtures, train a swarm of short proxy runs,
regress the target loss on the mixture, and propose the mixture that minimises the prediction
under a repetition limit. Pure numpy but the swarm (swarm.py), which trains through the bench
runner."""
