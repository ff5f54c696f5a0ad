"""Floor 4, what the chapters use to show things: figures in one colour per model, the paper's
result figures, the interactive explorers and the warm-start figures."""
