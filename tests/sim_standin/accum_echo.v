// Stand-in for a generated hwgen design: the same ports and stream rules
// (docs/hardware-interface.md), with a trivial function so that the cocotb bench can be
// proven without the generator.
//
// Input payload {data[W-1:0], first} (data in bits [W-1:0], first in bit W). For each input
// beat: acc = (first ? 0 : acc) + data (W-bit signed, wrapping); the output beat is {acc, first}.
// A step takes BUSY extra cycles (like a folded datapath); results wait in a 2-entry output
// FIFO, so with BUSY = 0 and o__ready high one beat moves per cycle. i__ready depends only on
// state. BUG != 0 flips bit 0 of the output of the BUG-th input beat after reset (counting
// from 1): a deliberately broken design.
`default_nettype none
module accum_echo #(
    parameter integer W = 8,
    parameter integer BUSY = 0,
    parameter integer BUG = 0
) (
    input  wire         clk,
    input  wire         rst,
    input  wire         i__valid,
    output wire         i__ready,
    input  wire [W:0]   i__payload,
    output wire         o__valid,
    input  wire         o__ready,
    output wire [W:0]   o__payload
);
    reg signed [W-1:0] acc;
    reg [15:0]  busy;
    reg [W:0]   pend;       // result being "computed" during the busy cycles
    reg         pend_valid;
    reg [W:0]   fifo0, fifo1;
    reg [1:0]   count;

    wire push = pend_valid && busy == 0 && count != 2;
    wire pop  = o__valid && o__ready;
    // The pending slot is free after this edge (empty, or pushed now): state only.
    assign i__ready   = !pend_valid || push;
    assign o__valid   = count != 0;
    assign o__payload = fifo0;

    wire [W-1:0] data  = i__payload[W-1:0];
    wire         first = i__payload[W];
    wire [W-1:0] sum   = (first ? {W{1'b0}} : acc) + data;
    reg  [31:0]  taken;
    wire [W-1:0] shown = (BUG != 0 && taken + 1 == BUG) ? (sum ^ 1) : sum;

    always @(posedge clk) begin
        if (rst) begin
            acc <= 0; busy <= 0; taken <= 0; pend <= 0; pend_valid <= 0; count <= 0;
            fifo0 <= 0; fifo1 <= 0;
        end else begin
            if (push) pend_valid <= 0;
            if (busy != 0) busy <= busy - 1;
            if (i__valid && i__ready) begin
                acc <= sum;
                taken <= taken + 1;
                pend <= {first, shown};
                pend_valid <= 1;
                busy <= BUSY;
            end
            case ({push, pop})
                2'b10: begin
                    if (count == 0) fifo0 <= pend; else fifo1 <= pend;
                    count <= count + 1;
                end
                2'b01: begin fifo0 <= fifo1; count <= count - 1; end
                2'b11: if (count == 1) fifo0 <= pend; else begin fifo0 <= fifo1; fifo1 <= pend; end
                default: ;
            endcase
        end
    end
endmodule
