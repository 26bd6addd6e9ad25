//go:build amd64 && !race

#include "textflag.h"

// func copyNT(dst, src *byte, n uintptr)
//
// Copies n bytes, any alignment, every store non-temporal except the
// bytes before dst's first 8-byte boundary and after its last one (MOVB,
// only when dst or n is not a multiple of 8). Until 2026-12-03 the head up
// to a 16-byte boundary and the tail after the last 64-byte block were
// ordinary copies, so every copy that did not start 16-byte aligned and end
// on a 64-byte multiple wrote lines with both kinds of store: 1 KiB at 8
// bytes past a boundary 2.3-2.4 GB/s, 1000-byte copies 2.7-2.8 GB/s,
// against 9.8-10.8 GB/s now (BenchmarkCopy1KiBStreamingOff8,
// BenchmarkCopy1000Streaming); an ordinary copy does 7.5. Now:
//
// Bytes one at a time until dst is 8-byte aligned, then a loop that stores
// a 64-byte block (MOVOU loads, MOVNTO = MOVNTDQ stores) while dst is
// 16-byte aligned and 64 bytes are left, else 16 bytes (MOVNTO), else 8
// (MOVNTIQ), and the last 0-7 bytes one at a time.
TEXT ·copyNT(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
head1:
	TESTQ CX, CX
	JE    done
	TESTQ $7, DI
	JE    loop
	MOVB  (SI), AX
	MOVB  AX, (DI)
	INCQ  SI
	INCQ  DI
	DECQ  CX
	JMP   head1
loop:
	CMPQ  CX, $8
	JB    tail1
	TESTQ $15, DI
	JNE   one8
	CMPQ  CX, $16
	JB    one8
	CMPQ  CX, $64
	JB    one16
	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	MOVNTO X0, 0(DI)
	MOVNTO X1, 16(DI)
	MOVNTO X2, 32(DI)
	MOVNTO X3, 48(DI)
	ADDQ  $64, SI
	ADDQ  $64, DI
	SUBQ  $64, CX
	JMP   loop
one16:
	MOVOU (SI), X0
	MOVNTO X0, (DI)
	ADDQ  $16, SI
	ADDQ  $16, DI
	SUBQ  $16, CX
	JMP   loop
one8:
	MOVQ  (SI), AX
	MOVNTIQ AX, (DI)
	ADDQ  $8, SI
	ADDQ  $8, DI
	SUBQ  $8, CX
	JMP   loop
tail1:
	TESTQ CX, CX
	JE    done
	MOVB  (SI), AX
	MOVB  AX, (DI)
	INCQ  SI
	INCQ  DI
	DECQ  CX
	JMP   tail1
done:
	RET

// func fence()
TEXT ·fence(SB), NOSPLIT, $0-0
	SFENCE
	RET
