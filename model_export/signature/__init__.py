"""Signature verification: the CNN trained and exported (`train-signature`) and its evaluation (`evaluate-signature`)."""
