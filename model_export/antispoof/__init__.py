"""Anti-spoofing: the LBP-SVM trained and exported (`train-antispoof`) and its evaluation (`evaluate-antispoof`)."""
