"""Custom TFX components and the module functions TFX calls by import path."""
