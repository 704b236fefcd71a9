// Place-and-route harness for a generated hwgen design (module hwgen_top).
//
// The design's stream payloads are wide; an FPGA package has a few dozen pins, and timing measured
// through unregistered pins is misleading. This harness gives the design registered, byte-wide
// ports: input bytes are shifted in, output bytes are selected one at a time from the design's
// own (held) output payload, so every path nextpnr times starts and ends at a flip-flop and the
// harness adds little beside the design (no copy of a wide output). It is for Fmax and
// utilisation, not for use on a board (the board wrapper is for that).
`default_nettype none

module hwgen_pnr_harness #(
    parameter integer IN_W  = 9,   // input payload width
    parameter integer OUT_W = 9    // output payload width
) (
    input  wire       clk,
    input  wire       rst,
    input  wire [7:0] din,
    input  wire       din_shift,   // shift din into the input payload register (low byte last)
    input  wire       din_commit,  // offer the assembled payload to the design
    input  wire       din_load,    // offer the last two bytes shifted in as a weights word
                                   // (designs with a load port: read with -DHWGEN_LOADED)
    input  wire       dout_shift,  // select the output payload's next byte
    input  wire       dout_done,   // take the output beat (the design offers the next one)
    output reg  [7:0] dout,
    output reg        in_busy,
    output reg        out_full
);
    localparam integer IN_BYTES  = (IN_W + 7) / 8;
    localparam integer OUT_BYTES = (OUT_W + 7) / 8;
    localparam integer GROUPS    = (OUT_BYTES + 7) / 8;  // the output in groups of 8 bytes

    reg  [7:0]             din_r;
    reg                    din_shift_r, din_commit_r, din_load_r, dout_shift_r, dout_done_r;
    reg                    load_valid;
    wire                   load_ready;
    /* verilator lint_off UNUSEDSIGNAL */
    reg  [IN_BYTES*8+7:0]  in_sr;     // one spare byte keeps the shift well-formed for any width
    /* verilator lint_on UNUSEDSIGNAL */
    reg  [15:0]            out_idx;   // the output byte on dout (two cycles later)
    reg  [63:0]            out_group; // the group holding it: the byte select in two short steps
    reg  [2:0]             out_sub;
    reg                    in_valid;
    wire                   in_ready;
    wire                   out_valid;
    wire [OUT_W-1:0]       out_payload;
    /* verilator lint_off WIDTHEXPAND */
    wire [GROUPS*64-1:0]   out_bytes = out_payload;
    /* verilator lint_on WIDTHEXPAND */

    always @(posedge clk) begin
        din_r        <= din;
        din_shift_r  <= din_shift;
        din_commit_r <= din_commit;
        din_load_r   <= din_load;
        dout_shift_r <= dout_shift;
        dout_done_r  <= dout_done;
        if (din_shift_r)
            in_sr <= {in_sr[IN_BYTES*8-1:0], din_r};
        if (rst) begin
            in_valid   <= 1'b0;
            load_valid <= 1'b0;
            out_idx    <= 0;
        end else begin
            if (din_load_r)
                load_valid <= 1'b1;
            else if (load_ready)
                load_valid <= 1'b0;
            if (din_commit_r)
                in_valid <= 1'b1;
            else if (in_ready)
                in_valid <= 1'b0;
            if (dout_done_r)
                out_idx <= 0;
            else if (dout_shift_r)
                out_idx <= out_idx + 1'b1;
        end
        out_group <= out_bytes[out_idx[15:3]*64 +: 64];
        out_sub   <= out_idx[2:0];
        dout      <= out_group[out_sub*8 +: 8];
        out_full <= out_valid;
        in_busy  <= in_valid;
    end

    hwgen_top dut (
        .clk        (clk),
        .rst        (rst),
        .i__valid   (in_valid),
        .i__ready   (in_ready),
        .i__payload (in_sr[IN_W-1:0]),
        .o__valid   (out_valid),
        .o__ready   (dout_done_r),
        .o__payload (out_payload)
`ifdef HWGEN_LOADED
        ,
        .load__valid   (load_valid),
        .load__ready   (load_ready),
        .load__payload (in_sr[15:0])
`endif
    );
`ifndef HWGEN_LOADED
    assign load_ready = 1'b0;
`endif
endmodule

`default_nettype wire
