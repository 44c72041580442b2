"""The model side, all torch: the evaluator (fine-tune and score a model with a set of
layers removed), the training loop and its objectives, distillation, layer surgery, model
folders and block influence. Knows nothing of search order or the cache.
"""
