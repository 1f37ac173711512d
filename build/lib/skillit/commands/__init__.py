"""One module per `skillit` verb; see skillit/cli.py for the contract."""
