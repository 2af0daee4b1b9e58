"""The domain layer below everything: the error tree every layer raises (errors.py). It
imports nothing of ours; loaders, index, engine and server all import it."""
