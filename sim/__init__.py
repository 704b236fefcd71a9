"""cocotb benches and their runner for hwgen's generated Verilog (issue: sim/ regression)."""
