"""The FPGA tools and devices: targets and their resources, what fits before synthesis, the
yowasp yosys/nextpnr/icepack drivers (:mod:`.tools` runs them, :mod:`.synth`, :mod:`.pnr`,
:mod:`.bitstream` use them), and the boards with their UART bridge gateware."""
