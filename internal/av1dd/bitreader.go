package av1dd

// bitReader reads the descriptor's fields most significant bit first
// (A.4.1 f(n)). Reading past the end gives zeros and sets short, which
// the parser checks once a loop or a section ends.
type bitReader struct {
	b     []byte
	pos   int // in bits
	short bool
}

// f reads an n-bit unsigned number, n <= 32.
func (r *bitReader) f(n int) uint32 {
	var x uint32
	for range n {
		x <<= 1
		if r.pos>>3 >= len(r.b) {
			r.short = true
			r.pos++
			continue
		}
		x |= uint32(r.b[r.pos>>3]>>(7-r.pos&7)) & 1
		r.pos++
	}
	return x
}

// flag reads one bit.
func (r *bitReader) flag() bool { return r.f(1) == 1 }

// ns reads a non-symmetric unsigned number in 0..n-1 (A.4.1 ns(n)).
func (r *bitReader) ns(n uint32) uint32 {
	w := 0
	for x := n; x != 0; x >>= 1 {
		w++
	}
	m := uint32(1)<<w - n
	v := r.f(w - 1)
	if v < m {
		return v
	}
	return v<<1 - m + r.f(1)
}
