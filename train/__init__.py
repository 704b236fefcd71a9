"""Quantization-aware training (PyTorch) for hwgen's low-precision RNN / GRU / LSTM models.

``train.quantizers`` holds the weight quantizers of Ott et al. (2016) (docs/training.md) with
straight-through gradients, shadow-weight clipping and the integer codes export reads;
``train.cells`` holds the QuantRNN / QuantGRU / QuantLSTM layers built on them.
"""
