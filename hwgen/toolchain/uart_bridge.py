"""A UART bridge that puts a generated design on a board (8N1, no flow control).

Protocol (docs/board.md): for each time step the host sends the input payload
(:func:`hwgen.generator.interface.input_format`) as ``ceil(width / 8)`` bytes, least significant
byte first; the board answers with the output payload as ``ceil(width / 8)`` bytes, least
significant first. One step may be in flight while the next one's bytes arrive; a host that sends
further ahead overruns the bridge, which then lights ``overrun`` until reset.

A design whose weight codes live in SPRAM (``weights="spram"``) first takes its weights image:
after reset the first ``2 * len(load_words)`` bytes are the image's 16-bit words, least
significant byte first (vectors/load.hex, in order); the steps follow.
"""


from amaranth.hdl import Cat, ClockDomain, ClockSignal, Const, Instance, Module, Mux, ResetSignal, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def payload_bytes(width: int) -> int:
    return (width + 7) // 8


def _check_divisor(divisor) -> int:
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 4:
        raise ValueError(f"UART divisor (clock cycles per bit) must be an integer of at least 4, not {divisor!r}")
    return divisor


class UartRx(wiring.Component):
    """Receives 8N1 bytes on ``rx``; ``valid`` pulses for one cycle with ``data``. A frame whose
    start bit is a glitch or whose stop bit is low is dropped."""

    rx: In(1, init=1)
    data: Out(8)
    valid: Out(1)

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        sync_rx = Signal(2, init=0b11)
        m.d.sync += sync_rx.eq(sync_rx << 1 | self.rx)
        line = sync_rx[1]
        timer = Signal(range(self.divisor))
        bit = Signal(range(9))
        shift = Signal(8)
        m.d.sync += self.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):  # wait to the middle of the start bit and check it
                with m.If((timer == 0) & line):
                    m.next = "IDLE"  # a glitch, not a start bit
                with m.Elif(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                    m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(bit + 1), shift.eq(line << 7 | shift >> 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    m.d.sync += [self.data.eq(shift), self.valid.eq(line)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        return m


class UartTx(wiring.Component):
    """Sends ``data`` as an 8N1 frame on ``tx`` when ``valid`` and ``ready`` are both high."""

    data: In(8)
    valid: In(1)
    ready: Out(1)
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        frame = Signal(10)  # stop, data[7:0], start: shifted out from bit 0
        left = Signal(range(11))
        m.d.comb += self.ready.eq(left == 0)
        with m.If(left == 0):
            with m.If(self.valid):
                m.d.sync += [frame.eq(1 << 9 | self.data << 1), left.eq(10), timer.eq(0)]
        with m.Elif(timer == 0):
            m.d.sync += [self.tx.eq(frame[0]), frame.eq(frame >> 1), timer.eq(self.divisor - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 1):
                m.d.sync += left.eq(left - 1)
        return m


class UartBridge(wiring.Component):
    """``design`` (a component with ``i``/``o`` streams, docs/hardware-interface.md) behind a UART."""

    rx: In(1, init=1)
    tx: Out(1, init=1)
    overrun: Out(1)

    def __init__(self, design: wiring.Component, divisor: int):
        self.design = design
        self.divisor = _check_divisor(divisor)
        self.load_words = design.plan.load_words if "load" in design.signature.members else 0
        self.in_width = len(Value.cast(design.i.payload))
        self.out_width = len(Value.cast(design.o.payload))
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.design = design = self.design
        m.submodules.rx = rx = UartRx(self.divisor)
        m.submodules.tx = tx = UartTx(self.divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        steps = rx.valid
        if self.load_words:
            steps = self._load(m, rx, design)
        self._receive(m, rx, steps, design)
        self._send(m, tx, design)
        return m

    def _load(self, m: Module, rx: UartRx, design) -> Value:
        """Bytes to the design's ``load`` port until the whole image is in; returns the byte
        strobe for the steps, which starts after that."""
        left = Signal(range(self.load_words + 1), init=self.load_words)
        high = Signal()  # the next byte is a word's high byte
        low_byte = Signal(8)
        with m.If(design.load.valid & design.load.ready):
            m.d.sync += design.load.valid.eq(0)
        with m.If(rx.valid & (left != 0)):
            m.d.sync += high.eq(~high)
            with m.If(high):
                m.d.sync += [design.load.payload.eq(Cat(low_byte, rx.data)), design.load.valid.eq(1),
                             left.eq(left - 1)]
            with m.Else():
                m.d.sync += low_byte.eq(rx.data)
        return rx.valid & (left == 0)

    def _receive(self, m: Module, rx: UartRx, strobe: Value, design) -> None:
        n = payload_bytes(self.in_width)
        assembled = Signal(8 * n)  # bytes shift in from the top: the first one ends lowest
        count = Signal(range(n + 1))
        take = Signal()  # hand the assembled payload over (the previous beat is gone or going)
        m.d.comb += take.eq((count == n) & (~design.i.valid | design.i.ready))
        with m.If(design.i.valid & design.i.ready):
            m.d.sync += design.i.valid.eq(0)
        with m.If(take):
            m.d.sync += [Value.cast(design.i.payload).eq(assembled), design.i.valid.eq(1)]
        with m.If(strobe & (count == n) & ~take):
            m.d.sync += self.overrun.eq(1)  # a third step arrived while two were waiting: dropped
        with m.Elif(strobe):
            m.d.sync += [assembled.eq(rx.data << (8 * (n - 1)) | assembled >> 8),
                         count.eq(Mux(take, 1, count + 1))]
        with m.Elif(take):
            m.d.sync += count.eq(0)

    def _send(self, m: Module, tx: UartTx, design) -> None:
        n = payload_bytes(self.out_width)
        shift = Signal(8 * n)
        left = Signal(range(n + 1))
        m.d.comb += [design.o.ready.eq(left == 0), tx.data.eq(shift[:8]), tx.valid.eq(left != 0)]
        with m.If(design.o.valid & (left == 0)):
            m.d.sync += [shift.eq(Value.cast(design.o.payload)), left.eq(n)]
        with m.Elif(tx.valid & tx.ready):
            m.d.sync += [shift.eq(shift >> 8), left.eq(left - 1)]


def power_on_reset(m: Module, clock: Value, locked: Value) -> None:
    """Domains ``sync`` and ``por`` (never reset) on ``clock``, ``sync`` held in reset until
    ``locked`` (in ``por``'s time) has been high for 15 cycles: a board has no reset button the
    design could rely on, and a PLL's clock is not steady before it locks."""
    m.domains.por = ClockDomain(reset_less=True)
    m.domains.sync = ClockDomain()
    ticks = Signal(4)
    m.d.comb += [ClockSignal("por").eq(clock), ClockSignal("sync").eq(clock), ResetSignal("sync").eq(ticks != 15)]
    with m.If(~locked):
        m.d.por += ticks.eq(0)
    with m.Elif(ticks != 15):
        m.d.por += ticks.eq(ticks + 1)


class BoardTop(wiring.Component):
    """The bridge on a board: one clock pin, UART pins, an overrun LED and a power-on reset, so
    the Verilog's ports are exactly the board's pins. With ``pll`` (a
    :class:`hwgen.toolchain.pll.Ice40Pll` or :class:`~hwgen.toolchain.pll.Ecp5Pll`) the clock pin
    feeds the FPGA's PLL (SB_PLL40_PAD, EHXPLLL) and everything runs on its output, held in reset until the PLL has locked; without it, on the
    pin's own clock (as simulations of the board top run it: the PLL bypassed). ``led``: the LED
    port's name, ``led_n`` for a LED lit by a low level (the iCEBreaker's), ``led`` for one lit
    by a high level (the ULX3S's)."""

    def __init__(self, design: wiring.Component, divisor: int, pll=None, led: str = "led_n"):
        if led not in ("led", "led_n"):
            raise ValueError(f"led must be 'led' (lit high) or 'led_n' (lit low), not {led!r}")
        self.bridge = UartBridge(design, divisor)
        self.pll, self.led_port = pll, led
        super().__init__({"clk": In(1), "rx": In(1, init=1), "tx": Out(1, init=1),
                          led: Out(1, init=int(led == "led_n"))})

    def elaborate(self, platform):
        m = Module()
        power_on_reset(m, *self._clock(m))
        m.submodules.bridge = bridge = self.bridge
        lit = bridge.overrun if self.led_port == "led" else ~bridge.overrun
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx), getattr(self, self.led_port).eq(lit)]
        return m

    def _clock(self, m: Module) -> tuple[Value, Value]:
        """The clock everything runs on and whether it is steady yet (the PLL's lock, brought
        into that clock through two flip-flops)."""
        if self.pll is None:
            return self.clk, Const(1)
        clock, lock = Signal(), Signal()
        m.submodules.pll = Instance(self.pll.primitive, **self.pll.parameters(),
                                    **self.pll.ports(self.clk, clock, lock))
        synced = Signal(2)
        m.d.por += synced.eq(Cat(lock, synced[0]))
        return clock, synced[1]
