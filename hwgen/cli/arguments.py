"""The arguments of `hwgen train`, `hwgen export` and `hwgen build` (argparse only).

Kept apart from the commands' work so that building the command line's parser (`hwgen --help`,
`hwgen --version`) imports neither torch nor the generator.
"""

from __future__ import annotations

import argparse

from train.names import CELLS, DATASETS as TRAIN_DATASETS, PRESETS, QUANTIZERS as TRAIN_QUANTIZERS

from ..spec.activation import DEFAULT_TABLE_BITS  # the spec's default table depth (numpy only)


def add_train_arguments(s) -> None:
    """`hwgen train`'s options (also checked by `hwgen sweep` for every training point)."""
    g = s.add_argument_group("data")
    g.add_argument("--dataset", metavar="NAME", help="one of: " + ", ".join(TRAIN_DATASETS))
    g.add_argument("--limit", type=int, metavar="N", help="truncate the dataset (for quick runs)")
    g = s.add_argument_group("model")
    g.add_argument("--preset", choices=PRESETS,
                   help="ott2016: the reference implementation's set-up (smooth units, BatchNorm on "
                        "the input with gamma 0.1, one bias per gate, float output layer; also the "
                        "defaults when no preset is named); hard: the hardware's clamp units, no "
                        "BatchNorm, everything quantized. A flag contradicting a named preset is refused")
    g.add_argument("--cell", choices=CELLS, help="default gru")
    g.add_argument("--hidden", action="append", metavar="N[,N...]",
                   help="hidden size; repeat it or give a comma list for a stack (default 128)")
    g.add_argument("--embed", type=int, metavar="DIM",
                   help="token embedding size for text; 0 = one-hot into the first layer (default 0)")
    g.add_argument("--activation", choices=("hard", "smooth"),
                   help="smooth (sigmoid/tanh, table units in hardware; default) or hard (the "
                        "hardware's clamp units)")
    g.add_argument("--nonlinearity", choices=("tanh", "relu"), help="vanilla RNN only (default tanh)")
    g.add_argument("--quantizer", metavar="NAME", help="weight quantizer: " + ", ".join(TRAIN_QUANTIZERS)
                   + " (default float)")
    g.add_argument("--int-bits", type=int, metavar="I", help="pow2_ternary integer bits (default 0)")
    g.add_argument("--frac-bits", type=int, metavar="F", help="pow2_ternary fraction bits (default 1)")
    g.add_argument("--k-min", type=int, metavar="K", help="exponential: smallest exponent (default -22)")
    g.add_argument("--k-max", type=int, metavar="K", help="exponential: largest exponent (default 9)")
    for what, doc in (("input", "input weights W_ih"), ("recurrent", "recurrent weights W_hh"),
                      ("bias", "biases")):
        g.add_argument(f"--no-quantize-{what}", action="store_true", help=f"keep {doc} full precision")
    q = g.add_mutually_exclusive_group()
    q.add_argument("--quantize-output", dest="quantize_output", action="store_const", const=True,
                   help="quantize the output layer too (default: full precision, exported as "
                        "fixed-point codes)")
    q.add_argument("--no-quantize-output", dest="quantize_output", action="store_const", const=False,
                   help="keep the output layer full precision (the default)")
    g.add_argument("--batch-norm", nargs="?", const="input", choices=("input", "input_product", "off"),
                   help="BatchNorm on each layer's input path, not the recurrent one: 'input' (the "
                        "reference's, the default) normalises x, 'input_product' normalises W_ih x "
                        "per row, 'off'")
    g.add_argument("--bn-gamma", type=float, metavar="G",
                   help="BatchNorm's initial scale (default 0.1, the reference's)")
    g.add_argument("--bias", choices=("per_gate", "pair"),
                   help="per_gate: one bias per gate on the input side (the reference's; default); "
                        "pair: torch's b_ih and b_hh")
    g.add_argument("--init", choices=("glorot", "torch"),
                   help="weight initialisation: glorot (U(±W0), ternary's W0; biases 0) or torch's (default glorot)")
    g = s.add_argument_group("training")
    g.add_argument("--epochs", type=int, metavar="N", help="epochs (with --steps: whichever ends first)")
    g.add_argument("--steps", type=int, metavar="N", help="optimizer steps at most")
    g.add_argument("--batch", type=int, metavar="N", help="batch size (default 32)")
    g.add_argument("--bptt", type=int, metavar="T", help="truncated-BPTT length for text (default 50)")
    g.add_argument("--lr", type=float, help="Adam learning rate (default 0.002)")
    g.add_argument("--lr-scale", choices=("none", "glorot"),
                   help="glorot: each quantized tensor's rate times 1/sqrt(1.5/(fan_in+fan_out)), "
                        "the reference's W_LR_scale (default none)")
    g.add_argument("--schedule", choices=("plateau", "cosine", "none"),
                   help="learning-rate schedule: plateau (halve after --lr-patience evaluations "
                        "without improvement; default), cosine over the step budget, none")
    g.add_argument("--lr-factor", type=float, metavar="F", help="plateau: factor per cut (default 0.5)")
    g.add_argument("--lr-patience", type=int, metavar="N",
                   help="plateau: evaluations without improvement before a cut (default 1)")
    g.add_argument("--patience", type=int, metavar="N",
                   help="early stopping: stop after N evaluations without a better valid metric, "
                        "0 = never (default 4)")
    g.add_argument("--weight-decay", type=float, metavar="W",
                   help="Adam weight decay of the full-precision tensors (default 0)")
    g.add_argument("--decay-quantized", action="store_const", const=True,
                   help="apply --weight-decay to the quantized tensors' shadow weights too")
    g.add_argument("--clip", type=float, help="gradient-norm clipping, 0 = off (default 1.0)")
    g.add_argument("--eval-every", type=int, metavar="N", help="evaluate every N steps (default: each epoch)")
    g.add_argument("--eval-batch", type=int, metavar="N",
                   help="lanes (text) or sequences per call when evaluating (default 128)")
    g.add_argument("--reset-every", type=int, metavar="N",
                   help="text: reset the carried state to zero every N chunks, 0 = each epoch only (default 20)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")
    g.add_argument("--device", metavar="DEV", help="cpu (default) or cuda[:N]")
    g = s.add_argument_group("output")
    g.add_argument("--out", default="model.pt", metavar="PATH", help="best checkpoint (default model.pt)")
    g.add_argument("--resume", action="store_true", help="continue from OUT.last.pt (budget may grow)")
    g.add_argument("--force", action="store_true", help="replace an existing OUT (and OUT.last.pt)")
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-evaluation lines")


def train_parser() -> argparse.ArgumentParser:
    """A parser of `hwgen train`'s arguments alone (what `hwgen sweep` passes it)."""
    p = argparse.ArgumentParser(prog="hwgen train", exit_on_error=False)
    add_train_arguments(p)
    return p


def add_export_arguments(parser) -> None:
    """The export options, shared by `hwgen export` and `hwgen build` (for model.pt inputs)."""
    g = parser.add_argument_group("export (model.pt inputs; docs/export.md)")
    g.add_argument("--width", type=int, default=16, help="total bits of each signal (default 16)")
    g.add_argument("--format", action="append", metavar="SIGNAL=FMT|WIDTH",
                   help="override one signal's format, e.g. L0.preact=s12.8 or out=12 (repeatable)")
    g.add_argument("--headroom", type=float, default=1.25,
                   help="formats cover this times the largest calibration value (default 1.25)")
    g.add_argument("--scale", choices=("auto", "fixed", "pow2"), default="auto",
                   help="binary/ternary scale: per-row fixed-point constant, or rounded to a power of "
                        "two; auto: the smaller measured error (default)")
    g.add_argument("--scale-bits", type=int, default=8, help="significant bits of a fixed scale (default 8)")
    g.add_argument("--exp-window", metavar="LO:HI", help="power-of-two weights: exponents kept, e.g. -8:0 "
                                                         "(default: those in use)")
    g.add_argument("--weight-bits", type=int, default=8,
                   help="mantissa bits for tensors trained without a quantizer (default 8)")
    g.add_argument("--act-table-bits", type=int, default=DEFAULT_TABLE_BITS, metavar="B",
                   help=f"smooth sigmoid/tanh: tables of 2**B entries, each unit's own block RAM; the "
                        f"report gives their error and cost (default {DEFAULT_TABLE_BITS})")
    g.add_argument("--quantize", metavar="Q", help="plain torch models: post-training quantizer, one of "
                                                   "ternary, pow2-ternary, exponential, fixed:I.F")
    g.add_argument("--dataset", help="calibration/accuracy dataset (default: the model's own)")
    g.add_argument("--calibration", metavar="FILE", help="calibration inputs instead: .txt or .npy")
    g.add_argument("--calib-limit", type=int, default=20000, metavar="N",
                   help="train-split characters/sequences used to calibrate (default 20000)")
    g.add_argument("--eval-limit", type=int, default=20000, metavar="N",
                   help="valid-split characters/sequences for the report's accuracy; 0 skips (default 20000)")


def add_build_arguments(s) -> None:
    s.add_argument("model", help="model.pt (exported on the fly) or a QModel file (.qmodel.json)")
    s.add_argument("--target", default="ice40", help="device target (`hwgen targets`; default ice40 = ice40-up5k)")
    s.add_argument("-o", "--outdir", default="build",
                   help="output folder: new, empty or an earlier build's (whose files a build that "
                        "succeeds replaces; nothing else in it is touched) (default build)")
    s.add_argument("--force", action="store_true",
                   help="build into a non-empty folder that is not an earlier build, beside its "
                        "files (none of them is removed or overwritten)")
    s.add_argument("--lanes", default="auto", help="parallel weight lanes, or auto: the most that fit (default)")
    s.add_argument("--style", choices=("auto", "folded", "unrolled"), default="auto",
                   help="datapath style; auto unrolls small models when that fits (default)")
    s.add_argument("--min-steps-per-second", type=float, metavar="N",
                   help="a throughput floor: the smallest design that reaches N time steps per second at "
                        "--freq (with --pnr: at the measured Fmax), or a refusal naming the best reachable")
    s.add_argument("--objective", choices=("speed", "area"),
                   help="speed: the fastest design that fits; area: the smallest that meets "
                        "--min-steps-per-second (default: area with a floor, else speed)")
    s.add_argument("--output", choices=("logits", "hidden", "argmax"),
                   help="what the output stream carries (default: logits, or hidden without an output layer)")
    s.add_argument("--multipliers", default="auto",
                   help="gate-product multipliers; 0 forms the products on a serial shift-add unit; auto: 0 "
                        "where the datapath leaves the time, else 1 (default)")
    s.add_argument("--weights", choices=("auto", "rom", "spram"), default="auto",
                   help="where the layers' weight codes live: rom (block RAM, in the bitstream) or "
                        "spram (UltraPlus SPRAM, sent through the design's load port after each reset); "
                        "auto: rom, or spram when the codes do not fit block RAM (default)")
    s.add_argument("--input-reads", choices=("auto", "hot", "dense"), default="auto",
                   help="a one-hot token input: hot reads one chunk of its weight codes per row (fewer "
                        "cycles), dense every chunk (fewer logic cells); auto fits both and takes the "
                        "faster (default; docs/build.md)")
    s.add_argument("--state-reads", choices=("auto", "sparse", "dense"), default="auto",
                   help="sparse: each row of a layer reads only its non-zero recurrent weight codes (P a cycle, "
                        "with their columns); dense: every chunk; auto: sparse where that takes fewer cycles per "
                        "step (default; docs/build.md)")
    s.add_argument("--lane-products", choices=("auto", "logic", "dsp"), default="auto",
                   help="logic: each lane shifts and adds; dsp: lanes with power-of-two or fixed-point codes "
                        "form their products on the device's hard multipliers, one a lane (the UP5K's SB_MAC16: fewer "
                        "logic cells, so more lanes fit); auto: dsp where that fits a faster design "
                        "(default; docs/build.md)")
    s.add_argument("--pnr", action="store_true", help="place and route: Fmax, packed utilisation, steps per second")
    s.add_argument("--pnr-seeds", type=int, default=3, metavar="N",
                   help="place and route with nextpnr seeds 1..N: Fmax is their median, the spread is "
                        "reported, the best placement is kept (default 3)")
    s.add_argument("--freq", type=float, default=48.0, metavar="MHZ", help="place-and-route clock goal (default 48)")
    s.add_argument("--bitstream", action="store_true", help="a bitstream of the design behind a UART bridge")
    s.add_argument("--board", help="board for --bitstream (icebreaker, ulx3s)")
    s.add_argument("--board-clock", default="auto", metavar="MHZ",
                   help="the board top's clock: auto, the fastest the PLL makes under 90%% of the design's "
                        "median Fmax (default; the oscillator on boards without one), or MHZ")
    s.add_argument("--baud", type=int, metavar="N",
                   help="the board's UART rate in bits per second (default: the board's, 3000000 on the "
                        "iCEBreaker, 1000000 on the ULX3S)")
    s.add_argument("--check", action="store_true", help="simulate the built Verilog against the golden model")
    s.add_argument("--sim", choices=("icarus", "verilator"), default="icarus", help="simulator for --check")
    s.add_argument("--seed", type=int, default=0, help="seed of the test vectors (default 0)")
    s.add_argument("--quiet", action="store_true", help="only the report")
    add_export_arguments(s)
