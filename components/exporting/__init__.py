"""Inference exports (book 6.3.2): TFLite for devices, TF.js for browsers, behind a parity gate."""
