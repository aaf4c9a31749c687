package jpeg

import (
	"bytes"
	"testing"
)

// addSeeds adds generated seeds to the checked-in corpus in testdata/fuzz.
func addSeeds(f *testing.F) {
	img := makeJPEG(f, 16, 8, false)
	f.Add(img)
	f.Add(stripDHT(f, img))
	f.Add(append(clone(img), 0, 0, 0, 0))
	f.Add(img[:len(img)/2])
	f.Add(makeJPEG(f, 9, 9, true))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xD9})
}

// checkInspected asserts what a successful Inspect promises about b.
func checkInspected(t *testing.T, b []byte, info Info, n int) {
	t.Helper()
	if n < 4 || n > len(b) {
		t.Fatalf("length %d out of range (input %d bytes)", n, len(b))
	}
	if b[0] != 0xFF || b[1] != markerSOI || b[n-2] != 0xFF || b[n-1] != markerEOI {
		t.Fatalf("b[:n] does not run from SOI to EOI")
	}
	for i, c := range b[n:] {
		if c != 0 {
			t.Fatalf("non-zero byte %#02x at %d after EOI", c, n+i)
		}
	}
	if info.Width < 1 || info.Height < 1 || info.Width > 0xFFFF || info.Height > 0xFFFF {
		t.Fatalf("size %dx%d", info.Width, info.Height)
	}
	if info.Components != 1 && info.Components != 3 && info.Components != 4 {
		t.Fatalf("%d components", info.Components)
	}
	// The padding is ignored: the image alone inspects the same.
	info2, n2, err := Inspect(b[:n])
	if err != nil || info2 != info || n2 != n {
		t.Fatalf("b[:n] inspects as %+v, %d, %v; b as %+v, %d", info2, n2, err, info, n)
	}
}

func FuzzInspect(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		before := clone(b)
		info, n, err := Inspect(b)
		if !bytes.Equal(before, b) {
			t.Fatal("Inspect modified its input")
		}
		if err != nil {
			if info != (Info{}) || n != 0 {
				t.Fatalf("error %v with %+v, %d", err, info, n)
			}
			return
		}
		checkInspected(t, b, info, n)
	})
}

func FuzzWithHuffman(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		before := clone(b)
		out, err := WithHuffman(b)
		if !bytes.Equal(before, b) {
			t.Fatal("WithHuffman modified its input")
		}
		inInfo, inN, inErr := Inspect(b)
		if err != nil {
			if out != nil {
				t.Fatalf("error %v with %d bytes", err, len(out))
			}
			if inErr == nil {
				t.Fatalf("WithHuffman failed (%v) where Inspect succeeds", err)
			}
			return
		}
		if inErr != nil {
			t.Fatalf("WithHuffman succeeded where Inspect fails: %v", inErr)
		}
		info, n, err := Inspect(out)
		if err != nil {
			t.Fatalf("result does not inspect: %v", err)
		}
		checkInspected(t, out, info, n)
		if !info.HasHuffman {
			t.Fatal("result has no Huffman tables")
		}
		if info.Width != inInfo.Width || info.Height != inInfo.Height || info.Components != inInfo.Components || info.Progressive != inInfo.Progressive {
			t.Fatalf("result %+v, input %+v", info, inInfo)
		}
		if inInfo.HasHuffman {
			if len(out) != len(b) || &out[0] != &b[0] {
				t.Fatal("input with tables not returned unchanged")
			}
			return
		}
		// Exactly the standard segment was inserted, nothing else changed.
		if n != inN+len(standardDHT) || !bytes.Contains(out, standardDHT) {
			t.Fatalf("result %d bytes, input %d", n, inN)
		}
		app, err := AppendWithHuffman([]byte("x"), b)
		if err != nil || !bytes.Equal(app[1:], out) {
			t.Fatalf("AppendWithHuffman differs from WithHuffman: %v", err)
		}
	})
}
