//go:build amd64

#include "textflag.h"

// func prefetchPairs(p *byte, n, stride uintptr)
// For i = 0, stride, 2*stride, ... below n: PREFETCHT0 of p+i, and of
// p+i+64 when that is below n too. stride > 0.
TEXT ·prefetchPairs(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ stride+16(FP), DX
	XORQ AX, AX
loop:
	CMPQ AX, CX
	JAE  done
	PREFETCHT0 (SI)(AX*1)
	LEAQ 64(AX), BX
	CMPQ BX, CX
	JAE  next
	PREFETCHT0 (SI)(BX*1)
next:
	ADDQ DX, AX
	JMP  loop
done:
	RET
