"""Shipping a pruned model: export as a Hugging Face checkpoint with its card, push to
the Hub, time every depth, pick one by latency or score.
"""
