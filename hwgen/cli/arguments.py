"""The arguments of `hwgen export` and `hwgen build` (argparse only).

Kept apart from the commands' work so that building the command line's parser (`hwgen --help`,
`hwgen --version`) imports neither torch nor the generator.
"""

from __future__ import annotations

from ..spec.activation import DEFAULT_TABLE_BITS  # the spec's default table depth (numpy only)


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
    s.add_argument("--output", choices=("logits", "hidden", "argmax"),
                   help="what the output stream carries (default: logits, or hidden without an output layer)")
    s.add_argument("--multipliers", default="auto",
                   help="gate-product multipliers; 0 forms the products on a serial shift-add unit; auto: 0 "
                        "where the datapath leaves the time, else 1 (default)")
    s.add_argument("--weights", choices=("auto", "rom", "spram"), default="auto",
                   help="where the layers' weight codes live: rom (block RAM, in the bitstream) or "
                        "spram (UltraPlus SPRAM, sent through the design's load port after each reset); "
                        "auto: rom, or spram when the codes do not fit block RAM (default)")
    s.add_argument("--pnr", action="store_true", help="place and route: Fmax, packed utilisation, steps per second")
    s.add_argument("--freq", type=float, default=48.0, metavar="MHZ", help="place-and-route clock goal (default 48)")
    s.add_argument("--bitstream", action="store_true", help="a bitstream of the design behind a UART bridge")
    s.add_argument("--board", help="board for --bitstream (icebreaker)")
    s.add_argument("--check", action="store_true", help="simulate the built Verilog against the golden model")
    s.add_argument("--sim", choices=("icarus", "verilator"), default="icarus", help="simulator for --check")
    s.add_argument("--seed", type=int, default=0, help="seed of the test vectors (default 0)")
    s.add_argument("--quiet", action="store_true", help="only the report")
    add_export_arguments(s)
