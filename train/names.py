"""The trainer's choices by name, importable without torch (the command line and `hwgen sweep`
check a request against them before anything heavy loads). train/quantizers.py registers exactly
these quantizers (its import checks it)."""

#: weight quantizers (train/quantizers.py; "float": none)
QUANTIZERS = ("float", "binary", "binary_stochastic", "ternary", "ternary_stochastic", "pow2_ternary",
              "exponential", "exponential_stochastic")
#: recurrent cells (train/cells.py)
CELLS = ("rnn", "gru", "lstm")
#: datasets (train/datasets.py's DATASETS describes each)
DATASETS = ("ptb-char", "wiki-char", "japanese-vowels", "mnist-seq", "synthetic-text", "synthetic-seq")
#: training set-ups (train/presets.py)
PRESETS = ("ott2016", "hard")
