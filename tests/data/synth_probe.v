// A probe design with known resource needs: one 8x8 multiply (a DSP where the device has one),
// a 256x16 ROM with contents (block RAM), and a counter (carries and flip-flops).
module hwgen_top (
    input  wire        clk,
    input  wire        rst,
    input  wire        i__valid,
    output wire        i__ready,
    input  wire [16:0] i__payload,
    output reg         o__valid,
    input  wire        o__ready,
    output reg  [16:0] o__payload
);
    reg [15:0] rom [0:255];
    reg [7:0]  addr;
    reg [15:0] word;
    integer k;
    initial for (k = 0; k < 256; k = k + 1) rom[k] = (k * 40503) & 16'hffff;
    assign i__ready = !o__valid || o__ready;
    always @(posedge clk) begin
        word <= rom[addr];
        if (rst) begin
            o__valid <= 1'b0;
            addr     <= 8'd0;
        end else if (i__valid && i__ready) begin
            o__valid   <= 1'b1;
            o__payload <= {i__payload[16], i__payload[15:8] * i__payload[7:0] + word};
            addr       <= addr + 8'd1;
        end else if (o__ready) begin
            o__valid <= 1'b0;
        end
    end
endmodule
