"""What a fine-tune is asked (Plan) and what it answers (Score, or a failure of the
candidate's or the environment's), and how scores are measured and judged: metrics,
standard errors, the constant predictor. Torch-free: the engine and the model side share it.
"""
